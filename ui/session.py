"""The window's two helpers: the source session (capture + inference threads) and the
output session (snapshots and recordings).

Owner: the GUI thread. Neither touches a widget: they return values (results,
messages, label texts) and the window shows them. They talk to their threads only
through the workers' mailboxes, events and finished values.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.files import atomic_write_bytes
from chickensaviour.live import FramePipeline, FrameResult, PipelineSettings
from chickensaviour.live.draw import side_by_side
from chickensaviour.live.threads import LiveThreads
from chickensaviour.video.capture import CaptureThread
from chickensaviour.video.sources import open_source
from ui.constants import GIF_WIDTH
from ui.handoffs import BackgroundTask
from ui.recorder import Recorder
from ui.workers import InferenceWorker, ProcessedFrame

logger = logging.getLogger(__name__)

MAX_GIF_FRAMES = 300
MAX_MP4_FRAMES = 9000
RETIRE_JOIN_S = 5.0


@dataclass(frozen=True)
class OpenedSource:
    """What opening a source builds off the GUI thread, handed over whole."""

    spec: str
    name: str
    fps: float
    is_live: bool
    capture: CaptureThread
    pipeline: FramePipeline
    reopen: Callable[[], CaptureThread] | None


@dataclass(frozen=True)
class SourcePoll:
    """What :meth:`SourceSession.poll` found: the newest result, messages for the status
    bar, and the source that started playing (its spec) if one just did."""

    frame: ProcessedFrame | None = None
    messages: tuple[str, ...] = ()
    started: str | None = None
    failed: str | None = None


class SourceSession:
    """Opens sources off the GUI thread and runs one :class:`InferenceWorker` at a time.

    Each worker gets a pipeline of its own (``make_pipeline``): a source switch never
    resets or shares a pipeline under a running frame. The old worker is told to stop
    and joined later, without blocking the GUI.
    """

    def __init__(self, make_pipeline: Callable[[], FramePipeline],
                 settings: PipelineSettings, *, as_camera: bool = False,
                 overlap: bool = True, threads: LiveThreads | None = None,
                 on_result: Callable[[], None] | None = None) -> None:
        self.make_pipeline = make_pipeline
        self.threads = threads or LiveThreads()
        self.on_result = on_result
        self.as_camera = as_camera  # video files play as a live source (real time)
        self.overlap = overlap
        self._settings = settings
        self._opening_spec = ""
        self.worker: InferenceWorker | None = None
        self.spec = ""
        self.fps = 15.0
        self.paused = False
        self.cpu_share: float | None = None
        self.opening: BackgroundTask[OpenedSource] | None = None
        self.retired: list[InferenceWorker] = []

    def open(self, spec: str) -> str:
        """Start opening ``spec`` (off the GUI thread); returns a status message. The
        current source keeps playing until the new one is ready, and stays if it fails."""
        if self.opening is not None:
            self.opening.discard()
        make_pipeline, as_camera = self.make_pipeline, self.as_camera

        def work() -> OpenedSource:
            source = open_source(spec, as_camera=as_camera)
            try:
                pipeline = make_pipeline()
            except BaseException:
                source.close()
                raise
            reopen = None if source.is_live else (lambda: CaptureThread(open_source(spec)))
            return OpenedSource(spec, source.name, source.fps, source.is_live,
                                CaptureThread(source), pipeline, reopen)

        self._opening_spec = spec
        self.opening = BackgroundTask(f"open-{spec}", work,
                                      cleanup=lambda opened: opened.capture.stop(0.5))
        self.opening.start()
        return f"opening {spec}…"

    def poll(self) -> SourcePoll:
        """Start a source that finished opening; return the newest result and messages."""
        messages: list[str] = []
        started = failed = None
        opening = self.opening
        if opening is not None and opening.done.is_set():
            self.opening = None
            if opening.value is None:
                failed = self._opening_spec
                messages.append(f"cannot open source: {opening.error}")
            else:
                messages.append(self._start(opening.value, self._settings))
                started = opening.value.spec
        self._join_retired()
        frame = None
        if self.worker is not None:
            messages += self.worker.messages.pop_all()
            frame = self.worker.take_result()
        return SourcePoll(frame, tuple(messages), started, failed)

    def set_settings(self, settings: PipelineSettings) -> None:
        """The settings snapshot that new workers start with; also sent to the worker."""
        self._settings = settings
        if self.worker is not None:
            self.worker.update_settings(settings)

    def _start(self, opened: OpenedSource, settings: PipelineSettings) -> str:
        self.retire()
        self.spec, self.fps = opened.spec, opened.fps
        self.worker = InferenceWorker(opened.pipeline, opened.capture, settings,
                                      reopen=opened.reopen, overlap=self.overlap,
                                      draw=self.overlap, threads=self.threads,
                                      on_result=self.on_result)
        self.worker.set_paused(self.paused)
        self.worker.set_cpu_share(self.cpu_share)
        self.worker.start()
        kind = "live" if opened.is_live else "file, looped"
        return f"source: {opened.name} ({kind}, {opened.fps:.0f} fps)"

    def retire(self) -> None:
        """Tell the current worker to stop; it is joined later, off the critical path."""
        if self.worker is not None:
            self.worker.stop_event.set()
            self.retired.append(self.worker)
            self.worker = None

    def _join_retired(self) -> None:
        self.retired = [w for w in self.retired if w.is_alive()]

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if self.worker is not None:
            self.worker.set_paused(paused)

    def set_cpu_share(self, share: float | None) -> None:
        """Limit the live view's share of the CPU (now and for sources opened later)."""
        self.cpu_share = share
        if self.worker is not None:
            self.worker.set_cpu_share(share)

    def replace_pipeline(self, pipeline: FramePipeline, settings: PipelineSettings) -> None:
        """Hand a new pipeline (a new model) and the settings for it to the worker, used
        together from its next frame."""
        self._settings = settings
        if self.worker is not None:
            self.worker.replace_pipeline(pipeline, settings)

    def begin_stop(self) -> None:
        if self.opening is not None:
            self.opening.discard()
            self.opening = None
        self.retire()

    def stop(self, timeout: float) -> list[InferenceWorker]:
        """Stop every worker within ``timeout`` seconds; returns those still running."""
        self.begin_stop()
        deadline = time.monotonic() + timeout
        for worker in self.retired:
            worker.stop(max(0.0, deadline - time.monotonic()))
        left = [w for w in self.retired if w.is_alive()]
        if left:
            logger.warning("%d inference thread(s) still busy after %.1f s", len(left), timeout)
        self.retired = left
        return left


