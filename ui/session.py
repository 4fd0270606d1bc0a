"""The window's two helpers: the source session (capture + inference threads) and the
output session (drawing, recording, snapshots). Both run on the GUI thread and only
talk to their threads through the workers' mailboxes.
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from chickensaviour.draw import side_by_side
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.files import atomic_write_bytes
from chickensaviour.pipeline import FramePipeline, FrameResult, PipelineSettings
from chickensaviour.video.capture import CaptureThread
from chickensaviour.video.sources import open_source
from ui.recorder import Recorder
from ui.workers import InferenceWorker, ProcessedFrame

if TYPE_CHECKING:
    from ui.main_window import MainWindow

logger = logging.getLogger(__name__)

GIF_WIDTH = 800  # GIFs are scaled down: palettes per frame are costly at full size
MAX_GIF_FRAMES = 300
MAX_MP4_FRAMES = 9000


class SourceSession:
    """Opens sources and runs one :class:`InferenceWorker` (with its capture) at a time."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.worker: InferenceWorker | None = None
        self.spec = ""
        self.fps = 15.0
        self.paused = False

    def open(self, spec: str) -> bool:
        """Switch to the source ``spec``; on failure the old one keeps running."""
        try:
            source = open_source(spec)
        except Exception as exc:  # an exception escaping a Qt slot would abort the app
            self.window.show_message(f"cannot open source: {exc}")
            return False
        self.stop(1.0)
        self.spec, self.fps = spec, source.fps
        self.window.pipeline.reset()
        reopen = None if source.is_live else (lambda: CaptureThread(open_source(spec)))
        self.worker = InferenceWorker(self.window.pipeline, CaptureThread(source),
                                      self.window.settings, reopen=reopen)
        self.worker.set_paused(self.paused)
        self.worker.start()
        kind = "live" if source.is_live else "file, looped"
        self.window.show_message(f"source: {source.name} ({kind}, {source.fps:.0f} fps)")
        return True

    def poll(self) -> ProcessedFrame | None:
        """Show the worker's messages; return its newest result, if any."""
        if self.worker is None:
            return None
        messages = self.worker.messages.pop_all()
        if messages:
            self.window.show_message(messages[-1], 8000)
        return self.worker.take_result()

    def push_settings(self, settings: PipelineSettings) -> None:
        if self.worker is not None:
            self.worker.update_settings(settings)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if self.worker is not None:
            self.worker.set_paused(paused)

    def replace_pipeline(self, pipeline: FramePipeline) -> None:
        if self.worker is not None:
            self.worker.replace_pipeline(pipeline)

    def begin_stop(self) -> None:
        if self.worker is not None:
            self.worker.stop_event.set()

    def stop(self, timeout: float) -> None:
        if self.worker is not None:
            self.worker.stop(timeout)
            if self.worker.is_alive():
                logger.warning("inference thread still busy after %.1f s", timeout)
            self.worker = None


class OutputSession:
    """Draws results for the panes and writes snapshots and recordings to ``out_dir``."""

    def __init__(self, window: MainWindow, out_dir: Path) -> None:
        self.window = window
        self.out_dir = out_dir
        self.recorder: Recorder | None = None
        self.closing: list[Recorder] = []
        self._format = "gif"

    # -- drawing ----------------------------------------------------------------------
    def composite(self, result: FrameResult, suffix: str) -> np.ndarray:
        natural = result.before.shape[1] * 2 + 6
        width = min(GIF_WIDTH, natural) if suffix == "gif" else natural // 2 * 2
        return side_by_side(result, width=width)

    def _name(self, stem: str, suffix: str) -> Path:
        now = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
        return self.out_dir / f"{stem}-{stamp}-{int(now * 1000) % 1000:03d}.{suffix}"

    # -- snapshots --------------------------------------------------------------------
    def snapshot(self) -> Path | None:
        """Save the current before|after view as PNG; returns its path."""
        current = self.window.current
        if current is None:
            self.window.show_message("no frame to save yet")
            return None
        image = self.composite(current.result, "png")
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image[:, :, ::-1])).save(buffer, format="PNG")
        path = self._name("snapshot", "png")
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, buffer.getvalue())
        except (OSError, ChickenSaviourError) as exc:
            self.window.show_message(f"snapshot failed: {exc}")
            return None
        self.window.show_message(f"saved {path}")
        return path

    # -- recording --------------------------------------------------------------------
    def start_recording(self, suffix: str) -> bool:
        if self.recorder is not None:
            return True
        fps = self.window.display_rate.rate or self.window.source.fps
        fps = min(max(fps, 1.0), 30.0)
        path = self._name("record", suffix)
        try:
            self.recorder = Recorder(path, fps, max_frames=MAX_GIF_FRAMES if suffix == "gif"
                                     else MAX_MP4_FRAMES)
        except ChickenSaviourError as exc:
            self.window.show_message(f"cannot record: {exc}")
            return False
        self._format = suffix
        self.recorder.start()
        self.window.show_message(f"recording to {path} at {fps:.0f} fps")
        return True

    def record(self, result: FrameResult) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        recorder.add(self.composite(result, self._format))
        if recorder.full:
            self.window.show_message(f"recording stopped at {recorder.max_frames} frames")
            self.window.record_action.setChecked(False)  # -> stop_recording()

    def stop_recording(self) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.finish()
            self.closing.append(recorder)
            self.window.show_message(f"finishing {recorder.path.name}…", 0)

    def discard(self) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.abort()
            self.closing.append(recorder)
        self.window.record_action.setChecked(False)
        self.window.discard_action.setEnabled(False)

    def poll(self) -> None:
        label = self.window.record_label
        if self.recorder is not None:
            label.setText(f"● REC {self.recorder.queued} frames")
        elif label.text():
            label.setText("")
        for recorder in [r for r in self.closing if r.done.is_set()]:
            self.closing.remove(recorder)
            if recorder.error:
                self.window.show_message(f"recording not saved: {recorder.error}")
            elif recorder.aborted:
                self.window.show_message("recording discarded")
            else:
                self.window.show_message(f"saved {recorder.path} ({recorder.writer.count} "
                                         "frames)")

    def begin_stop(self) -> None:
        if self.recorder is not None:
            self.recorder.finish()
            self.closing.append(self.recorder)
            self.recorder = None

    def stop(self, timeout: float) -> None:
        """Wait for recordings to finish; whatever is not done by then is removed."""
        deadline = time.monotonic() + timeout
        for recorder in self.closing:
            recorder.close_now(max(0.0, deadline - time.monotonic()))
        self.closing = []
