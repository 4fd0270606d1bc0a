"""Threads at the edges of the live window: inference, block refinement, model loading.

None of these import Qt. Each owns its loop and talks to the GUI through one-slot
mailboxes (newest wins) that the GUI polls on a timer; settings travel the other way as
immutable :class:`PipelineSettings` snapshots, so no object is shared mutably.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from chickensaviour.errors import OperationCancelled
from chickensaviour.overlay.blocks import Context
from chickensaviour.pipeline import FramePipeline, FrameResult, PipelineSettings
from chickensaviour.video.capture import CapturedFrame, CaptureThread
from chickensaviour.video.sources import SourceError
from chickensaviour.zoo import ImageClassifier, load_model
from ui.cancel import Cancelled, install, stop_on

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Holds the newest item only: ``put`` replaces, ``take`` empties. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: T | None = None

    def put(self, item: T) -> None:
        with self._lock:
            self._item = item

    def take(self) -> T | None:
        with self._lock:
            item, self._item = self._item, None
            return item


class MessageLog:
    """Messages for the status bar, collected from any thread."""

    def __init__(self, size: int = 32) -> None:
        self._lock = threading.Lock()
        self._messages: deque[str] = deque(maxlen=size)

    def add(self, message: str) -> None:
        with self._lock:
            self._messages.append(message)

    def pop_all(self) -> list[str]:
        with self._lock:
            messages = list(self._messages)
            self._messages.clear()
        return messages


@dataclass(frozen=True)
class ProcessedFrame:
    """A pipeline result with its place in the stream and when it was read and finished.

    ``sequence`` counts processed frames of this worker from 1; times are
    ``time.monotonic()`` seconds; ``live`` is False for files (whose frames wait in a
    queue, so their age says how far behind playback is, not how slow the pipeline is).
    """

    sequence: int
    result: FrameResult
    captured_at: float
    finished_at: float
    process_seconds: float
    live: bool = True

    @property
    def latency(self) -> float:
        """Seconds from reading the frame to having its result."""
        return self.finished_at - self.captured_at


CaptureFactory = Callable[[], CaptureThread]


class InferenceWorker(threading.Thread):
    """Pulls frames from a :class:`CaptureThread` and runs the pipeline on each.

    Args:
        pipeline: the :class:`FramePipeline` (used by this thread only).
        capture: a started or unstarted capture thread; the worker starts and stops it.
        settings: the first settings snapshot.
        reopen: for file sources, builds a fresh capture when the file ends (looping);
            ``None`` stops at the end.

    While paused no frame is pulled; a settings change re-processes the last frame so
    that the panes follow the controls.
    """

    def __init__(self, pipeline: FramePipeline, capture: CaptureThread,
                 settings: PipelineSettings, *, reopen: CaptureFactory | None = None) -> None:
        super().__init__(name="inference", daemon=True)
        self._pipeline = pipeline
        self._next_pipeline: FramePipeline | None = None
        self.capture = capture
        self._settings = settings
        self._reopen = reopen
        self.results: Mailbox[ProcessedFrame] = Mailbox()
        self.messages = MessageLog()
        self.stop_event = threading.Event()
        self.ended = threading.Event()  # a file source ended and is not looped
        self._paused = threading.Event()
        self._last_frame: CapturedFrame | None = None
        self._last_settings: PipelineSettings | None = None
        self.processed = 0

    # -- called from the GUI thread ---------------------------------------------------
    @property
    def settings(self) -> PipelineSettings:
        return self._settings

    def update_settings(self, settings: PipelineSettings) -> None:
        """Use ``settings`` from the next frame on (a reference swap: atomic)."""
        self._settings = settings

    def replace_pipeline(self, pipeline: FramePipeline) -> None:
        """Switch to another pipeline (e.g. a new model) before the next frame."""
        self._next_pipeline = pipeline

    @property
    def pipeline(self) -> FramePipeline:
        return self._next_pipeline or self._pipeline

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    def take_result(self) -> ProcessedFrame | None:
        return self.results.take()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop this thread and its capture, waiting at most ``timeout`` seconds in all."""
        deadline = time.monotonic() + timeout
        self.stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(max(0.0, deadline - time.monotonic()))
        self.capture.stop(max(0.0, deadline - time.monotonic()))

    # -- the thread -------------------------------------------------------------------
    def run(self) -> None:
        if not self.capture.is_alive() and not self.capture.ended.is_set():
            self.capture.start()
        with stop_on(self.stop_event):
            self._loop()
        self.capture.stop(0.5)

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            if self._next_pipeline is not None:
                self._pipeline, self._next_pipeline = self._next_pipeline, None
                self._last_settings = None  # show the new model's view even when paused
            self._forward_capture_errors()
            if self._paused.is_set():
                if self._last_frame is not None and self._settings != self._last_settings:
                    # Same frame, new settings: keep the tracks where they are.
                    self._process(self._last_frame, advance=False)
                else:
                    self.stop_event.wait(0.03)
                continue
            frame = self.capture.get(timeout=0.05)
            if frame is None:
                if self.capture.finished():
                    self._end_of_source()
                continue
            self._last_frame = frame
            self._process(frame)

    def _process(self, frame: CapturedFrame, advance: bool = True) -> None:
        settings = self._settings
        started = time.perf_counter()
        try:
            result = self._pipeline.process(frame.image, settings, advance=advance)
        except Cancelled:
            return
        except Exception as exc:  # a bad frame or setting must not kill the live view
            logger.exception("processing frame %d failed", frame.index)
            self.messages.add(f"processing failed: {exc}")
            self._last_settings = settings
            self.stop_event.wait(0.2)
            return
        self._last_settings = settings
        self.processed += 1
        finished = time.monotonic()
        self.results.put(ProcessedFrame(self.processed, result, frame.timestamp, finished,
                                        time.perf_counter() - started, self.capture.is_live))

    def _forward_capture_errors(self) -> None:
        for message in self.capture.pop_errors():
            self.messages.add(message)

    def _end_of_source(self) -> None:
        if self._reopen is None:
            if not self.ended.is_set():
                self.ended.set()
                self.messages.add(f"end of {self.capture.source.name}")
            self.stop_event.wait(0.1)
            return
        self.capture.stop(0.2)
        try:
            capture = self._reopen()
        except SourceError as exc:
            self.messages.add(f"cannot restart the source: {exc}")
            self._reopen = None
            return
        capture.start()
        self.capture = capture
        self._pipeline.reset()


