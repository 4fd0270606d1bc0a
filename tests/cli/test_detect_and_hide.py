"""``chickensaviour detect`` and ``patch --against nanodet``: real runs and clean failures."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from chickensaviour.cli import main
from tests.cli.helpers import assert_fails_cleanly
from tests.conftest import SAMPLES

CLIP = SAMPLES / "chelsea_clip.mp4"


@pytest.mark.pretrained
def test_detect_draws_and_lists_the_people_in_a_photo(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "boxes.jpg"
    assert main(["detect", str(SAMPLES / "astronaut.png"), "--out", str(out),
                 "--device", "cpu"]) == 0
    stdout = capsys.readouterr().out
    assert stdout.splitlines()[0].startswith("person") and f"wrote {out}" in stdout
    drawn, original = cv2.imread(str(out)), cv2.imread(str(SAMPLES / "astronaut.png"))
    assert drawn.shape == original.shape and (drawn != original).any()


@pytest.mark.pretrained
def test_detect_on_a_video_writes_a_clip_and_counts_classes(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "boxes.mp4"
    assert main(["detect", str(CLIP), "--out", str(out), "--max-frames", "4",
                 "--classes", "cat, dog", "--device", "cpu"]) == 0
    stdout = capsys.readouterr().out
    assert "4 frames" in stdout and "cat 4" in stdout
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    capture.release()


@pytest.mark.parametrize(("args", "message"), [
    (["detect", str(SAMPLES / "chelsea.png"), "--out", "x.mp4"], "is an image"),
    (["detect", str(CLIP), "--out", "x.png"], "is a video"),
    (["detect", str(SAMPLES / "chelsea.png"), "--out", "x.png", "--classes", "unicorn"],
     "unknown COCO class"),
    (["detect", str(SAMPLES / "chelsea.png"), "--out", "x.png", "--threshold", "2"],
     "threshold"),
    (["detect", "missing.png", "--out", "x.png"], "missing.png"),
    (["patch", "--against", "nanodet", "--out", "p.png"], "--hide"),
    (["patch", "--against", "nanodet", "--hide", "unicorn", "--out", "p.png"], "unknown COCO"),
    (["patch", "--against", "nanodet", "--hide", "person", "--train", "nope.png", "--out",
      "p.png"], "no such file"),
    (["patch", "--out", "p.png"], "--target"),
    (["patch", "--hide", "person", "--out", "p.png"], "--against nanodet"),
    (["patch", "--against", "nanodet", "--hide", "person", "--target", "hog", "--out",
      "p.png"], "--target is for classifier"),
    (["detect", str(SAMPLES / "chelsea.png"), "--out", "x.png", "--max-frames", "3"],
     "for videos"),
    (["render", str(CLIP), "--out", "x.gif", "--mode", "hide", "--detector", "cam"],
     "hide mode"),
    (["render", str(CLIP), "--out", "x.gif", "--protect", "hog", "--target", "hen"],
     "no COCO class"),
    (["render", str(CLIP), "--out", "x.gif", "--hide-patch", str(SAMPLES / "chelsea.png")],
     "--mode hide"),
])
def test_bad_arguments_fail_in_one_line_and_write_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        args: list[str], message: str):
    monkeypatch.chdir(tmp_path)
    assert_fails_cleanly(args, tmp_path, capsys, message)


@pytest.mark.pretrained
def test_hide_patch_is_trained_on_the_bundled_photos_and_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "hide_person.png"
    assert main(["patch", "--against", "nanodet", "--hide", "person", "--steps", "4",
                 "--size", "32", "--out", str(out), "--eval", str(SAMPLES / "camera.png"),
                 "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "training scenes:" in captured.out and "held-out scenes:" in captured.out
    assert "with hide patch" in captured.out
    assert cv2.imread(str(out)).shape == (32, 32, 3)


@pytest.mark.pretrained
def test_render_in_hide_mode_uses_a_given_patch(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]):
    patch = tmp_path / "patch.png"
    cv2.imwrite(str(patch), cv2.imread(str(SAMPLES / "coffee.png"))[:200, :200])
    out = tmp_path / "hide.gif"
    assert main(["render", str(CLIP), "--out", str(out), "--mode", "hide", "--protect", "cat",
                 "--hide-patch", str(patch), "--max-frames", "3", "--width", "320",
                 "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "hidden from the detector after the patch:" in captured.out and out.is_file()
    assert "refined the hide patch" not in captured.err  # the given patch, not a trained one
    assert ", given hide patch" in captured.out


@pytest.mark.pretrained
@pytest.mark.parametrize("option", ["--train", "--eval"])
def test_hide_patch_media_of_one_pixel_fail_in_one_line(
        option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]):
    media = tmp_path / "media"
    media.mkdir()
    cv2.imwrite(str(media / "1x1.png"), np.zeros((1, 1, 3), np.uint8))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert_fails_cleanly(["patch", "--against", "nanodet", "--hide", "cat", option,
                          str(media / "1x1.png"), "--steps", "1", "--size", "8", "--out",
                          "p.png", "--device", "cpu"], work, capsys,
                         f"NanoDet finds no cat in the {option} media")
