"""The live window: before | after panes, top-5 bars, controls, status bar.

The GUI thread only draws: an :class:`InferenceWorker` thread runs the pipeline and the
window pulls its newest result on a timer; block refinement, model loading and recording
run on their own threads too. Settings go to the worker as immutable snapshots.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence
from PyQt6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QToolBar,
    QWidget,
)

from chickensaviour.draw import draw_pane
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.pipeline import FramePipeline, PipelineSettings, no_coco_class_error
from chickensaviour.zoo import OFFLINE_MODELS, ImageClassifier, load_model
from ui.cancel import install
from ui.controls import ControlPanel
from ui.probability_bars import ProbabilityBars
from ui.rate_meter import RateMeter, describe_performance
from ui.session import OutputSession, SourceSession
from ui.video_pane import VideoPane, box_under
from ui.workers import ModelLoader, ProcessedFrame, RefineWorker

logger = logging.getLogger(__name__)

PipelineFactory = Callable[[ImageClassifier], FramePipeline]
TICK_MS = 25
#: Block mode refines the block automatically once this many frames had a tracked region.
AUTO_REFINE_AFTER = 5


class MainWindow(QMainWindow):
    """The chickensaviour live window.

    Args:
        model: the hunter, already loaded.
        source: source spec for :func:`open_source` ("0", a path, "screen:X,Y,W,H").
        settings: the first settings snapshot.
        out_dir: where snapshots and recordings go.
        pipeline_factory: builds the pipeline for a model (tests inject their own).
        auto_refine: refine the block (train the hide patch) once, automatically, in
            block (hide) mode.
    """

    def __init__(self, model: ImageClassifier, *, source: str, settings: PipelineSettings,
                 out_dir: str | Path = "out/live",
                 pipeline_factory: PipelineFactory = FramePipeline,
                 auto_refine: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("chickensaviour — live")
        install(model)  # long model calls can then be interrupted when threads stop
        self.model = model
        self.pipeline_factory = pipeline_factory
        self.pipeline = pipeline_factory(model)
        self.settings = settings
        self.auto_refine = auto_refine
        self.current: ProcessedFrame | None = None
        self.selected_track: int | None = None
        self.refiner: RefineWorker | None = None
        self.loader: ModelLoader | None = None
        self.display_rate = RateMeter()
        self._refined_keys: set[tuple[object, ...]] = set()
        self._tracked_frames = 0
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._build(source)
        self.source = SourceSession(self)
        self.output = OutputSession(self, Path(out_dir))
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.timer.start(TICK_MS)
        self.source.open(source)
        self.before_pane.setFocus()

    # -- layout -----------------------------------------------------------------------
    def _build(self, source: str) -> None:
        self.before_title, self.after_title = QLabel(), QLabel()
        for label in (self.before_title, self.after_title):
            label.setStyleSheet("font-weight: bold; font-size: 11pt; padding: 2px;")
        self.before_pane = VideoPane(drawable=True, placeholder="waiting for frames…")
        self.after_pane = VideoPane(placeholder="waiting for frames…")
        self.before_bars = ProbabilityBars("Before")
        self.after_bars = ProbabilityBars("After")
        self.track_combo = QComboBox()
        self.track_combo.setMinimumWidth(200)
        self.track_combo.setToolTip("The track whose top-5 the bars show (or click a box)")
        self.track_combo.activated.connect(
            lambda i: self.select_track(self.track_combo.itemData(i)))
        self.before_pane.clicked.connect(self._pane_clicked)
        self.after_pane.clicked.connect(self._pane_clicked)
        self.before_pane.boxDrawn.connect(self.add_manual_box)

        grid = QGridLayout()
        grid.addWidget(self.before_title, 0, 0)
        grid.addWidget(self.after_title, 0, 1)
        grid.addWidget(self.before_pane, 1, 0)
        grid.addWidget(self.after_pane, 1, 1)
        track_row = QHBoxLayout()
        hint = QLabel("drag on the left pane to protect a region by hand")
        hint.setStyleSheet("color: gray;")
        for widget, stretch in ((QLabel("Track:"), 0), (self.track_combo, 0), (hint, 1)):
            track_row.addWidget(widget, stretch)
        grid.addLayout(track_row, 2, 0, 1, 2)
        grid.addWidget(self.before_bars, 3, 0)
        grid.addWidget(self.after_bars, 3, 1)
        grid.setRowStretch(1, 1)
        left = QWidget()
        left.setLayout(grid)

        self.controls = ControlPanel(self.settings, self.model.classes, source=source,
                                     model=self.model.name, models=list(OFFLINE_MODELS))
        self.controls.settingsEdited.connect(self.edit_settings)
        self.controls.sourceRequested.connect(lambda spec: self.source.open(spec))
        self.controls.modelRequested.connect(self.load_model)
        self.controls.problem.connect(self.show_message)
        scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        needed = (self.controls.minimumSizeHint().width() + 2 * scroll.frameWidth()
                  + scroll.verticalScrollBar().sizeHint().width())
        scroll.setFixedWidth(max(340, needed))
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        central = QWidget()
        row = QHBoxLayout(central)
        row.addWidget(left, 1)
        row.addWidget(scroll)
        self.setCentralWidget(central)
        self._build_actions()
        self.perf_label, self.refine_label, self.record_label = QLabel(), QLabel(), QLabel()
        for label in (self.record_label, self.refine_label, self.perf_label):
            self.statusBar().addPermanentWidget(label)
        self.record_label.setStyleSheet("color: #d33; font-weight: bold;")
        self._update_titles()
        self.resize(1400, 740)

    def _build_actions(self) -> None:
        toolbar = QToolBar("Actions")
        toolbar.setMovable(False)
        self.addToolBar(toolbar)

        def action(text: str, key: str | None, slot: Callable[..., object], *,
                   checkable: bool = False, tip: str = "") -> QAction:
            act = QAction(text, self)
            act.setCheckable(checkable)
            if key:
                act.setShortcut(QKeySequence(key))
                act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.setToolTip(f"{tip} ({key})" if key else tip)
            (act.toggled if checkable else act.triggered).connect(slot)
            toolbar.addAction(act)
            self.addAction(act)
            return act

        self.pause_action = action("Pause", "Space", self.set_paused, checkable=True,
                                   tip="Freeze the stream; controls still apply to the frame")
        self.record_action = action("Record", "R", self.set_recording, checkable=True,
                                    tip="Record before|after to GIF or MP4 in the output folder")
        self.discard_action = action("Discard recording", None,
                                     lambda: self.output.discard(), tip="Stop and delete")
        self.discard_action.setEnabled(False)
        self.snapshot_action = action("Snapshot", "S", lambda: self.output.snapshot(),
                                      tip="Save before|after as PNG")
        toolbar.addSeparator()
        self.refine_action = action("Refine block", None, lambda: self.start_refine(),
                                    tip="Optimise the block (hide mode: train the hide "
                                    "patch) on recent frames")
        self.clear_action = action("Clear hand boxes", None, self.clear_manual_boxes,
                                   tip="Forget the regions drawn by hand")
        toolbar.addSeparator()
        self.quit_action = action("Quit", "Q", self.close, tip="Close the window")

    # -- settings ---------------------------------------------------------------------
    def edit_settings(self, changes: dict[str, object]) -> None:
        """Apply ``changes`` to the settings snapshot and hand the new one to the worker."""
        try:
            settings = self.settings.with_changes(**changes)
            if settings.detector == "nanodet" and not settings.coco_classes:
                raise ChickenSaviourError(no_coco_class_error(settings.protected,
                                                              self.model.classes.names))
        except (ChickenSaviourError, TypeError) as exc:
            self.show_message(str(exc))
            self.controls.sync(self.settings)  # the panel shows what is in effect
            return
        self.settings = settings
        self.source.push_settings(self.settings)
        self._update_titles()

    def add_manual_box(self, box: tuple[float, float, float, float]) -> None:
        self.edit_settings({"manual_boxes": (*self.settings.manual_boxes, box)})
        self.show_message(f"protecting a hand-drawn region ({len(self.settings.manual_boxes)})")

    def clear_manual_boxes(self) -> None:
        self.edit_settings({"manual_boxes": ()})

    def set_paused(self, paused: bool) -> None:
        self.source.set_paused(paused)
        self._update_titles()

    def set_recording(self, on: bool) -> None:
        if on:
            if not self.output.start_recording(self.controls.format_combo.currentText()):
                self.record_action.setChecked(False)  # re-enters with on=False: no-op
        else:
            self.output.stop_recording()
        self.discard_action.setEnabled(self.output.recorder is not None)

    def show_message(self, text: str, milliseconds: int = 6000) -> None:
        logger.info("%s", text)
        self.statusBar().showMessage(text, milliseconds)

    # -- model and block --------------------------------------------------------------
    def load_model(self, name: str) -> None:
        if not name or name == self.model.name or self.loader is not None:
            return
        device = self.model.device
        self.loader = ModelLoader(name, lambda n: load_model(n, device=device))
        self.loader.start()
        self.controls.model_combo.setEnabled(False)
        self.show_message(f"loading model {name}…", 0)

    def _model_loaded(self, loader: ModelLoader) -> None:
        self.loader = None
        self.controls.model_combo.setEnabled(True)
        if loader.model is None:
            self.show_message(f"model {loader.model_name}: {loader.error}")
            self.controls.model_combo.setCurrentText(self.model.name)
            return
        self.model = loader.model
        self.pipeline = self.pipeline_factory(self.model)
        self.source.replace_pipeline(self.pipeline)
        self._tracked_frames = 0
        self.show_message(f"hunter is now {self.model.name}")

    def start_refine(self, *, auto: bool = False) -> bool:
        """Refine the current block on a worker thread; False if one is already running."""
        if self.refiner is not None:
            if not auto:
                self.show_message(f"the {self._what()} is already being refined")
            return False
        self._refined_keys.add(self._block_key())
        self.refiner = RefineWorker(self.pipeline, self.settings)
        if not self.refiner.contexts:
            self.refiner = None
            self.show_message("refining needs a protected region in view first")
            return False
        self.refiner.start()
        self.show_message(f"refining the {self._what()} on recent frames"
                          f"{' (automatic)' * auto}")
        return True

    def _what(self) -> str:
        return "hide patch" if self.settings.mode == "hide" else "block"

    def _block_key(self) -> tuple[object, ...]:
        # What the refined block (hide patch) is cached by, so auto-refinement runs once
        # for each: blocks per model, decoy and size; hide patches per COCO classes, size.
        settings = self.settings
        if settings.mode == "hide":
            return ("hide", settings.coco_classes, settings.block_size)
        return ("block", self.model.name, settings.target, settings.block_size)

    # -- the timer --------------------------------------------------------------------
    def _tick(self) -> None:
        processed = self.source.poll()
        if processed is not None:
            self.show_frame(processed)
        if self.loader is not None and self.loader.done.is_set():
            self._model_loaded(self.loader)
        self._update_refine_state()
        self.output.poll()
        self._update_perf()

    def show_frame(self, processed: ProcessedFrame) -> None:
        self.current = processed
        self.display_rate.tick()
        result = processed.result
        self.before_pane.set_frame(draw_pane(result, after=False))
        self.after_pane.set_frame(draw_pane(result, after=True))
        self._update_tracks()
        self.output.record(result)
        if any(t.track_id > 0 for t in result.tracks):
            self._tracked_frames += 1
        if (self.auto_refine and result.settings.mode in ("block", "hide")
                and self._tracked_frames >= AUTO_REFINE_AFTER
                and self._block_key() not in self._refined_keys):
            self.start_refine(auto=True)
        self._update_titles()

    def _update_tracks(self) -> None:
        tracks = self.current.result.tracks if self.current is not None else ()
        ids = [t.track_id for t in tracks]
        if self.selected_track not in ids:
            self.selected_track = ids[0] if ids else None
        if [self.track_combo.itemData(i) for i in range(self.track_combo.count())] != ids:
            self.track_combo.blockSignals(True)
            self.track_combo.clear()
            for track in tracks:
                tag = f"#{track.track_id}" if track.track_id > 0 else f"hand {-track.track_id}"
                self.track_combo.addItem(f"{tag}  {track.before.names[0]}", track.track_id)
            self.track_combo.blockSignals(False)
        if self.selected_track is not None:
            self.track_combo.setCurrentIndex(self.track_combo.findData(self.selected_track))
        self._update_bars()

    def _update_bars(self) -> None:
        track = None
        if self.current is not None:
            track = next((t for t in self.current.result.tracks
                          if t.track_id == self.selected_track), None)
        settings = self.current.result.settings if self.current is not None else self.settings
        tag = "" if track is None else (f" — track #{track.track_id}" if track.track_id > 0
                                        else f" — hand box {-track.track_id}")
        for bars, name, prediction in (
                (self.before_bars, "Before", track.before if track else None),
                (self.after_bars, "After", track.after if track else None)):
            bars.set_prediction(prediction, protected=settings.protected,
                                target=settings.target, title=f"{name}: top 5{tag}")
        box = track.box if track is not None else None
        self.before_pane.set_highlight(box)
        self.after_pane.set_highlight(box)

    def select_track(self, track_id: int | None) -> None:
        self.selected_track = track_id
        self._update_bars()

    def _pane_clicked(self, x: float, y: float) -> None:
        tracks = self.current.result.tracks if self.current is not None else ()
        hit = box_under([t.box for t in tracks], x, y)
        if hit is not None:
            self.select_track(tracks[hit].track_id)

    def _update_titles(self) -> None:
        settings = self.settings
        paused = "  [paused]" if self.pause_action.isChecked() else ""
        seer = "detector" if settings.mode == "hide" else "hunter"
        self.before_title.setText(f"Before — what the {seer} sees{paused}")
        detail = {"block": f"block {round(settings.patch_fraction * 100)}%",
                  "ghost": f"ghost, eps {round(settings.eps * 255)}/255",
                  "hide": "hide patch", "off": "off"}[settings.mode]
        refined = (f" (refined {self._what()})" if self.current is not None
                   and self.current.result.block_refined else "")
        if settings.mode == "hide":
            self.after_title.setText(f"After — {detail}{refined}: what the detector sees")
            return
        target = self.model.classes.names[settings.target]
        self.after_title.setText(f"After — {detail}{refined}, decoy '{target}'")

    def _update_refine_state(self) -> None:
        refiner = self.refiner
        if refiner is None:
            return
        what = "hide patch" if refiner.settings.mode == "hide" else "block"
        if refiner.state == "running":
            steps = f" step {refiner.done}/{refiner.total}," if refiner.total else ""
            self.refine_label.setText(f"refining {what}…{steps} {refiner.elapsed:.0f} s")
            return
        self.refiner = None
        if refiner.state == "done":
            self.refine_label.setText(f"{what} refined in {refiner.elapsed:.0f} s")
        elif refiner.state == "cancelled":
            self.refine_label.setText(f"{what} refinement cancelled")
        else:
            self.refine_label.setText(f"{what} refinement failed")
            self.show_message(f"{what} refinement failed: {refiner.message}")

    def _update_perf(self) -> None:
        if self.pause_action.isChecked():
            self.perf_label.setText("paused")
            return
        text, details = describe_performance(self.current, self.display_rate.rate,
                                             self.source.fps)
        self.perf_label.setText(text)
        self.perf_label.setToolTip(details)

    # -- closing ----------------------------------------------------------------------
    def shutdown(self, timeout: float = 1.0) -> list[threading.Thread]:
        """Stop the timer and every thread, finishing (or removing) a recording.

        Returns the threads still running after ``timeout`` (normally none; a model
        being loaded cannot be interrupted): the caller should join them before exiting.
        """
        if self._closed:
            return [t for t in self._threads if t.is_alive()]
        self._closed = True
        self.timer.stop()
        deadline = time.monotonic() + timeout
        worker = self.source.worker
        if self.refiner is not None:
            self.refiner.cancel()
        self.source.begin_stop()
        self.output.begin_stop()
        self.source.stop(max(0.0, deadline - time.monotonic()))
        self.output.stop(max(0.05, deadline - time.monotonic()))
        if self.refiner is not None:
            self.refiner.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in (worker, self.refiner, self.loader) if t is not None]
        left = [t for t in self._threads if t.is_alive()]
        if left:
            logger.info("still finishing: %s", ", ".join(t.name for t in left))
        return left

    def closeEvent(self, event: QCloseEvent | None) -> None:
        self.shutdown()
        if event is not None:
            event.accept()
