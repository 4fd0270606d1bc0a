from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from chickensaviour.video.capture import CapturedFrame, CaptureThread, LatestFrameSlot
from chickensaviour.video.sources import (
    SourceError,
    StillImageSource,
    VideoFileSource,
    open_source,
)


def _numbered_video(path: Path, count: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25, (32, 24))
    for index in range(count):
        writer.write(np.full((24, 32, 3), index * 8, dtype=np.uint8))
    writer.release()
    return path


class _ScriptedLiveSource:
    """A live source producing numbered frames quickly, failing once at frame 5."""

    is_live = True
    fps = 1000.0
    name = "scripted"

    def __init__(self) -> None:
        self.count = 0
        self.failed = False
        self.reopened = threading.Event()
        self.closed = False

    def read(self) -> np.ndarray | None:
        if self.count == 5 and not self.failed:
            self.failed = True
            raise SourceError("camera unplugged")
        self.count += 1
        time.sleep(0.001)
        return np.full((2, 2, 3), self.count % 256, dtype=np.uint8)

    def reopen(self) -> None:
        self.reopened.set()

    def close(self) -> None:
        self.closed = True


def test_file_source_delivers_every_frame_in_order(tmp_path: Path) -> None:
    source = VideoFileSource(_numbered_video(tmp_path / "n.avi", 20))
    capture = CaptureThread(source, queue_size=2)
    capture.start()
    seen = []
    time.sleep(0.2)  # the reader must wait for us, not drop frames
    while not capture.finished():
        frame = capture.get(timeout=0.5)
        if frame is not None:
            seen.append(frame.index)
    capture.stop()
    assert seen == list(range(20))
    assert not capture.is_alive()


def test_live_source_drops_stale_frames_and_recovers_from_errors() -> None:
    source = _ScriptedLiveSource()
    capture = CaptureThread(source, retry_interval=0.01)
    capture.start()
    time.sleep(0.3)  # the consumer is slow: many frames arrive meanwhile
    newest = capture.get(timeout=1.0)
    assert newest is not None
    assert capture.slot.dropped > 0
    assert source.reopened.wait(1.0)
    assert any("unplugged" in message for message in capture.pop_errors())
    later = capture.get(timeout=1.0)
    assert later is not None and later.index > newest.index
    started = time.monotonic()
    capture.stop(timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert not capture.is_alive() and source.closed


def test_latest_frame_slot_keeps_only_the_newest() -> None:
    slot = LatestFrameSlot()
    for index in range(3):
        slot.put(CapturedFrame(index, 0.0, np.zeros((1, 1, 3), np.uint8)))
    taken = slot.take()
    assert taken is not None and taken.index == 2 and slot.dropped == 2
    assert slot.take() is None


def test_still_image_repeats(tmp_path: Path) -> None:
    path = tmp_path / "s.png"
    cv2.imwrite(str(path), np.full((4, 5, 3), 7, dtype=np.uint8))
    source = open_source(str(path))
    assert isinstance(source, StillImageSource) and source.is_live
    first, second = source.read(), source.read()
    assert first is not None and second is not None and np.array_equal(first, second)


@pytest.mark.parametrize("content", [None, b"", b"not a video at all", b"\x00" * 4096])
def test_bad_video_files_are_clear_errors(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError):
        open_source(str(path))


def test_bad_source_specs() -> None:
    with pytest.raises(SourceError, match="screen region"):
        open_source("screen:1,2,3")
    with pytest.raises(SourceError, match="not found"):
        open_source("no/such/file.mp4")


def _descriptors_on(path: Path) -> int:
    """How many of this process's file descriptors point at ``path`` (Linux only)."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            if Path(fd.readlink()) == path.resolve():
                count += 1
        except OSError:
            continue
    return count


class _HungSource:
    """A live source whose ``read`` blocks until ``release`` is set (a frozen device)."""

    is_live = True
    fps = 30.0
    name = "hung"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.reading = threading.Event()
        self.closes = 0

    def read(self) -> np.ndarray | None:
        self.reading.set()
        self.release.wait()
        raise SourceError("device gone")

    def close(self) -> None:
        self.closes += 1


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_stopping_a_thread_that_never_started_closes_its_file(tmp_path: Path) -> None:
    path = _numbered_video(tmp_path / "n.avi", 5)
    capture = CaptureThread(VideoFileSource(path))
    assert _descriptors_on(path) >= 1
    stopped = capture.stop()
    assert _descriptors_on(path) == 0
    assert stopped is True


def test_stopping_a_thread_that_never_started_closes_its_source_once() -> None:
    source = _HungSource()
    capture = CaptureThread(source)
    stopped = capture.stop()
    capture.stop()
    assert source.closes == 1
    assert stopped is True


def test_a_hung_source_cannot_hold_stop_past_its_timeout(
        caplog: pytest.LogCaptureFixture) -> None:
    source = _HungSource()
    capture = CaptureThread(source)
    capture.start()
    assert source.reading.wait(1.0)
    started = time.monotonic()
    first, second = capture.stop(timeout=0.2), capture.stop(timeout=0.0)
    assert time.monotonic() - started < 0.6
    assert first is False and second is False  # it says the thread is still there
    assert capture.daemon and capture.is_alive()  # abandoned: it cannot block exit
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "hung" in r.message]
    assert len(warnings) == 1, "said once, not on every stop()"
    assert source.closes == 0  # closing under a running read() is not safe for it
    source.release.set()  # the device comes back: the thread ends and closes it
    capture.join(1.0)
    assert not capture.is_alive() and source.closes == 1


def test_stop_reports_a_clean_stop_and_the_thread_closes_its_source() -> None:
    source = _ScriptedLiveSource()
    capture = CaptureThread(source, retry_interval=0.01)
    capture.start()
    assert capture.stop(timeout=1.0) is True
    assert not capture.is_alive() and source.closed


def test_a_still_image_is_read_at_most_fps_times_a_second(tmp_path: Path) -> None:
    path = tmp_path / "s.png"
    cv2.imwrite(str(path), np.zeros((4, 4, 3), dtype=np.uint8))
    capture = CaptureThread(open_source(str(path), still_fps=50.0))
    capture.start()
    time.sleep(0.2)
    newest = capture.get(timeout=1.0)
    assert capture.stop(timeout=1.0)
    assert newest is not None and newest.index + 1 <= 0.2 * 50 + 3