class RefineWorker(threading.Thread):
    """Runs :meth:`FramePipeline.refine_block` once (seconds to minutes) off the GUI thread.

    ``state`` is "running", then "done" or "failed" (with ``message``). The refined
    block lands in the pipeline's cache, so the inference thread picks it up by itself.
    :meth:`cancel` stops it at the next optimisation step (or, while the starting block
    is being made, at the next layer of the model); ``done``/``total`` count the steps.
    """

    def __init__(self, pipeline: FramePipeline, settings: PipelineSettings) -> None:
        super().__init__(name="refine-block", daemon=True)
        self.pipeline = pipeline
        self.settings = settings
        self.state = "running"
        self.message = ""
        self.started_at = time.monotonic()
        self.finished_at: float | None = None
        self.contexts = _snapshot_contexts(pipeline)
        self._cancel = threading.Event()
        self.done = 0
        self.total = 0

    def _progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    @property
    def elapsed(self) -> float:
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return end - self.started_at

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        try:
            with stop_on(self._cancel):
                self.pipeline.refine_block(self.settings, self.contexts,
                                           progress=self._progress,
                                           should_stop=self._cancel.is_set)
        except (Cancelled, OperationCancelled):
            self.state = "cancelled"
        except Exception as exc:
            logger.exception("block refinement failed")
            self.message = str(exc)
            self.state = "failed"
        else:
            self.state = "done"
        finally:
            self.finished_at = time.monotonic()


def _snapshot_contexts(pipeline: FramePipeline) -> list[Context]:
    # deque.copy() runs in C without releasing the GIL, so it cannot see a half-done
    # append by the inference thread; retry once in case another interpreter differs.
    for _ in range(3):
        try:
            return list(pipeline.recent_contexts.copy())
        except RuntimeError:
            time.sleep(0.01)
    return []


class ModelLoader(threading.Thread):
    """Loads a model off the GUI thread; ``model`` or ``error`` is set when ``done``."""

    def __init__(self, name: str, loader: Callable[[str], ImageClassifier] = load_model) -> None:
        super().__init__(name=f"load-{name}", daemon=True)
        self.model_name = name
        self._loader = loader
        self.model: ImageClassifier | None = None
        self.error = ""
        self.done = threading.Event()

    def run(self) -> None:
        try:
            model = self._loader(self.model_name)
            install(model)  # before any other thread runs it
            self.model = model
        except Exception as exc:
            logger.warning("loading %s failed: %s", self.model_name, exc)
            self.error = str(exc)
        finally:
            self.done.set()
