"""Large photos (issue 9.3): attack, sweep and dream work on a copy shrunk to a stated
size, so memory stays bounded; the note says so. (An 8000x6000 photo ended in an
allocator error; the limits are lowered here so the test runs in seconds.)"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from chickensaviour.cli import inputs, main
from tests.conftest import SAMPLES

CHELSEA = str(SAMPLES / "chelsea.png")  # 451 x 300
LIMIT = 120 * 80


def _shrunk(path: Path) -> tuple[int, int]:
    height, width = cv2.imread(str(path)).shape[:2]
    assert height * width <= LIMIT and abs(width / height - 451 / 300) < 0.05
    return width, height


def test_an_8000x6000_photo_is_read_as_a_copy_within_the_stated_limit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The photo that ended in an allocator error: read at 12 MP (memory bounded)."""
    photo = tmp_path / "big.jpg"
    ramp = np.linspace(0, 255, 8000, dtype=np.uint8)
    cv2.imwrite(str(photo), np.broadcast_to(ramp[None, :, None], (6000, 8000, 3)).copy())
    image = inputs.read_photo(photo, "attack", inputs.WORK_PIXELS)
    _, _, height, width = image.shape
    assert height * width <= inputs.WORK_PIXELS and abs(width / height - 4 / 3) < 0.01
    assert height * width > 0.99 * inputs.WORK_PIXELS  # shrunk no more than needed
    assert f"big.jpg is 8000x6000: attack works on a {width}x{height} copy" in \
        capsys.readouterr().err


@pytest.mark.parametrize(("width", "height", "limit"), [
    (4000, 3000, inputs.WORK_PIXELS), (1024, 1024, inputs.DREAM_PIXELS),
    (1280, 720, inputs.DREAM_PIXELS)])
def test_photos_within_the_limit_are_read_unchanged_and_silently(
        width: int, height: int, limit: int, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.zeros((height, width, 3), np.uint8))
    assert inputs.read_photo(photo, "attack", limit).shape == (1, 3, height, width)
    assert capsys.readouterr().err == ""


@pytest.mark.pretrained
def test_attack_works_on_a_shrunk_copy_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(inputs, "WORK_PIXELS", LIMIT)
    assert main(["attack", CHELSEA, "--target", "hog", "--method", "fgsm", "--out",
                 str(tmp_path), "--device", "cpu"]) == 0
    width, height = _shrunk(tmp_path / "chelsea_adv.png")
    err = capsys.readouterr().err
    assert f"chelsea.png is 451x300: attack works on a {width}x{height} copy" in err


@pytest.mark.pretrained
def test_sweep_works_on_a_shrunk_copy_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(inputs, "WORK_PIXELS", LIMIT)
    assert main(["sweep", CHELSEA, "--target", "hog", "--eps-range", "-4:4", "--step", "4",
                 "--out", str(tmp_path), "--device", "cpu"]) == 0
    with open(tmp_path / "chelsea_sweep.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 3
    assert "sweep works on a" in capsys.readouterr().err


@pytest.mark.pretrained
def test_dream_works_on_a_shrunk_copy_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(inputs, "DREAM_PIXELS", LIMIT)
    out = tmp_path / "d.png"
    assert main(["dream", CHELSEA, "--layer", "features.5", "--steps", "1", "--octaves", "1",
                 "--out", str(out), "--device", "cpu"]) == 0
    _shrunk(out)
    assert "dream works on a" in capsys.readouterr().err
