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

from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtGui import QCloseEvent

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.live import (
    FramePipeline,
    FrameResult,
    PatchKey,
    PatchStore,
    PipelineSettings,
    mode_class,
)
from chickensaviour.live.draw import draw_pane
from chickensaviour.live.jobs import RefineJob
from chickensaviour.live.modes import LiveTools, create_mode
from chickensaviour.live.modes.printed import PrintedMode
from chickensaviour.live.settings import adapt_to_labels
from chickensaviour.live.stats import RunStats, ShownFrame
from chickensaviour.live.threads import LiveThreads
from chickensaviour.models import ImageClassifier, Prediction, load_model
from ui.constants import LIVE_OUT_DIR
from ui.handoffs import BackgroundTask
from ui.probability_bars import ProbabilityBars
from ui.rate_meter import RateMeter, describe_performance
from ui.session import OutputSession, SourceSession
from ui.video_pane import box_under
from ui.window_layout import WindowLayout
from ui.workers import ProcessedFrame

logger = logging.getLogger(__name__)

PipelineFactory = Callable[[ImageClassifier, PatchStore], FramePipeline]
TICK_MS = 25
#: Block mode refines the block automatically once this many frames had a tracked region.
AUTO_REFINE_AFTER = 5
#: Frames with regions after which "the hunter never saw a protected class" is said.
HUNTER_CHECK_FRAMES = 10
#: What the status bar says in printed mode (a printed patch held up to the camera).
PRINTED_NOTE = "printed-patch test: nothing is pasted"
#: Closing the window finishes a recording in progress within this many seconds (an
#: encoder flush or a 300-frame GIF takes about one); only then is it removed.
RECORDING_FINISH_S = 30.0
#: A cancelled refinement ends after its current optimisation step (a fraction of a
#: second, seconds on a busy machine); closing waits this long for it.
REFINER_STOP_S = 10.0


