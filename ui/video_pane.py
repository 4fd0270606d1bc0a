"""A widget that shows BGR frames scaled to fit, highlights a box and lets the user draw
one; and a one-line label that elides, for the titles above the panes."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
)
from PyQt6.QtWidgets import QLabel, QSizePolicy, QWidget

from chickensaviour.errors import ChickenSaviourError

Box = tuple[float, float, float, float]

#: Drags shorter than this (widget pixels) count as clicks.
MIN_DRAG = 6.0


def bgr_to_qimage(frame: np.ndarray) -> QImage:
    """A deep-copied ``QImage`` of a BGR ``uint8`` frame ``(H, W, 3)``."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ChickenSaviourError(
            f"expected a BGR uint8 frame (H, W, 3), got {frame.shape} {frame.dtype}")
    frame = np.ascontiguousarray(frame)
    height, width = frame.shape[:2]
    image = QImage(frame.data, width, height, frame.strides[0], QImage.Format.Format_BGR888)
    return image.copy()  # the numpy buffer may go away; the QImage must not point at it


def box_under(boxes: list[Box], x: float, y: float) -> int | None:
    """Index of the smallest box containing ``(x, y)`` (the one a click means), or None."""
    hits = [i for i, (x1, y1, x2, y2) in enumerate(boxes) if x1 <= x <= x2 and y1 <= y <= y2]
    if not hits:
        return None
    return min(hits, key=lambda i: (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1]))


class ElidedLabel(QLabel):
    """One line of text that elides what does not fit, the full text in its tooltip.

    Its width never counts in the layout, so a long pane title (hide mode's, say) cannot
    make its pane wider than the other one; ``text()`` is the full text.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def setText(self, text: str | None) -> None:
        self._full = text or ""
        self.setToolTip(self._full)
        self._elide()

    def text(self) -> str:
        return self._full

    def sizeHint(self) -> QSize:
        margins = self.contentsMargins()
        return QSize(0, self.fontMetrics().height() + 2 * self.margin()
                     + margins.top() + margins.bottom())

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        self._elide()

    def changeEvent(self, event: QEvent | None) -> None:
        super().changeEvent(event)
        if event is not None and event.type() == QEvent.Type.FontChange:
            self.updateGeometry()
            self._elide()

    def _elide(self) -> None:
        width = max(0, self.contentsRect().width() - 2 * self.margin())
        super().setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight,
                                                      width))


class VideoPane(QWidget):
    """Shows frames, keeping their aspect ratio, on a dark background.

    Signals carry frame-pixel coordinates: ``clicked(x, y)`` for a click and, when
    ``drawable``, ``boxDrawn((x1, y1, x2, y2))`` for a rectangle dragged with the mouse.
    """

    clicked = pyqtSignal(float, float)
    boxDrawn = pyqtSignal(tuple)

    def __init__(self, *, drawable: bool = False, placeholder: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.drawable = drawable
        self.placeholder = placeholder
        self._image: QImage | None = None
        self._highlight: Box | None = None
        self._drag_start: QPointF | None = None
        self._drag_end: QPointF | None = None
        self.setMinimumSize(160, 120)  # two panes and the controls fit an 800 px screen
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        if drawable:
            self.setCursor(Qt.CursorShape.CrossCursor)
            self.setToolTip("Drag a box to protect a region by hand; click a box to select it")
        else:
            self.setToolTip("Click a box to select its track")

    # -- content ----------------------------------------------------------------------
    def set_frame(self, frame: np.ndarray) -> None:
        self._image = bgr_to_qimage(frame)
        self.update()

    def set_highlight(self, box: Box | None) -> None:
        self._highlight = box
        self.update()

    @property
    def frame_size(self) -> tuple[int, int] | None:
        return None if self._image is None else (self._image.width(), self._image.height())

    def sizeHint(self) -> QSize:
        return QSize(480, 360)

    # -- geometry ---------------------------------------------------------------------
    def image_rect(self) -> QRectF:
        """Where the frame is drawn inside the widget (aspect kept, centred)."""
        if self._image is None:
            return QRectF(self.rect())
        scale = min(self.width() / self._image.width(), self.height() / self._image.height())
        width, height = self._image.width() * scale, self._image.height() * scale
        return QRectF((self.width() - width) / 2, (self.height() - height) / 2, width, height)

    def to_frame(self, point: QPointF) -> tuple[float, float]:
        rect = self.image_rect()
        if self._image is None or rect.width() <= 0:
            return (0.0, 0.0)
        x = (point.x() - rect.left()) * self._image.width() / rect.width()
        y = (point.y() - rect.top()) * self._image.height() / rect.height()
        return (min(max(x, 0.0), float(self._image.width())),
                min(max(y, 0.0), float(self._image.height())))

    def to_widget(self, box: Box) -> QRectF:
        rect = self.image_rect()
        if self._image is None:
            return QRectF()
        sx, sy = rect.width() / self._image.width(), rect.height() / self._image.height()
        x1, y1, x2, y2 = box
        return QRectF(rect.left() + x1 * sx, rect.top() + y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy)

    # -- painting ---------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent | None) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 24, 28))
        if self._image is None:
            painter.setPen(QColor(170, 170, 170))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self.image_rect(), self._image)
        if self._highlight is not None:
            self._paint_brackets(painter, self.to_widget(self._highlight).adjusted(-4, -4, 4, 4))
        if self._drag_start is not None and self._drag_end is not None:
            painter.setPen(QPen(QColor(0, 200, 255), 2, Qt.PenStyle.DashLine))
            painter.drawRect(QRectF(self._drag_start, self._drag_end).normalized())
        painter.end()

    @staticmethod
    def _paint_brackets(painter: QPainter, rect: QRectF) -> None:
        """Corner brackets around the selected box; the top-left one stays below the box's
        label so that the label remains readable."""
        painter.setPen(QPen(QColor(255, 215, 0), 3))
        arm = max(8.0, min(22.0, rect.width() / 5, rect.height() / 5))
        left, top, right, bottom = rect.left(), rect.top(), rect.right(), rect.bottom()
        label_clear = min(rect.height() / 2, 26.0)
        lines = [
            (left, top + label_clear, left, top + label_clear + arm),
            (right - arm, top, right, top), (right, top, right, top + arm),
            (left, bottom - arm, left, bottom), (left, bottom, left + arm, bottom),
            (right - arm, bottom, right, bottom), (right, bottom - arm, right, bottom),
        ]
        for x1, y1, x2, y2 in lines:
            painter.drawLine(QPointF(x1, y1), QPointF(x2, y2))

    # -- mouse ------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is None or event.button() != Qt.MouseButton.LeftButton:
            return
        self._drag_start = self._drag_end = event.position()

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:
        if event is None or self._drag_start is None:
            return
        if self.drawable:
            self._drag_end = event.position()
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:
        if event is None or self._drag_start is None:
            return
        start, end = self._drag_start, event.position()
        self._drag_start = self._drag_end = None
        self.update()
        if self._image is None:
            return
        if self.drawable and (abs(end.x() - start.x()) >= MIN_DRAG
                              and abs(end.y() - start.y()) >= MIN_DRAG):
            (x1, y1), (x2, y2) = self.to_frame(start), self.to_frame(end)
            box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
            if box[2] - box[0] >= 4 and box[3] - box[1] >= 4:
                self.boxDrawn.emit(box)
            return
        self.clicked.emit(*self.to_frame(end))
