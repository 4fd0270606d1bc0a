"""``VideoWriter``: GIF and H.264 MP4 round trips, all-or-nothing output on full disks and
failed writes, argument checks."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from chickensaviour import files
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.video import writers
from chickensaviour.video.writers import VideoWriter
from tests.conftest import fill

WIDTH, HEIGHT = 64, 48


def frames(count: int) -> list[np.ndarray]:
    """Distinct BGR frames: a flat colour per frame with a moving white square."""
    out = []
    for i in range(count):
        frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        frame[:] = (40 * i % 256, 200 - 30 * i % 200, 90)
        frame[8:24, 4 + 6 * i : 20 + 6 * i] = 255
        out.append(frame)
    return out


def everything_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())  # hidden temporaries included


def test_gif_round_trip_keeps_frame_count_size_and_timing(tmp_path: Path) -> None:
    path = tmp_path / "clip.gif"
    writer = VideoWriter(path, fps=10)
    for frame in frames(5):
        writer.write(frame)
    assert not path.exists()  # nothing at the destination until close
    assert writer.close() == path
    assert everything_in(tmp_path) == ["clip.gif"]
    with Image.open(path) as gif:
        assert gif.n_frames == 5
        assert gif.size == (WIDTH, HEIGHT)
        assert gif.info["duration"] == 100
        gif.seek(2)
        rgb = np.asarray(gif.convert("RGB"))
    expected = frames(5)[2][:, :, ::-1]
    assert np.abs(rgb.astype(int) - expected.astype(int)).max() <= 8  # palette rounding


def test_mp4_round_trip_keeps_frame_count_and_size(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    writer = VideoWriter(path, fps=12)
    for frame in frames(6):
        writer.write(frame)
    writer.close()
    assert everything_in(tmp_path) == ["clip.mp4"]
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12, abs=0.01)
    decoded = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(frame)
    capture.release()
    assert len(decoded) == 6
    assert all(f.shape == (HEIGHT, WIDTH, 3) for f in decoded)
    # Lossy, but the picture is the one written: the white square is where it was.
    assert decoded[3][10:22, 26:36].mean() > 200


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_abort_leaves_nothing_and_keeps_an_existing_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"clip{suffix}"
    path.write_bytes(b"old")
    writer = VideoWriter(path, fps=10)
    for frame in frames(3):
        writer.write(frame)
    writer.abort()
    assert everything_in(tmp_path) == [path.name]
    assert path.read_bytes() == b"old"
    with pytest.raises(ChickenSaviourError, match="closed"):
        writer.write(frames(1)[0])


def test_close_without_frames_fails_and_leaves_nothing(tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "clip.gif", fps=10)
    with pytest.raises(ChickenSaviourError, match="no frame"):
        writer.close()
    assert everything_in(tmp_path) == []


@pytest.mark.parametrize("name", ["clip.avi", "clip.png", "clip", "clip.gif.tmp"])
def test_bad_suffix_is_refused_before_anything_is_created(tmp_path: Path, name: str) -> None:
    with pytest.raises(ChickenSaviourError, match=r"\.gif or \.mp4"):
        VideoWriter(tmp_path / name, fps=10)
    assert everything_in(tmp_path) == []


@pytest.mark.parametrize("fps", [0, -5, 0.4, 121, 1000])
def test_bad_fps_is_refused(tmp_path: Path, fps: float) -> None:
    with pytest.raises(ChickenSaviourError, match="fps"):
        VideoWriter(tmp_path / "clip.gif", fps=fps)
    assert everything_in(tmp_path) == []


def test_output_where_a_file_blocks_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    with pytest.raises(ChickenSaviourError):
        VideoWriter(tmp_path / "blocker" / "clip.gif", fps=10)
    assert everything_in(tmp_path) == ["blocker"]


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_bad_frames_are_refused(tmp_path: Path, suffix: str) -> None:
    writer = VideoWriter(tmp_path / f"clip{suffix}", fps=10)
    writer.write(frames(1)[0])
    with pytest.raises(ChickenSaviourError, match="size changed"):
        writer.write(np.zeros((HEIGHT + 2, WIDTH, 3), np.uint8))
    with pytest.raises(ChickenSaviourError, match="BGR uint8"):
        writer.write(np.zeros((HEIGHT, WIDTH, 3), np.float32))
    with pytest.raises(ChickenSaviourError, match="BGR uint8"):
        writer.write(np.zeros((HEIGHT, WIDTH), np.uint8))
    writer.abort()
    assert everything_in(tmp_path) == []


# -- failed writes: full disks, file-size limits, interrupts (nothing bad is published) --

GOOD_FRAMES = 3


def noise(count: int, width: int = 320, height: int = 240) -> list[np.ndarray]:
    """Incompressible frames: a few of them fill a small disk in any codec."""
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def good_file(path: Path) -> bytes:
    """Write a small valid clip at ``path``; returns its bytes (they must survive)."""
    writer = VideoWriter(path, fps=10)
    for frame in frames(GOOD_FRAMES):
        writer.write(frame)
    writer.close()
    return path.read_bytes()


def write_clip(path: Path, clip: list[np.ndarray]) -> None:
    """What ``render``/``detect`` do: write every frame, close; abort on any error."""
    writer = VideoWriter(path, fps=10)
    try:
        for frame in clip:
            writer.write(frame)
        writer.close()
    except BaseException:
        writer.abort()
        raise


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
@pytest.mark.parametrize("leave", [0, 16_384, 65_536, 131_072])
def test_full_disk_raises_and_keeps_the_old_file(small_disk: Path, suffix: str,
                                                 leave: int) -> None:
    path = small_disk / f"clip{suffix}"
    old = good_file(path)
    fill(small_disk, leave)
    with pytest.raises(ChickenSaviourError) as caught:
        write_clip(path, noise(12))
    assert "\n" not in str(caught.value) and path.name in str(caught.value)
    assert path.read_bytes() == old
    assert everything_in(small_disk) == [path.name, "filler"]
    assert files.remove_registered_temporaries() == []


#: Runs in a child process: a file-size limit is process-wide, and in the test process it
#: would also fail pytest's own writes to a redirected log (EFBIG).
_LIMITED_WRITER = """
import resource, signal, sys
import numpy as np
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.video.writers import VideoWriter
path, limit = sys.argv[1], int(sys.argv[2])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process
rng = np.random.default_rng(0)
frames = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(12)]
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
writer = VideoWriter(path, fps=10)
try:
    for frame in frames:
        writer.write(frame)
    writer.close()
