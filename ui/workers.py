"""Threads at the edges of the live window: inference and background tasks.

None of these import Qt. Who owns what:

- :class:`InferenceWorker` (its own thread) owns its :class:`FramePipeline` and its
  :class:`CaptureThread`; nobody else calls them, except its own two helper threads
  (with overlap): "judge" runs ``pipeline.judge`` of one frame at a time, in order, and
  publishes the result; "detect" only runs the pipeline's (stateless) detector. The GUI
  hands it immutable settings snapshots and replacement pipelines (a :class:`Mailbox`;
  one hand-off lock keeps the waiting pipeline and the settings in effect consistent),
  pause/stop events and a CPU share, and takes results from its result mailbox.
- :class:`~ui.handoffs.BackgroundTask` (its own thread) runs one callable - loading a
  model, opening a source and building its pipeline - and publishes the finished value
  once; the GUI takes it on its timer and hands it over whole.
- Refinement jobs are :class:`chickensaviour.live.jobs.RefineJob` threads: they train on
  an immutable regions snapshot and put the patch in the shared, locked PatchStore.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from chickensaviour.device import use_threads
from chickensaviour.errors import OperationCancelled
from chickensaviour.live import FramePipeline, FrameResult, PipelineSettings
from chickensaviour.live.draw import draw_pane
from chickensaviour.live.pipeline import FoundRegions, PreparedFrame, find_regions
from chickensaviour.live.threads import LiveThreads
from chickensaviour.models.protocols import Detector
from chickensaviour.video.capture import CapturedFrame, CaptureThread
from chickensaviour.video.sources import SourceError
from ui.handoffs import Mailbox, MessageLog

logger = logging.getLogger(__name__)

#: Regions found on a frame captured longer ago than this are not given to the tracker.
STALE_DETECTION_S = 2.0


@dataclass(frozen=True)
class ProcessedFrame:
    """A pipeline result with its place in the stream and when it was read and finished.

    ``sequence`` counts processed frames of this worker from 1; times are
    ``time.monotonic()`` seconds; ``live`` is False for files (whose frames wait in a
    queue, so their age says how far behind playback is, not how slow the pipeline is).
    ``capture_index`` is the frame's number from the capture thread (gaps: frames a live
    source dropped). ``panes`` are the before and after panes already drawn (BGR) when
    the worker draws them, else ``None`` (the window draws them).
    """

    sequence: int
    result: FrameResult
    captured_at: float
    finished_at: float
    process_seconds: float
    live: bool = True
    capture_index: int = 0
    panes: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def latency(self) -> float:
        """Seconds from reading the frame to having its result."""
        return self.finished_at - self.captured_at


CaptureFactory = Callable[[], CaptureThread]


class InferenceWorker(threading.Thread):
    """Pulls frames from a :class:`CaptureThread` and runs the pipeline on each.

    Owner: this thread uses ``pipeline`` (first stage, hand-offs, resets) and
    ``capture``; its "judge" thread runs ``pipeline.judge`` and publishes results (a
    swap or reset waits for it first), its "detect" thread runs the detector only.
    Other threads only call :meth:`update_settings`, :meth:`replace_pipeline`,
    :meth:`set_paused`, :meth:`set_cpu_share`, :meth:`take_result` and :meth:`stop`,
    which go through events, mailboxes and single attribute writes. ``processed`` and
    the last frame's cost are written by whichever thread publishes results (this one
    without overlap, the judge thread with it: one writer either way) and only read
    elsewhere (the GUI reads ``processed``, this thread the cost).

    Args:
        pipeline: the :class:`FramePipeline`, handed over whole (used by this thread only).
        capture: an unstarted capture thread; the worker starts and stops it.
        settings: the first settings snapshot.
        reopen: for file sources, builds a fresh capture when the file ends (looping);
            ``None`` stops at the end.
        overlap: run the pipeline in two stages on two threads: while the hunter judges
            frame n (``pipeline.judge``, on the "judge" thread, which also draws the
            panes), this thread already localises, tracks and patches frame n+1
            (``pipeline.prepare``). Throughput is that of the slower stage instead of
            the sum; each frame's latency is still the sum (plus any wait), and it is
            what the status bar shows. The detector (NanoDet) then runs on a third
            thread, "detect". In modes that detect every ``detect_every``-th frame, the
            tracker takes its boxes when they are ready (one or two frames old by then)
            and this thread never stalls on a detection. In a mode that needs the
            detector on every frame (hide), frame n+1 is detected while frame n is
            patched and judged: one frame more of latency, and detection off the
            critical path. ``False``: ``pipeline.process`` on this thread.
        draw: also draw the before/after panes off the GUI thread (in the judge stage).
        threads: the torch threads of each stage (:class:`LiveThreads`).
        on_result: called (from the thread that made it) after each result is put in
            :attr:`results`, so the GUI can show it at once instead of at its next
            timer tick (the window passes a queued Qt signal's ``emit``).

    While paused no frame is pulled; a settings change re-processes the last frame so
    that the panes follow the controls.
    """

    def __init__(self, pipeline: FramePipeline, capture: CaptureThread,
                 settings: PipelineSettings, *, reopen: CaptureFactory | None = None,
                 overlap: bool = False, draw: bool = False,
                 threads: LiveThreads | None = None,
                 on_result: Callable[[], None] | None = None) -> None:
        super().__init__(name="inference", daemon=True)
        self.overlap = overlap
        self.draw = draw
        self.threads = threads or LiveThreads()
        self._on_result = on_result
        # The judge stage's thread; at most one frame is in it, so frames finish in order.
        self._judge: ThreadPoolExecutor | None = None
        self._judging: Future[None] | None = None
        # The detector's thread (with overlap): at most one detection runs at a time.
        self._detect: ThreadPoolExecutor | None = None
        self._detecting: Future[FoundRegions] | None = None
        # When the detection in flight was asked for: frames begun by then, capture time.
        self._detected_at = (0, 0.0)
        self._begun = 0  # frames this worker began (advancing ones, every mode)
        self._since_detection = 0
        # A mode that detects every frame: the frame whose detection runs ahead of it.
        self._held: tuple[CapturedFrame, Future[FoundRegions]] | None = None
        self._share: float | None = None  # set_cpu_share
        self._frame_cost = 0.0  # seconds of work the last frame took, all threads
        self._last_start = 0.0
        self._pipeline = pipeline
        self._next_pipeline: Mailbox[tuple[FramePipeline, PipelineSettings | None]] = Mailbox()
        # Guards the pair (waiting pipeline, settings in effect): GUI hand-offs and the
        # worker's take each change both in one step.
        self._handoff = threading.Lock()
        self._capture = capture
        self._settings = settings
        self._reopen = reopen
        self.source_name = capture.source.name
        self.is_live = capture.is_live
        self.results: Mailbox[ProcessedFrame] = Mailbox()
        self.messages = MessageLog()
        self.stop_event = threading.Event()
        self.ended = threading.Event()  # a file source ended and is not looped
        self._paused = threading.Event()
        self._start_called = False
        self._last_frame: CapturedFrame | None = None
        self._last_settings: PipelineSettings | None = None
        self.processed = 0

    # -- called from other threads ----------------------------------------------------
    @property
    def settings(self) -> PipelineSettings:
        return self._settings

    @property
    def pipeline_model(self) -> object:
        """The model of the newest pipeline handed to this worker (for checks only)."""
        pending = self._next_pipeline.peek()
        return (pending[0] if pending else self._pipeline).model

    @property
    def capture(self) -> CaptureThread:
        """The current capture thread, for inspection (only this worker drives it)."""
        return self._capture

    def update_settings(self, settings: PipelineSettings) -> None:
        """Use ``settings`` from the next frame on. A pipeline handed over and not yet
        taken carries these newer settings instead of its own (they are meant for it).
        Called from one thread (the GUI's), like :meth:`replace_pipeline`; the hand-off
        lock makes "is a pipeline waiting?" and the swap one step, so the worker cannot
        take the waiting pipeline, with its older settings, in between."""
        with self._handoff:
            pending = self._next_pipeline.peek()
            if pending is not None:
                self._next_pipeline.put((pending[0], settings))
            else:
                self._settings = settings

    def replace_pipeline(self, pipeline: FramePipeline,
                         settings: PipelineSettings | None = None) -> None:
        """Hand over another pipeline (e.g. for a new model), used from the next frame
        together with ``settings`` when given (a model with other labels needs both at
        once); a newer one handed over before that replaces this one."""
        with self._handoff:
            self._next_pipeline.put((pipeline, settings))

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    def set_cpu_share(self, share: float | None) -> None:
        """Let the live view use at most about ``share`` of the time (``None``: as much
        as frames need): after a frame whose stages took ``t`` seconds, the next one
        starts ``t / share`` seconds after it (a live source drops the frames in
        between). The window sets it while a refinement job runs, so that the job gets
        the rest of the CPU, whatever the mode costs per frame."""
        if share is not None and not 0 < share <= 1:
            raise ValueError(f"a CPU share must be in (0, 1], got {share}")
        self._share = share  # one reference: atomic

    def take_result(self) -> ProcessedFrame | None:
        return self.results.take()

    def stop(self, timeout: float = 1.0) -> bool:
        """Ask this thread to stop and wait at most ``timeout`` seconds; True when it
        (and so its capture, which it stops on its way out) has ended."""
        self.stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)
        elif not self._start_called:
            self._capture.stop(timeout)  # never started: the capture still holds the source
        return not self.is_alive()

    def start(self) -> None:
        self._start_called = True
        super().start()

    # -- the thread -------------------------------------------------------------------
    def run(self) -> None:
        if self.overlap:
            self._judge = ThreadPoolExecutor(1, thread_name_prefix="judge",
                                             initializer=use_threads,
                                             initargs=(self.threads.judge,))
            self._detect = ThreadPoolExecutor(1, thread_name_prefix="detect",
                                              initializer=use_threads,
                                              initargs=(self.threads.judge,))
        try:
            if not self._capture.is_alive() and not self._capture.ended.is_set():
                self._capture.start()
            self._loop()
        finally:
            self._capture.stop(0.5)
            if self._judge is not None:
                self._wait_for_judge()
                self._judge.shutdown(wait=True)
            if self._detect is not None:
                self._forget_detection()
                self._detect.shutdown(wait=True)

    def _take_handoff(self) -> None:
        with self._handoff:
            handed = self._next_pipeline.take()
            if handed is not None and handed[1] is not None:
                self._settings = handed[1]
        if handed is not None:
            self._wait_for_judge()  # the old pipeline's last frame finishes first
            self._forget_detection()
            self._pipeline = handed[0]
            self._last_settings = None  # show the new model's view even when paused

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            self._take_handoff()
            self._forward_capture_errors()
            if self._paused.is_set():
                if self._last_frame is not None and self._settings != self._last_settings:
                    # Same frame, new settings: keep the tracks where they are.
                    self._process(self._last_frame, advance=False)
                else:
                    self.stop_event.wait(0.03)
                continue
            share = self._share
            interval = 0.0 if share is None else self._frame_cost / share
            wait = self._last_start + interval - time.monotonic()
            if wait > 0:  # a job runs: leave it the CPU (set_cpu_share)
                self.stop_event.wait(min(wait, 0.1))
                continue
            frame = self._capture.get(timeout=0.05)
            if frame is None:
                if self._capture.finished():
                    self._release_held()
                    self._end_of_source()
                continue
            detector = self._looking_ahead(self._settings)
            if detector is None:
                self._release_held()  # the mode changed: finish the frame held back
                self._process(frame)
                continue
            held, self._held = self._held, (frame, self._detect_soon(detector, frame))
            if held is not None:
                self._process(*held)

    def _looking_ahead(self, settings: PipelineSettings) -> Detector | None:
        """The detector to run one frame ahead (overlap, and a mode that detects every
        frame), else ``None``."""
        if self._detect is None or not self._pipeline.mode(settings.mode).detect_every_frame:
            return None
        return self._pipeline.detector_for_another_thread(settings)

    def _detect_soon(self, detector: Detector, frame: CapturedFrame) -> Future[FoundRegions]:
        assert self._detect is not None
        return self._detect.submit(find_regions, detector, frame.image,
                                   self._pipeline.model.device)

    def _release_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._process(*held)

    def _process(self, frame: CapturedFrame, found: Future[FoundRegions] | None = None,
                 advance: bool = True) -> None:
        self._last_frame = frame
        self._last_start = time.monotonic()
        self._begun += advance
        settings = self._settings
        started = time.perf_counter()
        use_threads(self.threads.for_prepare(
            self._pipeline.mode(settings.mode).gradients_every_frame))
        try:
            if self._judge is None:
                result = self._pipeline.process(frame.image, settings, advance=advance,
                                                should_stop=self.stop_event.is_set)
            else:
                if found is not None:  # detected while the frame before was processed
                    detect, found_regions = False, found.result()
                else:
                    detect, found_regions = self._detect_ahead(frame, settings, advance)
                prepared = self._pipeline.prepare(frame.image, settings, advance=advance,
                                                  should_stop=self.stop_event.is_set,
                                                  found=found_regions, detect=detect)
        except OperationCancelled:
            return
        except Exception as exc:  # a bad frame or setting must not kill the live view
            self._failed(frame, exc)
            self._last_settings = settings
            self.stop_event.wait(0.2)
            return
        self._last_settings = settings
        if self._judge is None:
            self._publish(frame, result, started)
            return
        self._wait_for_judge()  # frame n-1 was judged while frame n was prepared
        self._judging = self._judge.submit(self._finish, self._pipeline, frame, prepared,
                                           started, found_regions.seconds
                                           if found_regions is not None else 0.0)

    def _detect_ahead(self, frame: CapturedFrame, settings: PipelineSettings,
                      advance: bool) -> tuple[bool, FoundRegions | None]:
        """Run the detector on the "detect" thread: (whether the pipeline must detect
        itself, the regions found on an earlier frame if they just arrived)."""
        detector = self._pipeline.detector_for_another_thread(settings)
        if self._detect is None or detector is None or \
                self._pipeline.mode(settings.mode).detect_every_frame:
            return True, None
        if not advance:
            return False, None
        found = None
        if self._detecting is not None and self._detecting.done():
            try:
                found = self._detecting.result()
            except Exception as exc:  # a failed detection is reported, the view goes on
                self._failed(frame, exc)
            self._detecting = None
            # Boxes from long ago (another mode ran meanwhile, a pause) are not for this
            # frame. Counted in frames this worker began, not capture indices: a live
            # source drops frames while a slow mode runs, and those boxes are fresh.
            begun, captured = self._detected_at
            if (self._begun - begun > settings.detect_every + 1
                    or frame.timestamp - captured > STALE_DETECTION_S):
                found = None
        if self._detecting is None and (self._since_detection == 0
                                        or self._since_detection >= settings.detect_every):
            self._detecting = self._detect.submit(find_regions, detector, frame.image,
                                                  self._pipeline.model.device)
            self._detected_at = (self._begun, frame.timestamp)
            self._since_detection = 0
        self._since_detection += 1
        return False, found

    def _forget_detection(self) -> None:
        """Drop a detection in flight (a new pipeline or a restarted source)."""
        detecting, self._detecting = self._detecting, None
        self._since_detection = 0
        if detecting is not None:
            detecting.cancel()
            try:
                detecting.result()
            except Exception:  # its result is dropped anyway
                logger.debug("a dropped detection failed", exc_info=True)

    def _finish(self, pipeline: FramePipeline, frame: CapturedFrame, prepared: PreparedFrame,
                started: float, detect_seconds: float) -> None:
        """The judge stage (its own thread, one frame at a time, in order). A pipeline is
        swapped or reset only after :meth:`_wait_for_judge`, so ``pipeline`` is never
        used by two stages of different frames in a conflicting way."""
        try:
            self._publish(frame, pipeline.judge(prepared), started, detect_seconds)
        except Exception as exc:  # reported like a failure of the first stage
            self._failed(frame, exc)

    def _publish(self, frame: CapturedFrame, result: FrameResult, started: float,
                 detect_seconds: float = 0.0) -> None:
        panes = ((draw_pane(result, after=False), draw_pane(result, after=True))
                 if self.draw else None)
        self.processed += 1  # one writer at a time: this thread, or the judge thread
        self._frame_cost = result.timings.total + detect_seconds  # one float: atomic
        finished = time.monotonic()
        self.results.put(ProcessedFrame(self.processed, result, frame.timestamp, finished,
                                        time.perf_counter() - started, self.is_live,
                                        frame.index, panes))
        if self._on_result is not None:
            self._on_result()

    def _failed(self, frame: CapturedFrame, exc: Exception) -> None:
        logger.error("processing frame %d failed", frame.index, exc_info=exc)
        self.messages.add(f"processing failed: {exc}")

    def _wait_for_judge(self) -> None:
        judging, self._judging = self._judging, None
        if judging is not None:
            try:
                judging.result()  # _finish reports its own errors; this only waits
            except Exception:  # never raise into this thread's loop
                logger.exception("the judge stage failed")

    def _forward_capture_errors(self) -> None:
        for message in self._capture.pop_errors():
            self.messages.add(message)

    def _end_of_source(self) -> None:
        if self._reopen is None:
            if not self.ended.is_set():
                self.ended.set()
                self.messages.add(f"end of {self.source_name}")
            self.stop_event.wait(0.1)
            return
        self._capture.stop(0.2)
        try:
            capture = self._reopen()
        except SourceError as exc:
            self.messages.add(f"cannot restart the source: {exc}")
            self._reopen = None
            return
        capture.start()
        self._capture = capture
        self._wait_for_judge()
        self._forget_detection()
        self._pipeline.reset()  # this thread's own pipeline, between two frames
