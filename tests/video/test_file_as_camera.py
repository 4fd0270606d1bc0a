"""A video file played as a live camera: real time, newest frame, looped forever."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from chickensaviour.video.capture import CaptureThread
from chickensaviour.video.file_as_camera import FileAsCameraSource
from chickensaviour.video.sources import (
    SourceError,
    StillImageSource,
    VideoFileSource,
    open_source,
    reader_must_pace,
)

FPS = 30.0
STEP = 20  # grey level per frame: frame i is filled with i * STEP


def _numbered_clip(path: Path, count: int = 10, fourcc: str = "MJPG") -> Path:
    """``count`` flat frames at 30 fps, frame ``i`` filled with grey ``i * STEP``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), FPS, (32, 24))
    assert writer.isOpened()
    for index in range(count):
        writer.write(np.full((24, 32, 3), index * STEP, dtype=np.uint8))
    writer.release()
    return path


def _number(frame: np.ndarray | None) -> int:
    """Which frame of the file this is (from its grey level)."""
    assert frame is not None and frame.shape == (24, 32, 3) and frame.dtype == np.uint8
    return round(float(frame.mean()) / STEP)


class FakeClock:
    """A monotonic clock that moves only when told to, or when something sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0.0
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return _numbered_clip(tmp_path / "numbered.avi")


def _source(path: Path, clock: FakeClock) -> FileAsCameraSource:
    return FileAsCameraSource(path, clock=clock, sleep=clock.sleep)


def test_back_to_back_reads_wait_for_each_frame_and_skip_none(clip: Path) -> None:
    clock = FakeClock()
    source = _source(clip, clock)
    assert source.is_live and source.fps == FPS and not reader_must_pace(source)
    started = clock.now
    numbers = [_number(source.read()) for _ in range(6)]
    assert numbers == [0, 1, 2, 3, 4, 5]
    assert clock.now - started == pytest.approx(5 / FPS)  # real time, not faster
    assert clock.slept[0] == pytest.approx(1 / FPS) and len(clock.slept) == 5
    assert source.skipped == 0 and source.frame_number == 5
    source.close()


def test_a_late_read_gets_the_frame_due_now_and_counts_the_skipped(clip: Path) -> None:
    clock = FakeClock()
    source = _source(clip, clock)
    assert _number(source.read()) == 0
    clock.now += 3.5 / FPS  # frames 1 and 2 went by unseen
    assert _number(source.read()) == 3
    assert source.skipped == 2 and clock.slept == []
    clock.now += 0.2 / FPS  # early again: waits for frame 4
    assert _number(source.read()) == 4
    assert source.skipped == 2 and clock.slept == [pytest.approx(0.3 / FPS)]
    source.close()


def test_the_clock_starts_at_the_first_read(clip: Path) -> None:
    clock = FakeClock()
    source = _source(clip, clock)
    clock.now += 10.0  # opened long before anyone reads: frame 0 is still first
    assert _number(source.read()) == 0 and source.skipped == 0
    clock.now += 2 / FPS  # frame 1 went by unseen
    assert _number(source.read()) == 2 and source.skipped == 1
    source.close()


def test_it_loops_forever_with_the_frame_number_running_on(clip: Path) -> None:
    clock = FakeClock()
    source = _source(clip, clock)
    started = clock.now
    frames = [source.read() for _ in range(25)]
    assert all(frame is not None for frame in frames)
    assert [_number(frame) for frame in frames] == [*range(10), *range(10), *range(5)]
    assert source.frame_number == 24 and source.loops == 2 and source.skipped == 0
    assert clock.now - started == pytest.approx(24 / FPS)  # no hiccup at the seams
    source.close()


def test_late_across_the_end_and_by_whole_loops(clip: Path) -> None:
    clock = FakeClock()
    source = _source(clip, clock)
    for _ in range(9):
        source.read()  # frames 0..8
    clock.now += 4 / FPS  # frame 12 (file frame 2) is due; 9, 10, 11 were missed
    assert _number(source.read()) == 2
    assert source.frame_number == 12 and source.skipped == 3 and source.loops == 1
    clock.now += 31 / FPS  # frame 43: three loops on, file frame 3
    assert _number(source.read()) == 3
    assert source.frame_number == 43 and source.skipped == 3 + 30 and source.loops == 4
    source.close()


def test_mp4_clips_rewind_to_their_first_frame(tmp_path: Path) -> None:
    clip = _numbered_clip(tmp_path / "numbered.mp4", count=6, fourcc="mp4v")
    clock = FakeClock()
    source = _source(clip, clock)
    assert [_number(source.read()) for _ in range(14)] == [*range(6), *range(6), 0, 1]
    source.close()


class _UnseekableCapture:
    """Wraps a capture whose ``set`` fails, as some backends' do."""

    def __init__(self, capture: cv2.VideoCapture) -> None:
        self._capture = capture

    def set(self, prop: int, value: float) -> bool:
        return False

    def grab(self) -> bool:
        return bool(self._capture.grab())

    def read(self) -> tuple[bool, np.ndarray | None]:
        return self._capture.read()

    def release(self) -> None:
        self._capture.release()