except ChickenSaviourError as exc:
    writer.abort()
    print(exc)
    sys.exit(2)
"""


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
@pytest.mark.parametrize("limit", [1, 3_000, 40_000, 300_000])
def test_failed_writes_are_detected(tmp_path: Path, suffix: str, limit: int) -> None:
    """Write failures injected at the OS level: files may not grow past the limit
    (``write`` then returns short and fails with EFBIG, as on a full disk)."""
    pytest.importorskip("resource")
    path = tmp_path / f"clip{suffix}"
    old = good_file(path)
    done = subprocess.run([sys.executable, "-c", _LIMITED_WRITER, str(path), str(limit)],
                          capture_output=True, text=True, timeout=120, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 2, done.stderr
    message = done.stdout.strip()
    assert "\n" not in message and path.name in message
    assert path.read_bytes() == old
    assert everything_in(tmp_path) == [path.name]


def test_mp4_is_h264_yuv420p_with_the_index_first(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    writer = VideoWriter(path, fps=25)
    for frame in noise(7, 97, 61):  # odd sizes: H.264 in 4:2:0 needs even ones
        writer.write(frame)
    writer.close()
    assert writer.codec == "h264"
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (98, 62)
        decoded = list(container.decode(stream))
    assert len(decoded) == 7
    head = path.read_bytes()
    assert head.index(b"moov") < head.index(b"mdat")  # plays while it downloads


def test_a_wrong_frame_count_on_reopening_is_refused(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "clip.mp4"
    old = good_file(path)
    monkeypatch.setattr(writers, "count_frames", lambda *args: GOOD_FRAMES - 1)
    with pytest.raises(ChickenSaviourError, match="frames"):
        write_clip(path, frames(GOOD_FRAMES))
    assert path.read_bytes() == old
    assert everything_in(tmp_path) == [path.name]


def test_count_frames_reads_back_what_was_written(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    good_file(clip)
    assert writers.count_frames(clip, ".mp4") == GOOD_FRAMES
    data = clip.read_bytes()
    truncated = tmp_path / "cut.mp4"
    for cut in (len(data) - 1, len(data) // 2):  # a frame cut short is not counted
        truncated.write_bytes(data[:cut])
        assert writers.count_frames(truncated, ".mp4") < GOOD_FRAMES
    truncated.write_bytes(data[:100])  # no index
    with pytest.raises(ChickenSaviourError, match="cannot be read back"):
        writers.count_frames(truncated, ".mp4")
    gif = tmp_path / "clip.gif"
    good_file(gif)
    assert writers.count_frames(gif, ".gif", writers.gif_frame_ms(10)) == GOOD_FRAMES
    data = gif.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 5):  # no trailer: incomplete
        truncated.write_bytes(data[:cut])
        with pytest.raises(ChickenSaviourError, match="cannot be read back"):
            writers.count_frames(truncated, ".gif", writers.gif_frame_ms(10))


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("when", ["write", "close"])
def test_interrupt_while_writing_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str,
        interrupt: type[BaseException], when: str) -> None:
    """Ctrl-C inside the writer itself (not in the caller's loop) still cleans up."""
    path = tmp_path / f"clip{suffix}"
    old = good_file(path)
    writer = VideoWriter(path, fps=10)
    writer.write(frames(1)[0])

    def interrupted(*args: object, **kwargs: object) -> None:
        raise interrupt()

    if when == "write":
        monkeypatch.setattr(Image.Image, "quantize", interrupted)  # GIF's per-frame work
        monkeypatch.setattr(writers, "to_even_size", interrupted)  # MP4's per-frame work
        with pytest.raises(interrupt):
            writer.write(frames(2)[1])
    else:
        monkeypatch.setattr(writers, "count_frames", interrupted)
        with pytest.raises(interrupt):
            writer.close()
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert everything_in(tmp_path) == [path.name]
    assert files.remove_registered_temporaries() == []


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_temporary_is_registered_until_published(tmp_path: Path, suffix: str) -> None:
    """A signal handler that removes the registered temporaries stops the publication."""
    path = tmp_path / f"clip{suffix}"
    writer = VideoWriter(path, fps=10)
    writer.write(frames(1)[0])
    assert files.remove_registered_temporaries() == [writer.temp_path]
    writer.write(frames(2)[1])  # still writing into the removed file...
    with pytest.raises(ChickenSaviourError):
        writer.close()  # ...but it is never published
    assert everything_in(tmp_path) == []
    good = VideoWriter(path, fps=10)
    good.write(frames(1)[0])
    good.close()
    assert files.remove_registered_temporaries() == []  # unregistered once renamed


@pytest.mark.parametrize(("suffix", "fps"), [(".gif", 10), (".mp4", 29.97), (".mp4", 7.5)])
def test_a_still_scene_is_verified_by_display_time(tmp_path: Path, suffix: str,
                                                   fps: float) -> None:
    """A still photo records identical frames; GIF merges them into one longer frame."""
    path = tmp_path / f"still{suffix}"
    writer = VideoWriter(path, fps=fps)
    for _ in range(5):
        writer.write(frames(1)[0])
    writer.close()
    assert writers.count_frames(path, suffix, writers.gif_frame_ms(fps)) == 5
    if suffix == ".mp4":
        capture = cv2.VideoCapture(str(path))
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(fps, abs=0.01)
        capture.release()


def test_without_an_h264_encoder_opencv_writes_mpeg4_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(writers, "h264_encoder", lambda: None)
    path = tmp_path / "clip.mp4"
    with caplog.at_level(logging.INFO, logger="chickensaviour.video.writers"):
        writer = VideoWriter(path, fps=10)
        for frame in frames(4):
            writer.write(frame)
        writer.close()
    assert writer.codec == "mpeg4"
    assert "MPEG-4 Part 2" in caplog.text and "(mpeg4," in caplog.text
    assert writers.count_frames(path, ".mp4") == 4
    assert everything_in(tmp_path) == ["clip.mp4"]
