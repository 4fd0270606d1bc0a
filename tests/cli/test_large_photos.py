"""Large photos (issue 9.3): attack, sweep and dream work on a copy shrunk to a stated
size, so memory stays bounded; the note says so. (An 8000x6000 photo ended in an
allocator error; the limits are lowered here so the test runs in seconds.)"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import pytest

from chickensaviour.cli import inputs, main
from tests.conftest import SAMPLES

CHELSEA = str(SAMPLES / "chelsea.png")  # 451 x 300
LIMIT = 120 * 80


def _shrunk(path: Path) -> tuple[int, int]:
    height, width = cv2.imread(str(path)).shape[:2]
    assert height * width <= LIMIT and abs(width / height - 451 / 300) < 0.05
    return width, height


def test_the_stated_limits() -> None:
    assert inputs.WORK_PIXELS == 12_000_000  # 4000x3000 passes unchanged
    assert inputs.DREAM_PIXELS == 1_048_576  # 1024x1024, 1280x720 pass unchanged


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