def test_a_file_that_cannot_seek_is_reopened_to_loop(clip: Path) -> None:
    clock = FakeClock()
    source = _source(clip, clock)
    source._capture = _UnseekableCapture(source._capture)  # type: ignore[assignment]
    assert [_number(source.read()) for _ in range(13)] == [*range(10), 0, 1, 2]
    source.close()


def test_it_keeps_real_time_on_the_real_clock(clip: Path) -> None:
    source = FileAsCameraSource(clip)
    started = time.monotonic()
    numbers = [_number(source.read()) for _ in range(4)]
    elapsed = time.monotonic() - started
    source.close()
    assert numbers[0] == 0 and numbers == sorted(numbers)
    assert elapsed >= 3 / FPS - 0.005  # never faster than real time


def test_open_source_as_camera(clip: Path, tmp_path: Path) -> None:
    source = open_source(str(clip), as_camera=True)
    assert isinstance(source, FileAsCameraSource) and source.is_live and source.fps == FPS
    source.close()
    plain = open_source(str(clip))
    assert isinstance(plain, VideoFileSource) and not plain.is_live
    plain.close()
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), np.zeros((4, 4, 3), np.uint8))
    still = open_source(str(image), as_camera=True)
    assert isinstance(still, StillImageSource) and reader_must_pace(still)


@pytest.mark.parametrize("content", [None, b"", b"not a video at all"])
def test_nonsense_as_camera_is_a_clear_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError):
        open_source(str(path), as_camera=True)
    with pytest.raises(SourceError, match="not found"):
        open_source("screen-ish nonsense", as_camera=True)


def test_capture_thread_delivers_only_the_newest_frames(clip: Path) -> None:
    source = FileAsCameraSource(clip)
    capture = CaptureThread(source)
    capture.start()
    try:
        time.sleep(0.25)  # a slow consumer: about 7 frames come and go meanwhile
        first = capture.get(timeout=1.0)
        assert first is not None
        produced = first.index + 1
        assert produced <= 0.25 * FPS + 3  # paced to real time by the source
        assert capture.slot.dropped >= 2
        second = capture.get(timeout=1.0)
        assert second is not None and second.index > first.index
        assert (_number(second.image) - _number(first.image)) % 10 >= 1
    finally:
        assert capture.stop(timeout=1.0)
    assert not capture.is_alive()


class _InstantLiveSource:
    """A live source whose ``read`` returns at once and asks for no pacing."""

    is_live = True
    fps = 30.0
    name = "instant"

    def __init__(self) -> None:
        self.reads = 0

    def read(self) -> np.ndarray | None:
        self.reads += 1
        return np.zeros((2, 2, 3), np.uint8)

    def close(self) -> None:
        pass


def test_the_capture_thread_never_spins_on_an_instant_source() -> None:
    source = _InstantLiveSource()
    capture = CaptureThread(source)
    capture.start()
    time.sleep(0.1)
    assert capture.stop(timeout=1.0)
    assert 0 < source.reads <= 0.1 / 0.001 + 5  # at least 1 ms between reads