class MainWindow(WindowLayout):
    """The chickensaviour live window.

    Args:
        model: the hunter, already loaded.
        source: source spec for :func:`open_source` ("0", a path, "screen:X,Y,W,H").
        settings: the first settings snapshot.
        out_dir: where snapshots and recordings go.
        pipeline_factory: builds a pipeline for a model and the shared patch store
            (tests inject their own); every source gets a fresh one.
        auto_refine: refine the block (train the hide patch) once, automatically, in
            block (hide) mode.
        store: where blocks and hide patches are kept (default: with the user's disk
            cache, so refined blocks survive model switches and restarts).
        engine: what runs the forward-only stages ("auto", "onnxruntime", "torch").
        as_camera: play video files as a live source (real time, newest frame only).
        overlap: run the pipeline in two overlapping stages and draw the panes off the
            GUI thread (see :class:`ui.workers.InferenceWorker`).
        stats: collects the rates over the run (``--stats``), from the first frame with
            a region on.

    Owner: the GUI thread. It owns the settings snapshot, the widgets, the sessions and
    the job handles; the inference worker owns its pipeline, each refinement job its
    own mode object and tools, each recorder its writer. Hand-offs: settings snapshots
    and pipelines to the worker, results back through its mailbox, finished patches
    through the locked :class:`PatchStore`, models and opened sources as finished values
    of :class:`BackgroundTask` threads. The worker emits :attr:`resultReady` (queued to
    the GUI thread) when a result is ready, so it is shown at once, not at the next tick.
    """

    resultReady = pyqtSignal()

    def __init__(self, model: ImageClassifier, *, source: str, settings: PipelineSettings,
                 out_dir: str | Path = LIVE_OUT_DIR,
                 pipeline_factory: PipelineFactory | None = None,
                 auto_refine: bool = True, store: PatchStore | None = None,
                 model_reference: str | None = None, engine: str = "auto",
                 as_camera: bool = False, overlap: bool = True,
                 stats: RunStats | None = None, threads: LiveThreads | None = None) -> None:
        super().__init__()
        self.setWindowTitle("chickensaviour — live")
        self.model = model
        self.model_reference = model_reference or model.name  # what loads it: name or card
        self.store = store if store is not None else PatchStore()
        self.threads = threads or LiveThreads()
        self.engine = engine
        engine_threads = self.threads.engine
        self.pipeline_factory: PipelineFactory = pipeline_factory or (
            lambda m, patches: FramePipeline(m, store=patches, engine=engine,
                                             engine_threads=engine_threads))
        self.stats = stats
        self._skipped_at_start: int | None = None
        self._counted_source: object | None = None
        self.settings = settings
        self.auto_refine = auto_refine
        self.current: ProcessedFrame | None = None
        self.selected_track: int | None = None
        self.refiner: RefineJob | None = None
        self.loader: BackgroundTask[tuple[ImageClassifier, FramePipeline]] | None = None
        self._loading_name = ""
        self.display_rate = RateMeter()
        self._refined_keys: set[PatchKey] = set()
        self._tracked_frames = 0
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._build(source)
        self.resultReady.connect(self._show_newest)
        self.source = SourceSession(self._make_pipeline, settings, as_camera=as_camera,
                                    overlap=overlap, threads=self.threads,
                                    on_result=self.resultReady.emit)
        self.output = OutputSession(Path(out_dir))
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.timer.start(TICK_MS)
        self.open_source(source)
        self.before_pane.setFocus()

    def _make_pipeline(self) -> FramePipeline:
        # Runs on a BackgroundTask thread: reads the model reference and the settings
        # snapshot once each (atomic), and makes the engines there, not on the first frames.
        pipeline = self.pipeline_factory(self.model, self.store)
        pipeline.warm_up(self.settings)
        return pipeline

    def open_source(self, spec: str) -> None:
        """Open ``spec`` off the GUI thread; the current source plays until it is ready."""
        self.show_message(self.source.open(spec), 0)

    # -- settings ---------------------------------------------------------------------
    def edit_settings(self, changes: dict[str, object]) -> None:
        """Apply ``changes`` to the settings snapshot and hand the new one to the worker."""
        try:
            settings = self.settings.with_changes(**changes)
            settings.check_detector(self.model.classes)
        except ChickenSaviourError as exc:
            self.show_message(str(exc))
            self.controls.sync(self.settings)  # the panel shows what is in effect
            return
        self.settings = settings
        self.source.set_settings(self.settings)
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
            fps = self.display_rate.rate or self.source.fps
            started, message = self.output.start_recording(
                self.controls.format_combo.currentText(), fps)
            self.show_message(message)
            if not started:
                self.record_action.setChecked(False)  # re-enters with on=False: no-op
        else:
            message = self.output.stop_recording()
            if message:
                self.show_message(message, 0)
        self.discard_action.setEnabled(self.output.recorder is not None)

    def discard_recording(self) -> None:
        message = self.output.discard()
        if message:
            self.show_message(message)
        self.record_action.setChecked(False)
        self.discard_action.setEnabled(False)

    def take_snapshot(self) -> Path | None:
        path, message = self.output.snapshot(self.current, self.selected_track)
        self.show_message(message)
        return path

    def show_message(self, text: str, milliseconds: int = 6000) -> None:
        logger.info("%s", text)
        self.statusBar().showMessage(text, milliseconds)

    # -- model and block --------------------------------------------------------------
    def load_model(self, name: str) -> None:
        """Load ``name`` and build its pipeline off the GUI thread; the worker switches
        at a frame boundary once both are ready."""
        if not name or name == self.model_reference or self.loader is not None:
            return
        device, store, factory = self.model.device, self.store, self.pipeline_factory
        settings = self.settings  # an immutable snapshot

        def work() -> tuple[ImageClassifier, FramePipeline]:
            model = load_model(name, device=device)  # a new object: nobody else uses it
            pipeline = factory(model, store)
            pipeline.warm_up(settings)
            return model, pipeline

        self._loading_name = name
        self.loader = BackgroundTask(f"load-{name}", work)
        self.loader.start()
        self.controls.model_combo.setEnabled(False)
        self.show_message(f"loading model {name}…", 0)

    def _model_loaded(self, loader: BackgroundTask[tuple[ImageClassifier, FramePipeline]]
                      ) -> None:
        self.loader = None
        self.controls.model_combo.setEnabled(True)
        if loader.value is None:
            self.show_message(f"model {self._loading_name}: {loader.error}")
            self.controls.model_combo.setCurrentText(self.model_reference)
            return
        old_classes = self.model.classes
        self.model, pipeline = loader.value
        self.model_reference = self._loading_name
        self.settings, notes = adapt_to_labels(self.settings, old_classes, self.model.classes)
        self.source.replace_pipeline(pipeline, self.settings)  # both from the same frame
        self.controls.show_model(self.model_reference, self.model.classes, self.settings)
        self._tracked_frames = 0
        if self.refiner is not None:  # it refines the old model's block: stop it
            self.refiner.cancel()
        labels = "" if self.model.classes.is_imagenet else f", {len(self.model.classes)} classes"
        self.show_message("; ".join([f"hunter is now {self.model.name}{labels}", *notes]), 12000)
        self._update_titles()

    def start_refine(self, *, auto: bool = False) -> bool:
        """Refine the current mode's patch as a job on the recent regions (a snapshot);
        False if one is already running, the mode has no patch, or no region was seen."""
        mode = create_mode(self.settings.mode)  # the job's own mode object
        key = mode.patch_key(self.settings, self.model.identity)
        if key is None:
            if not auto:
                self.show_message(f"{self.settings.mode} mode has nothing to refine")
            return False
        if self.refiner is not None:
            if not auto:
                self.show_message(f"the {self.refiner.what} is already being refined")
            return False
        regions = self.current.result.regions if self.current is not None else ()
        if not regions:
            self.show_message("refining needs a protected region in view first")
            return False
        self._refined_keys.add(key)
        # The job's own tools: its detector evaluations (hide training) may use every CPU.
        tools = LiveTools(self.model, self.store, engine=self.engine,
                          engine_threads=self.threads.for_jobs)
        self.refiner = RefineJob(mode, regions, self.settings, tools,
                                 threads=self.threads.for_jobs)
        self.refiner.start()
        self.source.set_cpu_share(self.threads.share_during_jobs)  # the job gets the CPU
        self.show_message(f"refining the {mode.trains} on {len(regions)} recent regions"
                          f"{' (automatic)' * auto}")
        return True

    # -- the timer --------------------------------------------------------------------
    def _tick(self) -> None:
        polled = self.source.poll()
        for message in polled.messages:
            self.show_message(message, 8000)
        if polled.started is not None:
            self._source_started(polled.started)
        if polled.failed is not None and self.source.worker is not None:
            self.controls.show_source(self.source.spec)  # what actually plays
        if polled.frame is not None:
            self.show_frame(polled.frame)
        if self.loader is not None and self.loader.done.is_set():
            self._model_loaded(self.loader)
        self._update_refine_state()
        label, messages = self.output.poll()
        self.record_label.setText(label)
        for message in messages:
            self.show_message(message)
        self._update_perf()

    def _show_newest(self) -> None:
        """A result is ready (the worker's signal): show it now."""
        worker = self.source.worker
        frame = worker.take_result() if worker is not None and not self._closed else None
        if frame is not None:
            self.show_frame(frame)

    def _source_started(self, spec: str) -> None:
        worker = self.source.worker
        if worker is not None and worker.pipeline_model is not self.model:
            # The model changed while the source was opening: its pipeline was built for
            # the old one. Pipelines are cheap; hand over one for the model in use.
            worker.replace_pipeline(self._make_pipeline())
        self.current = None
        self.selected_track = None
        self._tracked_frames = 0
        self.controls.show_source(spec)
        self.clear_tracks()

    def show_frame(self, processed: ProcessedFrame) -> None:
        started = time.perf_counter()
        self.current = processed
        self.display_rate.tick()
        result = processed.result
        before, after = processed.panes or (draw_pane(result, after=False),
                                            draw_pane(result, after=True))
        self.before_pane.set_frame(before)
        self.after_pane.set_frame(after)
        self._update_tracks()
        recorder = self.output.recorder
        if self.output.record(result, self.selected_track) and recorder is not None:
            self.show_message(f"recording stopped at {recorder.max_frames} frames")
            self.record_action.setChecked(False)  # -> set_recording(False)
        if any(t.track_id > 0 for t in result.tracks):
            self._tracked_frames += 1
        # Auto-refinement runs once for each patch (the store's key: blocks per model,
        # decoy and size; hide patches per COCO classes and size).
        key = create_mode(self.settings.mode).patch_key(self.settings, self.model.identity)
        if (self.auto_refine and key is not None and result.settings.mode == self.settings.mode
                and self._tracked_frames >= AUTO_REFINE_AFTER
                and key not in self._refined_keys):
            self.start_refine(auto=True)
        self._update_titles()
        self._update_status(result)
        self._count(processed, time.perf_counter() - started)

    def _count(self, processed: ProcessedFrame, show_seconds: float) -> None:
        """Add the frame to the run's stats (``--stats``), once the mode has a region to
        work on (in block mode: once the first block is in place)."""
        if self.stats is None or (self.stats.frames == 0 and not processed.result.tracks):
            return
        worker = self.source.worker
        source = worker.capture.source if worker is not None else None
        skipped = int(getattr(source, "skipped", 0))
        if self._skipped_at_start is None or self._counted_source is not source:
            # A new source counts from its own start (its count begins at 0 again).
            self._skipped_at_start = skipped - self.stats.source_skipped
            self._counted_source = source
        timings = processed.result.timings
        self.stats.add(ShownFrame(
            processed.capture_index, processed.captured_at, time.monotonic(),
            {"localise": timings.localise, "track": timings.track, "patch": timings.patch,
             "classify": timings.classify, "pipeline": processed.process_seconds,
             "show": show_seconds},
            dict(processed.result.engines), job_running=self.refiner is not None))
        self.stats.source_skipped = skipped - self._skipped_at_start

    def _update_tracks(self) -> None:
        tracks = self.current.result.tracks if self.current is not None else ()
        ids = [t.track_id for t in tracks]
        if self.selected_track not in ids:
            self.selected_track = ids[0] if ids else None
        self._fill_track_combo(tracks)
        if self.selected_track is not None:
            self.track_combo.setCurrentIndex(self.track_combo.findData(self.selected_track))
        self._update_bars()

    def _update_bars(self) -> None:
        """The selected track's top-5 before and after; in printed mode (nothing pasted,
        so before is after) the whole frame's top-5 and the selected region's."""
        track = None
        result = self.current.result if self.current is not None else None
        if result is not None:
            track = next((t for t in result.tracks if t.track_id == self.selected_track),
                         None)
        settings = result.settings if result is not None else self.settings
        tag = "" if track is None else (f" — track #{track.track_id}" if track.track_id > 0
                                        else f" — hand box {-track.track_id}")
        shown: tuple[tuple[ProbabilityBars, str, Prediction | None], ...] = (
            (self.before_bars, f"Before: top 5{tag}", track.before if track else None),
            (self.after_bars, f"After: top 5{tag}", track.after if track else None))
        if result is not None and result.whole_frame is not None:
            shown = ((self.before_bars, "Whole frame: top 5", result.whole_frame),
                     (self.after_bars, f"Region: top 5{tag}", track.before if track else None))
        for bars, title, prediction in shown:
            bars.set_prediction(prediction, protected=settings.protected,
                                target=settings.target, title=title)
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
        mode = mode_class(settings.mode)
        paused = "  [paused]" if self.pause_action.isChecked() else ""
        # A mode judged by the detector on every frame (hide) shows the detector's verdict.
        seer = "detector" if mode.detect_every_frame else "hunter"
        self.before_title.setText(f"Before — what the {seer} sees{paused}")
        detail = self._mode_detail()
        if mode.detect_every_frame:
            self.after_title.setText(f"After — {detail}: what the detector sees")
        elif mode.controls:
            target = self.model.classes.names[settings.target]
            self.after_title.setText(f"After — {detail}, decoy '{target}'")
        elif settings.mode == PrintedMode.name:
            self.after_title.setText("After — printed patch: the hunter's top 5, "
                                     "nothing pasted")
        else:
            self.after_title.setText(f"After — {detail}: the frame as captured")
        self._update_control_states()

    def _update_refine_state(self) -> None:
        refiner = self.refiner
        if refiner is None:
            return
        what = refiner.what
        doing, done = ("training", "trained") if what == "hide patch" else ("refining",
                                                                            "refined")
        if refiner.state == "running":
            steps = f" step {refiner.done}/{refiner.total}," if refiner.total else ""
            share = self.threads.share_during_jobs
            capped = (f" (the live view takes at most {share:.0%} of the time meanwhile)"
                      if share else "")
            self.refine_label.setText(f"{doing} {what}…{steps} {refiner.elapsed:.0f} s"
                                      f"{capped}")
            return
        self.refiner = None
        self.source.set_cpu_share(None)
        if refiner.state == "done":
            self.refine_label.setText(f"{what} {done} in {refiner.elapsed:.0f} s")
            if self.stats is not None:
                self.stats.record_job(what, refiner.elapsed)
        elif refiner.state == "cancelled":
            self.refine_label.setText(f"{doing} the {what} cancelled")
        else:
            self.refine_label.setText(f"{doing} the {what} failed")
            self.show_message(f"{doing} the {what} failed: {refiner.message}")

    def _update_status(self, result: FrameResult) -> None:
        """Honest demos: hide mode's patch-versus-plain-square tally, and a warning when
        the hunter never saw a protected class in the tracked regions (then red boxes
        prove nothing)."""
        notes = []
        printed = result.whole_frame is not None
        if printed:
            notes.append(PRINTED_NOTE)
        if result.hide is not None:
            notes.append(result.hide.describe())
        saw = result.hunter_saw
        if result.settings.mode != "hide" and saw.frames >= HUNTER_CHECK_FRAMES \
                and saw.hits == 0 and result.tracks:
            said = result.tracks[0].before.names[0]
            # Printed mode has no clean "before": only the object without the patch shows
            # what the hunter would see.
            proof = ("show it without the patch too" if printed
                     else "the red boxes prove nothing")
            notes.append(f"the hunter never saw a protected class here (it says '{said}'): "
                         f"{proof}")
        text = " | ".join(notes)
        if text != self.honesty_label.text():
            self.honesty_label.setText(text)

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
        if self.refiner is not None:
            self.refiner.cancel()
        opening = self.source.opening
        self.source.begin_stop()
        self.output.begin_stop()
        workers = self.source.stop(max(0.0, deadline - time.monotonic()))
        if self.refiner is not None:  # cancelled: it stops after its current step
            self.refiner.join(max(REFINER_STOP_S, deadline - time.monotonic()))
        recorders = self.output.stop(RECORDING_FINISH_S)  # finish it: the user wants it
        self._threads = [t for t in (*workers, *recorders, self.refiner, self.loader,
                                     opening) if t is not None]
        left = [t for t in self._threads if t.is_alive()]
        if left:
            logger.info("still finishing: %s", ", ".join(t.name for t in left))
        return left

    def closeEvent(self, event: QCloseEvent | None) -> None:
        self.shutdown()
        if event is not None:
            event.accept()
