"""Top-5 probability bars for one track: protected classes green, the decoy orange."""

from __future__ import annotations

from PyQt6.QtCore import QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent
from PyQt6.QtWidgets import QSizePolicy, QWidget

from chickensaviour.models import Prediction

PROTECTED = QColor(70, 180, 90)
TARGET = QColor(235, 140, 40)
OTHER = QColor(90, 130, 190)
TEXT = QColor(230, 230, 230)
MUTED = QColor(150, 150, 150)
BACKGROUND = QColor(34, 34, 40)
TRACK = QColor(52, 52, 60)


class ProbabilityBars(QWidget):
    """Draws a :class:`Prediction`'s classes as labelled horizontal bars.

    ``set_prediction(None, ...)`` shows ``empty_text`` instead (no track selected);
    ``set_point_size`` enlarges the text and rows (presentation mode).
    """

    rows = 5

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.empty_text = ("no protected region in view: add a class you can see (e.g. cat)\n"
                           "or drag a box on the left pane")
        self._prediction: Prediction | None = None
        self._protected: frozenset[int] = frozenset()
        self._target: int | None = None
        self.base_point_size = max(9.0, self.font().pointSizeF())
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.set_point_size(None)

    def set_point_size(self, points: float | None) -> None:
        """Draw the text at ``points`` (``None``: the normal size); the rows follow."""
        font = self.font()
        font.setPointSizeF(points or self.base_point_size)
        self.setFont(font)
        self.setFixedHeight(self._row_height() * (self.rows + 1) + 12)
        self.update()

    def set_prediction(self, prediction: Prediction | None, *, protected: tuple[int, ...],
                       target: int, title: str | None = None) -> None:
        self._prediction = prediction
        self._protected = frozenset(protected)
        self._target = target
        if title is not None:
            self.title = title
        self.update()

    @property
    def prediction(self) -> Prediction | None:
        return self._prediction

    def _row_height(self) -> int:
        return QFontMetrics(self.font()).height() + 6

    def sizeHint(self) -> QSize:
        return QSize(420, self.height())

    def colour_for(self, index: int) -> QColor:
        if index in self._protected:
            return PROTECTED
        if index == self._target:
            return TARGET
        return OTHER

    def paintEvent(self, event: QPaintEvent | None) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), BACKGROUND)
        metrics = QFontMetrics(self.font())
        row = self._row_height()
        pad = 8
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(TEXT)
        painter.drawText(QRectF(pad, 4, self.width() - 2 * pad, row),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, self.title)
        painter.setFont(self.font())
        if self._prediction is None:
            painter.setPen(MUTED)
            painter.drawText(QRectF(pad, 4 + row, self.width() - 2 * pad,
                                    self.height() - row - 8),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
                             | Qt.TextFlag.TextWordWrap, self.empty_text)
            painter.end()
            return
        scale = self.font().pointSizeF() / self.base_point_size  # > 1 when presenting
        label_width = min(round(170 * scale), max(90, int(self.width() * 0.38)))
        value_width = metrics.horizontalAdvance("100.0%") + 6
        bar_left = pad + label_width + 6
        bar_width = max(10, self.width() - bar_left - value_width - pad)
        items = zip(self._prediction.indices, self._prediction.names,
                    self._prediction.probabilities, strict=True)
        for i, (index, name, probability) in enumerate(list(items)[: self.rows]):
            top = 4 + row * (i + 1)
            label = metrics.elidedText(name, Qt.TextElideMode.ElideRight, label_width)
            painter.setPen(TEXT)
            painter.drawText(QRectF(pad, top, label_width, row),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, label)
            track = QRectF(bar_left, top + 3, bar_width, row - 6)
            painter.fillRect(track, TRACK)
            filled = QRectF(track.left(), track.top(), bar_width * min(1.0, probability),
                            track.height())
            painter.fillRect(filled, self.colour_for(index))
            painter.drawText(QRectF(bar_left + bar_width + 4, top, value_width, row),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             f"{probability * 100:.1f}%")
        painter.end()
