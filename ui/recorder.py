"""Recording the before|after view to GIF or MP4 on its own thread, all-or-nothing."""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import numpy as np

from chickensaviour.video.writers import VideoWriter

logger = logging.getLogger(__name__)

_FINISH = object()
_ABORT = object()


class Recorder(threading.Thread):
    """Feeds frames to a :class:`VideoWriter` so that encoding never blocks the GUI.

    Args:
        path: ``.gif`` or ``.mp4`` destination (validated here, on the caller's thread).
        fps: frame rate written into the file.
        max_frames: frames kept at most; later ones are ignored and ``full`` is set.

    ``finish()`` closes the file (renamed into place), ``abort()`` removes it; either
    way ``done`` is set once the thread has ended, with ``error`` holding any failure.

    Example::

        recorder = Recorder("out/clip.gif", fps=10); recorder.start()
        recorder.add(frame); recorder.finish(); recorder.done.wait()
    """

    def __init__(self, path: str | Path, fps: float, *, max_frames: int = 300) -> None:
        super().__init__(name="recorder", daemon=True)
        self.writer = VideoWriter(path, fps)
        self.path = self.writer.path
        self.max_frames = max_frames
        self.queued = 0
        self.dropped = 0
        self.full = False
        self.error = ""
        self.aborted = False
        self.done = threading.Event()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=32)
        self._closing = False

    def add(self, frame: np.ndarray) -> bool:
        """Queue one BGR frame; False when it was not taken (full, closing or backlog)."""
        if self._closing or self.done.is_set():
            return False
        if self.queued >= self.max_frames:
            self.full = True
            return False
        try:
            self._queue.put_nowait(frame)
        except queue.Full:  # the encoder is behind: drop rather than stall the GUI
            self.dropped += 1
            return False
        self.queued += 1
        return True

    def finish(self) -> None:
        """Write everything queued, then move the file into place."""
        self._send(_FINISH)

    def abort(self) -> None:
        """Drop the recording; nothing is left on disk."""
        self._send(_ABORT)

    def _send(self, command: object) -> None:
        if self._closing:
            return
        self._closing = True
        if self.done.is_set():
            return
        if not self.is_alive():
            self.start()  # never started: it still has to finish or remove the file
        self._queue.put(command)

    def run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _ABORT:
                    self.aborted = True
                    self.writer.abort()
                    return
                if item is _FINISH:
                    if self.writer.count == 0:
                        self.aborted = True
                        self.writer.abort()
                        self.error = "nothing was recorded"
                    else:
                        self.writer.close()
                    return
                assert isinstance(item, np.ndarray)
                self.writer.write(item)
        except Exception as exc:
            logger.exception("recording to %s failed", self.path)
            self.error = str(exc)
            self.aborted = True
            self.writer.abort()
        finally:
            self.done.set()

    def close_now(self, timeout: float) -> None:
        """Finish within ``timeout`` seconds if possible, else remove the file."""
        self.finish()
        if not self.done.wait(timeout):
            logger.warning("recording not finished in %.1f s; removing it", timeout)
            self.writer.abort()