class OutputSession:
    """Draws results for files and writes snapshots and recordings to ``out_dir``.

    Owner: the GUI thread; each :class:`Recorder` owns its writer on its own thread.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.recorder: Recorder | None = None
        self.closing: list[Recorder] = []
        self._format = "gif"

    # -- drawing ----------------------------------------------------------------------
    def composite(self, result: FrameResult, suffix: str,
                  track_id: int | None = None) -> np.ndarray:
        natural = result.before.shape[1] * 2 + 6
        width = min(GIF_WIDTH, natural) if suffix == "gif" else natural // 2 * 2
        # Snapshots and recordings show the top-5 bars, as the window does.
        return side_by_side(result, width=width, bars=True, track_id=track_id)

    def _name(self, stem: str, suffix: str) -> Path:
        now = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
        return self.out_dir / f"{stem}-{stamp}-{int(now * 1000) % 1000:03d}.{suffix}"

    # -- snapshots --------------------------------------------------------------------
    def snapshot(self, current: ProcessedFrame | None,
                 track_id: int | None = None) -> tuple[Path | None, str]:
        """Save the before|after view (with bars) as PNG: (path or None, message)."""
        if current is None:
            return None, "no frame to save yet"
        image = self.composite(current.result, "png", track_id)
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image[:, :, ::-1])).save(buffer, format="PNG")
        path = self._name("snapshot", "png")
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, buffer.getvalue())
        except (OSError, ChickenSaviourError) as exc:
            return None, f"snapshot failed: {exc}"
        return path, f"saved {path}"

    # -- recording --------------------------------------------------------------------
    def start_recording(self, suffix: str, fps: float) -> tuple[bool, str]:
        """Start recording to a new GIF or MP4: (started, message)."""
        if self.recorder is not None:
            return True, f"already recording to {self.recorder.path}"
        fps = min(max(fps, 1.0), 30.0)
        path = self._name("record", suffix)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            recorder = Recorder(path, fps, max_frames=MAX_GIF_FRAMES if suffix == "gif"
                                else MAX_MP4_FRAMES)
        except (OSError, ChickenSaviourError) as exc:
            return False, f"cannot record: {exc}"
        self.recorder = recorder
        self._format = suffix
        recorder.start()
        return True, f"recording to {path} at {fps:.0f} fps"

    def record(self, result: FrameResult, track_id: int | None = None) -> bool:
        """Add a frame; returns True when the recording is full (the caller stops it)."""
        recorder = self.recorder
        if recorder is None:
            return False
        recorder.add(self.composite(result, self._format, track_id))
        return recorder.full

    def stop_recording(self) -> str:
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return ""
        recorder.finish()
        self.closing.append(recorder)
        return f"finishing {recorder.path.name}…"

    def discard(self) -> str:
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return ""
        recorder.abort()
        self.closing.append(recorder)
        return "discarding the recording…"

    def poll(self) -> tuple[str, list[str]]:
        """The record label's text and messages about recordings that ended."""
        label = f"● REC {self.recorder.queued} frames" if self.recorder is not None else ""
        messages = []
        for recorder in [r for r in self.closing if r.done.is_set()]:
            self.closing.remove(recorder)
            if recorder.error:
                messages.append(f"recording not saved: {recorder.error}")
            elif recorder.aborted:
                messages.append("recording discarded")
            else:
                messages.append(f"saved {recorder.path} ({recorder.writer.count} frames)")
        return label, messages

    def begin_stop(self) -> None:
        self.stop_recording()

    def stop(self, timeout: float) -> list[Recorder]:
        """Wait up to ``timeout`` seconds for recordings to finish (a recording being
        closed with the window is finished, not thrown away); whatever is still not
        done by then is removed. Returns the recorders whose thread is still running."""
        self.begin_stop()
        deadline = time.monotonic() + timeout
        for recorder in self.closing:
            recorder.close_now(max(0.0, deadline - time.monotonic()))
        left = [r for r in self.closing if r.is_alive()]
        self.closing = []
        return left
