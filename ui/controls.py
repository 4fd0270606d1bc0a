"""The control panel: source, model, classes, mode, epsilon, ghost steps, patch size,
hide baseline, record format.

The panel holds no pipeline state of its own: every edit is emitted as a dict of
:class:`PipelineSettings` fields (``settingsEdited``) or as a request (``sourceRequested``,
``modelRequested``) for the main window to act on. A control is enabled only while the
current mode reads its field (``mode_class(mode).controls``).
"""

from __future__ import annotations

import logging

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from chickensaviour.errors import UnknownClassError
from chickensaviour.labels import LabelSet
from chickensaviour.live import DETECTORS, PipelineSettings, mode_class, mode_names
from chickensaviour.live.settings import BASELINES, MAX_GHOST_STEPS, Baseline
from ui.class_lookup import class_completer, classes_for
from ui.constants import BASELINE_HINT, BASELINE_NAMES, EPS_MAX, OPEN_CARD, SOURCE_HINT

logger = logging.getLogger(__name__)

class ControlPanel(QWidget):
    """Widgets that edit a :class:`PipelineSettings` snapshot and ask for sources and models."""

    settingsEdited = pyqtSignal(dict)
    sourceRequested = pyqtSignal(str)
    modelRequested = pyqtSignal(str)
    problem = pyqtSignal(str)

    def __init__(self, settings: PipelineSettings, classes: LabelSet, *,
                 source: str, model: str, models: list[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes = classes
        self._protected = list(settings.protected)
        self._target = settings.target
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self._source_box(source, model, models))
        layout.addWidget(self._classes_box())
        layout.addWidget(self._overlay_box(settings))
        layout.addWidget(self._output_box())
        layout.addWidget(self._legend_box())
        layout.addStretch(1)
        self._refresh_protected()

    # -- sections ---------------------------------------------------------------------
    def _source_box(self, source: str, model: str, models: list[str]) -> QGroupBox:
        box = QGroupBox("Source and hunter")
        form = QFormLayout(box)
        self.source_edit = QLineEdit(source)
        self.source_edit.setToolTip(SOURCE_HINT)
        self.source_edit.setPlaceholderText(SOURCE_HINT)
        self.source_edit.returnPressed.connect(self._request_source)
        form.addRow("Source", self.source_edit)
        row = QHBoxLayout()
        browse = QPushButton("File…")
        browse.clicked.connect(self._browse)
        camera = QPushButton("Camera 0")
        camera.clicked.connect(lambda: self._use_source("0"))
        screen = QPushButton("Screen")
        screen.setToolTip("The whole screen; type screen:X,Y,W,H for a region")
        screen.clicked.connect(lambda: self._use_source("screen"))
        open_button = QPushButton("Open")
        open_button.clicked.connect(self._request_source)
        for button in (browse, camera, screen, open_button):
            row.addWidget(button)
        form.addRow(row)
        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)  # a cached torchvision:NAME or a card path too
        self.model_combo.addItems(models)
        self.model_combo.insertSeparator(self.model_combo.count())
        self.model_combo.addItem(OPEN_CARD)
        self.model_combo.setToolTip("A zoo model, torchvision:NAME with cached weights, or "
                                    "your own model through a model card (.json)")
        self.model_combo.setCurrentText(model)
        self._model = model
        self.model_combo.activated.connect(lambda _: self._request_model())
        form.addRow("Model", self.model_combo)
        return box

    def _request_model(self) -> None:
        text = self.model_combo.currentText().strip()
        if text == OPEN_CARD:
            self.model_combo.setCurrentText(self._model)  # until the card has loaded
            path, _ = QFileDialog.getOpenFileName(self, "Open a model card", "",
                                                  "Model cards (*.json);;All files (*)")
            if not path:
                return
            text = path
        self.modelRequested.emit(text)

    def show_model(self, reference: str, classes: LabelSet,
                   settings: PipelineSettings) -> None:
        """Show the hunter in use (its reference, its classes) and ``settings`` made for
        it; no signals sent."""
        self._model = reference
        self._set_quietly(self.model_combo, reference)
        if classes != self.classes:
            self.classes = classes
            self.protect_edit.setCompleter(class_completer(classes, self))
            self.target_edit.setCompleter(class_completer(classes, self))
            self.protect_edit.setPlaceholderText(
                "add a class (e.g. hen, chicken)" if classes.is_imagenet
                else f"add a class (e.g. {classes.names[0]})")
        self.sync(settings)

    def _classes_box(self) -> QGroupBox:
        box = QGroupBox("Classes")
        layout = QVBoxLayout(box)
        layout.addWidget(QLabel("Protected (the hunter must not see):"))
        self.protected_list = QListWidget()
        self.protected_list.setMaximumHeight(96)
        self.protected_list.setToolTip("Double-click a class to remove it")
        self.protected_list.itemDoubleClicked.connect(self._remove_protected)
        layout.addWidget(self.protected_list)
        row = QHBoxLayout()
        self.protect_edit = QLineEdit()
        self.protect_edit.setPlaceholderText("add a class (e.g. hen, chicken)")
        self.protect_edit.setCompleter(class_completer(self.classes, self))
        self.protect_edit.returnPressed.connect(self._add_protected)
        add = QPushButton("Add")
        add.clicked.connect(self._add_protected)
        remove = QPushButton("Remove")
        remove.clicked.connect(lambda: self._remove_protected(self.protected_list.currentItem()))
        row.addWidget(self.protect_edit, 1)
        row.addWidget(add)
        row.addWidget(remove)
        layout.addLayout(row)
        target_row = QHBoxLayout()
        target_row.addWidget(QLabel("Decoy target:"))
        self.target_edit = QLineEdit(self.classes.names[self._target])
        self.target_edit.setCompleter(class_completer(self.classes, self))
        self.target_edit.setToolTip("The class blocks and ghosts push the hunter towards")
        self.target_edit.editingFinished.connect(self._set_target)
        target_row.addWidget(self.target_edit, 1)
        layout.addLayout(target_row)
        return box

    def _overlay_box(self, settings: PipelineSettings) -> QGroupBox:
        box = QGroupBox("Overlay")
        form = QFormLayout(box)
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(mode_names())
        self.mode_combo.setCurrentText(settings.mode)
        self.mode_combo.setToolTip("block: adversarial block pasted on each region; ghost: "
                                   "targeted FGSM on the region; hide: a patch that makes "
                                   "the detector miss the region; off: no change; "
                                   "printed: nothing pasted, to test a printed patch held "
                                   "up to the camera (top 5 of each region and the whole "
                                   "frame)")
        self.mode_combo.currentTextChanged.connect(self._mode_changed)
        form.addRow("Mode", self.mode_combo)
        self.detector_combo = QComboBox()
        self.detector_combo.addItems(DETECTORS)
        self.detector_combo.setCurrentText(settings.detector)
        self.detector_combo.setToolTip(
            "nanodet: COCO object detector (person, bird, cat, dog...); cam: the hunter's "
            "class activation maps, for classes COCO does not have")
        self.detector_combo.currentTextChanged.connect(self._detector_changed)
        form.addRow("Detector", self.detector_combo)
        self.eps_slider, self.eps_label = self._slider(0, EPS_MAX, round(settings.eps * 255))
        self.eps_slider.setToolTip("Ghost-mode budget, in 1/255 of the pixel range")
        self.eps_slider.valueChanged.connect(lambda v: self._slider_moved(eps=v / 255))
        eps_row = self._with_label(self.eps_slider, self.eps_label)
        form.addRow("Epsilon", eps_row)
        self.ghost_steps_spin = QSpinBox()
        self.ghost_steps_spin.setRange(1, MAX_GHOST_STEPS)
        self.ghost_steps_spin.setValue(settings.ghost_steps)
        self.ghost_steps_spin.setToolTip(
            "Ghost-mode attack steps per frame within the same budget, going on from the "
            "region's perturbation of the frame before (a new region starts with the "
            "seed's single FGSM step); more steps reach the decoy sooner but cost a pass each")
        self.ghost_steps_spin.valueChanged.connect(lambda v: self._edited(ghost_steps=v))
        form.addRow("Ghost steps", self.ghost_steps_spin)
        self.patch_slider, self.patch_label = self._slider(
            10, 100, round(settings.patch_fraction * 100))
        self.patch_slider.setToolTip("Block side as a share of the region's shorter side")
        self.patch_slider.valueChanged.connect(
            lambda v: self._slider_moved(patch_fraction=v / 100))
        patch_row = self._with_label(self.patch_slider, self.patch_label)
        form.addRow("Patch size", patch_row)
        self.hide_slider, self.hide_label = self._slider(
            10, 100, round(settings.hide_fraction * 100))
        self.hide_slider.setToolTip("Hide patch side as a share of the square root of the "
                                    "region's area (a big plain square hides by itself)")
        self.hide_slider.valueChanged.connect(
            lambda v: self._slider_moved(hide_fraction=v / 100))
        hide_row = self._with_label(self.hide_slider, self.hide_label)
        form.addRow("Hide patch", hide_row)
        self.baseline_combo = QComboBox()
        for baseline in BASELINES:
            self.baseline_combo.addItem(BASELINE_NAMES[baseline], baseline)
        self.baseline_combo.setCurrentIndex(self.baseline_combo.findData(settings.baseline))
        self.baseline_combo.setToolTip(BASELINE_HINT)
        self.baseline_combo.currentIndexChanged.connect(
            lambda i: self._edited(baseline=self.baseline_combo.itemData(i)))
        form.addRow("Hide shows", self.baseline_combo)
        # The control (with its value label) of each PipelineSettings field that only
        # some modes read; the others (classes, detector, mode) apply to every mode.
        self._mode_rows: dict[str, QWidget] = {
            "eps": eps_row, "ghost_steps": self.ghost_steps_spin,
            "patch_fraction": patch_row, "hide_fraction": hide_row,
            "baseline": self.baseline_combo}
        self._show_slider_values()
        self._enable_for(settings.mode)
        return box

    def _output_box(self) -> QGroupBox:
        box = QGroupBox("Recording")
        form = QFormLayout(box)
        self.format_combo = QComboBox()
        self.format_combo.addItems(["gif", "mp4"])
        self.format_combo.setToolTip("Format of the before|after recording (key r)")
        form.addRow("Record as", self.format_combo)
        return box

    @staticmethod
    def _legend_box() -> QGroupBox:
        box = QGroupBox("How to read it")
        layout = QVBoxLayout(box)
        legend = QLabel(
            "<span style='color:#3c3'>■</span> green box: the hunter still sees a "
            "protected class<br><span style='color:#e33'>■</span> red box: it does not, "
            "the region is saved<br>Bars: <span style='color:#46b45a'>■</span> protected "
            "class, <span style='color:#eb8c28'>■</span> decoy, "
            "<span style='color:#5a82be'>■</span> other<br>Keys: space pause, r record, "
            "s snapshot, b grey baseline (hide mode), F11 presentation (Esc leaves), "
            "q quit")
        legend.setWordWrap(True)
        legend.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(legend)
        return box

    @staticmethod
    def _slider(low: int, high: int, value: int) -> tuple[QSlider, QLabel]:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(low, high)
        slider.setValue(min(max(value, low), high))
        slider.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        label = QLabel()
        label.setMinimumWidth(54)
        return slider, label

    @staticmethod
    def _with_label(slider: QSlider, label: QLabel) -> QWidget:
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(slider, 1)
        row.addWidget(label)
        return holder

    # -- edits ------------------------------------------------------------------------
    def _edited(self, **changes: object) -> None:
        self.settingsEdited.emit(changes)

    def _mode_changed(self, mode: str) -> None:
        self._enable_for(mode)
        if mode == "hide" and self.detector_combo.currentText() != "nanodet":
            self._set_quietly(self.detector_combo, "nanodet")  # hide fools the detector
            self._edited(mode=mode, detector="nanodet")
        else:
            self._edited(mode=mode)

    def _detector_changed(self, detector: str) -> None:
        if detector != "nanodet" and self.mode_combo.currentText() == "hide":
            self._set_quietly(self.mode_combo, "block")
            self._enable_for("block")
            self._edited(detector=detector, mode="block")
        else:
            self._edited(detector=detector)

    @staticmethod
    def _set_quietly(combo: QComboBox, text: str) -> None:
        with QSignalBlocker(combo):
            combo.setCurrentText(text)

    def _slider_moved(self, **change: float) -> None:
        self._show_slider_values()
        self._edited(**change)

    def _show_slider_values(self) -> None:
        self.eps_label.setText(f"{self.eps_slider.value()}/255")
        self.patch_label.setText(f"{self.patch_slider.value()}%")
        self.hide_label.setText(f"{self.hide_slider.value()}%")

    def _request_source(self) -> None:
        text = self.source_edit.text().strip()
        if text:
            self.sourceRequested.emit(text)

    def _use_source(self, spec: str) -> None:
        self.source_edit.setText(spec)
        self.sourceRequested.emit(spec)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a video or image", "",
            "Videos and images (*.mp4 *.avi *.mov *.mkv *.webm *.gif *.png *.jpg *.jpeg "
            "*.bmp *.webp);;All files (*)")
        if path:
            self.source_edit.setText(path)
            self.sourceRequested.emit(path)

    def _add_protected(self) -> None:
        text = self.protect_edit.text().strip()
        if not text:
            return
        try:
            found = classes_for(text, self.classes)
        except UnknownClassError as exc:
            self.problem.emit(str(exc))
            return
        self.protect_edit.clear()
        added = [i for i in found if i not in self._protected]
        if added:
            self._protected.extend(added)
            self._refresh_protected()
            self._edited(protected=tuple(self._protected))

    def _remove_protected(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        index = int(item.data(Qt.ItemDataRole.UserRole))
        if len(self._protected) == 1:
            self.problem.emit("keep at least one protected class")
            return
        self._protected.remove(index)
        self._refresh_protected()
        self._edited(protected=tuple(self._protected))

    def _refresh_protected(self) -> None:
        self.protected_list.clear()
        for index in self._protected:
            item = QListWidgetItem(f"{self.classes.names[index]}  ({index})")
            item.setData(Qt.ItemDataRole.UserRole, index)
            self.protected_list.addItem(item)

    def _set_target(self) -> None:
        text = self.target_edit.text().strip()
        try:
            target = self.classes.resolve(text)
        except UnknownClassError as exc:
            self.problem.emit(str(exc))
            self.target_edit.setText(self.classes.names[self._target])
            return
        self.target_edit.setText(self.classes.names[target])
        if target != self._target:
            self._target = target
            self._edited(target=target)

    @property
    def protected(self) -> tuple[int, ...]:
        return tuple(self._protected)

    # -- what the window asks of the panel ----------------------------------------------
    def mode_widgets(self) -> dict[str, QWidget]:
        """The control of each :class:`PipelineSettings` field that only some modes read
        (the others - classes, detector, mode - apply to every mode)."""
        return dict(self._mode_rows)

    def _enable_for(self, mode: str) -> None:
        reads = mode_class(mode).controls
        for field, row in self._mode_rows.items():
            row.setEnabled(field in reads)  # a slider's row holds its value label too

    def choose_baseline(self, baseline: Baseline) -> None:
        """Show ``baseline`` ("none", "grey", "noise") in hide mode; emits the edit."""
        self.baseline_combo.setCurrentIndex(self.baseline_combo.findData(baseline))

    def show_source(self, spec: str) -> None:
        """Put the source that actually plays in the source field (no request sent), e.g.
        the clip that kept playing after the camera asked for failed."""
        self.source_edit.setText(spec)

    def sync(self, settings: PipelineSettings) -> None:
        """Show ``settings`` again after the window refused an edit (no signals sent)."""
        self._set_quietly(self.mode_combo, settings.mode)
        self._set_quietly(self.detector_combo, settings.detector)
        for widget, value in ((self.eps_slider, round(settings.eps * 255)),
                              (self.patch_slider, round(settings.patch_fraction * 100)),
                              (self.hide_slider, round(settings.hide_fraction * 100)),
                              (self.ghost_steps_spin, settings.ghost_steps)):
            with QSignalBlocker(widget):
                widget.setValue(value)
        with QSignalBlocker(self.baseline_combo):
            self.baseline_combo.setCurrentIndex(self.baseline_combo.findData(settings.baseline))
        self._show_slider_values()
        self._enable_for(settings.mode)
        self._target = settings.target
        self.target_edit.setText(self.classes.names[settings.target])
        self._protected = list(settings.protected)
        self._refresh_protected()
