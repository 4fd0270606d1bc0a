"""Recording the before|after view to GIF or MP4 on its own thread, all-or-nothing."""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import numpy as np

from chickensaviour import files
from chickensaviour.errors import ChickenSaviourError, OperationCancelled, one_line
from chickensaviour.video.writers import VideoWriter

logger = logging.getLogger(__name__)

_FINISH = object()
_ABORT = object()
#: Frames waiting for the encoder at most; later ones are dropped rather than stall the GUI.
BACKLOG = 32
#: After a close timed out and the removal was requested: how long ``close_now`` still
#: waits for the thread to stop (it stops between two frames, or while saving a GIF).
ABORT_WAIT_S = 1.0


class Recorder(threading.Thread):
    """Feeds frames to a :class:`VideoWriter` so that encoding never blocks the GUI.

    Args:
        path: ``.gif`` or ``.mp4`` destination (validated here, on the caller's thread).
        fps: frame rate written into the file.
        max_frames: frames kept at most; later ones are ignored and ``full`` is set.

    ``finish()`` closes the file (renamed into place), ``abort()`` removes it; either
    way ``done`` is set once the thread has ended, with ``error`` holding any failure
    and ``aborted`` telling whether the file was dropped.

    Threads: the recorder thread alone owns ``writer`` (built here, on the caller's
    thread, so that a bad path fails at once; used only by the recorder thread from
    ``start()`` on). Other threads never call the writer: ``add``, ``finish``, ``abort``
    and ``close_now`` put frames and commands on a queue or set an abort request, which
    the recorder thread checks between frames and, under a lock, once more right before
    it publishes, so nothing is published once a removal was announced. ``done``,
    ``error``, ``aborted`` and ``writer.count`` are results, read after ``done`` is set;
    ``queued``, ``dropped`` and ``full`` belong to the thread that adds frames (the GUI).

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
        # Unbounded so that a command never blocks; add() keeps the frames to BACKLOG.
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._abort_requested = threading.Event()
        self._decision = threading.Lock()  # the abort request vs. the rename
        self._publishing = False
        self._closing = False

    # -- any thread but the recorder's ------------------------------------------------
    def add(self, frame: np.ndarray) -> bool:
        """Queue one BGR frame; False when it was not taken (full, closing or backlog)."""
        if self._closing or self.done.is_set():
            return False
        if self.queued >= self.max_frames:
            self.full = True
            return False
        if self._queue.qsize() >= BACKLOG:  # the encoder is behind: drop, don't stall
            self.dropped += 1
            return False
        self._queue.put(frame)
        self.queued += 1
        return True

    def finish(self) -> None:
        """Write everything queued, then move the file into place."""
        self._send(_FINISH)

    def abort(self) -> None:
        """Drop the recording (the thread stops at the next frame); nothing is left."""
        self._abort_requested.set()
        self._send(_ABORT)

    def close_now(self, timeout: float) -> None:
        """Finish within ``timeout`` seconds if possible, else remove the recording.

        After a timeout the removal is requested and announced (unless the file is
        already being renamed into place); then this waits up to :data:`ABORT_WAIT_S`
        for the thread to stop, and removes the temporary file itself if it has not.
        """
        self.finish()
        if self.done.wait(max(0.0, timeout)):
            return
        with self._decision:
            publishing = self._publishing
            if not publishing:
                self._abort_requested.set()
        if publishing:
            logger.info("recording %s is being moved into place", self.path.name)
        else:
            logger.warning("recording not finished in %.1f s; removing it", timeout)
            self._queue.put(_ABORT)  # wakes the thread if it is waiting for frames
        if self.done.wait(ABORT_WAIT_S) or publishing:
            return
        # Still inside a long encoder call: it will not publish (the request is checked
        # before the rename) and it writes through an open handle, so removing the file
        # by name now is safe and leaves nothing behind should the process exit first.
        logger.warning("recorder still busy after %.1f s more; removed its temporary file",
                       ABORT_WAIT_S)
        files.discard_temporary(self.writer.temp_path)

    def _send(self, command: object) -> None:
        if self.done.is_set():
            return
        self._closing = True
        if self.ident is None:
            self.start()  # never started: it still has to finish or remove the file
        self._queue.put(command)

    # -- the recorder thread ------------------------------------------------------------
    def run(self) -> None:
        published = False
        try:
            published = self._record()
        except OperationCancelled:
            pass  # an abort request seen while finishing
        except ChickenSaviourError as exc:
            logger.warning("recording to %s failed: %s", self.path, exc)
            self.error = str(exc)
        except Exception as exc:
            logger.exception("recording to %s failed", self.path)
            self.error = one_line(exc)
        finally:
            if not published:
                self.aborted = True
                self.writer.abort()  # also on KeyboardInterrupt/SystemExit in this thread
            self._drain()
            self.done.set()

    def _record(self) -> bool:
        """Write frames until a command; True when the file was published."""
        while not self._abort_requested.is_set():
            item = self._queue.get()
            if item is _ABORT or self._abort_requested.is_set():
                return False
            if item is _FINISH:
                return self._publish()
            assert isinstance(item, np.ndarray)
            self.writer.write(item)
        return False

    def _publish(self) -> bool:
        if self.writer.count == 0:
            self.error = "nothing was recorded"
            return False
        self.writer.finalize(should_stop=self._abort_requested.is_set)
        with self._decision:
            if self._abort_requested.is_set():
                return False
            self._publishing = True
        self.writer.publish()
        return True

    def _drain(self) -> None:
        """Let go of frames still queued (memory) once the thread is done with them."""
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
