"""``CaptureThread``: reads a source off the main thread.

Live sources (camera, screen, still image, a file played as a camera) go through a
one-frame slot: a newer frame replaces an unread one, so consumers always get the freshest
frame and never fall behind. Sources whose ``read()`` returns at once (``needs_pacing``:
still image, screen) are read at most ``fps`` times a second; the thread never spins: it
sleeps a little after every live frame, so it cannot starve a GUI on a small machine.
Files go through a bounded queue: the reader waits for the consumer and every frame
arrives, in order. Read failures become error messages the GUI can show; live devices
are reopened after a pause instead of crashing the thread.

The source belongs to the capture thread: only it reads from the source, and the source
is closed exactly once, by the thread when it ends or by ``stop()`` when the thread never
ran. A source whose ``read()`` hangs cannot be interrupted safely, so ``stop()`` gives up
on it after its timeout: the daemon thread is abandoned (it closes the source if the read
ever returns) and ``stop()`` returns ``False``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.video.sources import FrameSource, SourceError, reader_must_pace

logger = logging.getLogger(__name__)

# The least the thread sleeps after a live frame: it gives up the CPU and the GIL even
# when a source returns at once or is behind its rate (1 ms is far below a frame time).
MIN_LIVE_GAP = 0.001


@dataclass(frozen=True)
class CapturedFrame:
    """A frame with its position in the stream and the time it was read."""

    index: int
    timestamp: float
    image: np.ndarray


class LatestFrameSlot:
    """Holds at most one frame; ``put`` replaces, ``take`` empties. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: CapturedFrame | None = None
        self._available = threading.Condition(self._lock)
        self.dropped = 0

    def put(self, frame: CapturedFrame) -> None:
        with self._lock:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._available.notify_all()

    def take(self, timeout: float | None = None) -> CapturedFrame | None:
        with self._lock:
            if self._frame is None and timeout:
                self._available.wait(timeout)
            frame, self._frame = self._frame, None
            return frame


class CaptureThread(threading.Thread):
    """Reads ``source`` until stopped (or, for a file, until its end).

    Args:
        source: any :class:`FrameSource`.
        queue_size: frames buffered for file sources.
        retry_interval: seconds between attempts to reopen a failed live device.
    """

    def __init__(self, source: FrameSource, *, queue_size: int = 8,
                 retry_interval: float = 1.0) -> None:
        super().__init__(name=f"capture-{source.name}", daemon=True)
        if queue_size < 1:
            raise ChickenSaviourError(f"queue_size must be >= 1, got {queue_size}")
        self.source = source
        self.retry_interval = retry_interval
        self.stop_event = threading.Event()
        self.ended = threading.Event()  # a file source reached its end
        self.slot = LatestFrameSlot()
        self.frames: queue.Queue[CapturedFrame] = queue.Queue(maxsize=queue_size)
        self._errors: deque[str] = deque(maxlen=32)
        self._errors_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._source_closed = False
        self._said_hung = False

    @property
    def is_live(self) -> bool:
        return self.source.is_live

    def stop(self, timeout: float = 1.0) -> bool:
        """Ask the thread to stop and wait at most ``timeout`` seconds for it.

        Returns ``True`` when the thread has ended (or never started) and its source is
        closed; ``False`` when the thread is still inside the source's ``read()`` (a hung
        device): it is then abandoned as a daemon thread and a warning is logged once.
        """
        self.stop_event.set()
        if threading.current_thread() is self:
            return False  # the loop sees the event and closes the source on its way out
        if self.ident is None:  # never started: nothing else will ever close the source
            self._close_source()
            return True
        self.join(timeout)
        if not self.is_alive():
            return True
        if not self._said_hung:
            self._said_hung = True
            logger.warning("capture of %s hung in read() and did not stop within %.1f s: "
                           "leaving its daemon thread behind", self.source.name, timeout)
        return False

    def get(self, timeout: float = 0.1) -> CapturedFrame | None:
        """The next frame (files) or the newest one (live), or ``None`` if none came."""
        if self.is_live:
            return self.slot.take(timeout)
        try:
            return self.frames.get(timeout=timeout)
        except queue.Empty:
            return None

    def finished(self) -> bool:
        """True once a file has ended and every frame has been taken."""
        return self.ended.is_set() and self.frames.empty()

    def pop_errors(self) -> list[str]:
        with self._errors_lock:
            errors = list(self._errors)
            self._errors.clear()
        return errors

    def _report(self, message: str) -> None:
        logger.warning("%s", message)
        with self._errors_lock:
            self._errors.append(message)

    def run(self) -> None:
        index = 0
        period = 1.0 / self.source.fps if self.source.fps > 0 else 0.0
        paced = reader_must_pace(self.source)
        try:
            while not self.stop_event.is_set():
                started = time.monotonic()
                try:
                    image = self.source.read()
                except SourceError as exc:
                    self._report(str(exc))
                    if not self.is_live:
                        break
                    self._recover()
                    continue
                if image is None:  # end of file
                    break
                frame = CapturedFrame(index, time.monotonic(), image)
                index += 1
                if self.is_live:
                    self.slot.put(frame)
                    wait = period - (time.monotonic() - started) if paced else 0.0
                    self.stop_event.wait(max(MIN_LIVE_GAP, wait))
                else:
                    self._put_in_order(frame)
        except Exception as exc:  # keep the GUI alive whatever a backend throws
            self._report(f"capture failed: {exc}")
        finally:
            self.ended.set()
            self._close_source()

    def _close_source(self) -> None:
        """Close the source once, whichever of the thread and ``stop()`` comes first."""
        with self._close_lock:
            if self._source_closed:
                return
            self._source_closed = True
        try:
            self.source.close()
        except Exception as exc:  # a backend failing to release must not raise in stop()
            logger.warning("closing %s failed: %s", self.source.name, exc)

    def _put_in_order(self, frame: CapturedFrame) -> None:
        while not self.stop_event.is_set():
            try:
                self.frames.put(frame, timeout=0.05)
                return
            except queue.Full:
                continue

    def _recover(self) -> None:
        reopen = getattr(self.source, "reopen", None)
        while not self.stop_event.wait(self.retry_interval):
            if reopen is None:
                return
            try:
                reopen()
                logger.info("reopened %s", self.source.name)
                return
            except SourceError as exc:
                self._report(f"{exc}; retrying")
