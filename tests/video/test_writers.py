"""``VideoWriter``: GIF and MP4 round trips, all-or-nothing output, argument checks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.video.writers import VideoWriter

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
