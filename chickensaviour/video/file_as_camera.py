"""``FileAsCameraSource``: a video file played as a live camera.

A recorded clip stands in for a webcam in demos and benchmarks: frames come in real
time by the wall clock, a late reader gets the frame due now (the ones it missed are
skipped and counted), an early one waits for the next frame's time, and the clip loops
forever, so ``read()`` never returns ``None``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from chickensaviour.video.sources import SourceError, open_video_capture, read_bgr

logger = logging.getLogger(__name__)


class FileAsCameraSource:
    """A video file played in real time, newest frame only, looped (a live source).

    Frame ``n`` of the stream (counting on across loops) is due ``n / fps`` seconds
    after the first ``read()``. ``read()`` returns the frame due now: frames whose time
    has passed are grabbed without being converted and counted in ``skipped``; when
    called before the next frame is due it sleeps until then, so it never runs faster
    than real time. At the end of the file it rewinds and the timeline goes on (the
    first frame of the next loop is due right after the last one of this loop).

    Owner: the thread that reads it (the capture thread); ``skipped`` and
    ``frame_number`` may be read from others.

    Args:
        path: a video file OpenCV can decode.
        clock: seconds, monotonic (tests inject a fake one).
        sleep: waits that many seconds (tests inject one that advances their clock).

    Example: ``FileAsCameraSource("clip.mp4").read()`` -> BGR ``uint8`` ``(H, W, 3)``.
    """

    is_live = True
    needs_pacing = False  # read() waits for each frame's time itself

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = Path(path)
        self._capture, self.fps, first = open_video_capture(self.path)
        self.name = f"{self.path.name} (as camera)"
        self.frame_count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.skipped = 0  # frames whose time passed before anyone read them
        self.loops = 0  # times the file has been rewound
        self.frame_number = -1  # stream number of the last frame returned
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None  # clock time frame 0 of this loop is due
        self._loop_start_number = 0  # stream number of this loop's frame 0
        self._next = 0  # index in this loop of the first frame not yet returned
        self._position = 1  # index in the file of the frame the capture decodes next
        self._pending: np.ndarray | None = first  # decoded frame at _position - 1

    def read(self) -> np.ndarray:
        now = self._clock()
        if self._start is None:
            self._start = now
        due = self._due(now)
        if due < self._next:  # early: wait for the next frame's time
            self._sleep(max(0.0, self._start + self._next / self.fps - now))
            due = max(self._next, self._due(self._clock()))
        frame = self._frame_at(due)
        if frame is None:  # the file ended before the frame due now
            due = self._rewind(due)
            frame = self._frame_at(due)
            if frame is None:
                raise SourceError(f"{self.path} stopped delivering frames after a rewind")
        self._next = due + 1
        self.frame_number = self._loop_start_number + due
        return frame

    def close(self) -> None:
        self._capture.release()

    def _due(self, now: float) -> int:
        """Index in this loop of the frame due at ``now`` (a hair of slack for rounding)."""
        assert self._start is not None
        return math.floor((now - self._start) * self.fps + 1e-6)

    def _frame_at(self, index: int) -> np.ndarray | None:
        """Frame ``index`` of the file, skipping those before it; ``None`` past the end."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
            if self._position - 1 == index:
                return frame
            self.skipped += 1
        while self._position < index:
            if not self._capture.grab():  # decodes, but skips the colour conversion
                return None
            self._position += 1
            self.skipped += 1
        frame = read_bgr(self._capture)
        if frame is not None:
            self._position += 1
        return frame

    def _rewind(self, due: int) -> int:
        """Go back to the file's first frame; returns ``due`` as an index in the new loop.

        The timeline runs on: the new loop starts where the old one ended (a reader
        more than a loop late skips whole loops, counted).
        """
        assert self._start is not None
        length = self._position  # the file ended here
        if length < 1:
            raise SourceError(f"{self.path} has no frames left to play")
        laps = max(1, (due - length) // length + 1)
        self.skipped += (laps - 1) * length
        self._start += laps * length / self.fps
        self._loop_start_number += laps * length
        self.loops += laps
        if not self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0):
            logger.info("cannot seek in %s: reopening it to loop", self.path)
            self._capture.release()
            self._capture, _, self._pending = open_video_capture(self.path)
            self._position = 1
        else:
            self._position = 0
        self._next = 0
        return due - laps * length
