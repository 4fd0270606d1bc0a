"""``filters``, ``dream`` and ``visualize`` on the real default model, and their failures."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import pytest

from chickensaviour.cli import main
from tests.cli.helpers import assert_fails_cleanly
from tests.conftest import SAMPLES

CHELSEA = SAMPLES / "chelsea.png"  # 451 x 300


@pytest.mark.pretrained
@pytest.mark.parametrize("name", ["gorilla", "school bus", "hartebeest"])
def test_unregularised_class_visualisation_is_noise_the_model_is_sure_of(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str):
    """The talk's finding: optimising the pixels alone gives p >= 0.99 (default steps)."""
    out = tmp_path / "v.png"
    assert main(["visualize", "--class", name, "--reg", "none", "--out", str(out),
                 "--device", "cpu"]) == 0
    match = re.search(r"p = ([0-9.]+)", capsys.readouterr().out)
    assert match and float(match.group(1)) >= 0.99
    assert cv2.imread(str(out)).shape == (224, 224, 3)


@pytest.mark.pretrained
def test_visualisation_is_deterministic_for_a_seed_and_works_for_channels(tmp_path: Path):
    paths = [tmp_path / f"{i}.png" for i in range(3)]
    for path, seed in zip(paths, (5, 5, 6), strict=True):
        assert main(["visualize", "--layer", "features.10", "--channel", "3", "--reg", "all",
                     "--steps", "4", "--seed", str(seed), "--out", str(path),
                     "--device", "cpu"]) == 0
    data = [p.read_bytes() for p in paths]
    assert data[0] == data[1] and data[0] != data[2]


@pytest.mark.pretrained
def test_filters_and_dream_write_images_of_the_expected_size(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]):
    assert main(["filters", str(CHELSEA), "--layer", "features.4", "--channels", "0:16",
                 "--out", str(tmp_path), "--device", "cpu"]) == 0
    grid = cv2.imread(str(tmp_path / "chelsea_features_4_channels.png"))
    assert grid.shape == (4 * 98 + 2, 4 * 98 + 2, 3)  # 16 tiles of 96 px, 2 px gaps
    kernels = cv2.imread(str(tmp_path / "mobilenet_v2_first_layer_kernels.png"))
    assert kernels.shape == (6 * 50 + 2, 6 * 50 + 2, 3)  # 32 kernels -> 6 x 6 grid
    out, gif = tmp_path / "dream.jpg", tmp_path / "dream.gif"
    assert main(["dream", str(CHELSEA), "--layer", "features.6", "--steps", "2",
                 "--octaves", "2", "--out", str(out), "--gif", str(gif),
                 "--device", "cpu"]) == 0
    assert cv2.imread(str(out)).shape == (300, 451, 3)
    assert gif.read_bytes()[:6] == b"GIF89a"
    assert main(["filters", "--list-layers", "--device", "cpu"]) == 0
    assert "features.10" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["filters", str(CHELSEA), "--layer", "conv99", "--out", "o"], "valid layers: features"),
    (["filters", str(CHELSEA), "--out", "o"], "--layer"),
    (["dream", str(CHELSEA), "--layer", "features.4", "--octave-scale", "9", "--out", "d.png"],
     "octave scale"),
    (["dream", str(CHELSEA), "--layer", "features.4", "--out", "d.gif"], ".png or .jpg"),
    (["visualize", "--out", "v.png"], "--class"),
    (["visualize", "--class", "gorila", "--out", "v.png"], "gorilla"),
    (["visualize", "--layer", "features.4", "--out", "v.png"], "go together"),
    # found only once the model is loaded:
    (["visualize", "--layer", "features.4", "--channel", "999", "--out", "v.png"],
     "channel 999 does not exist"),
    (["visualize", "--class", "hen", "--layer", "features.4", "--channel", "1", "--out",
      "v.png"], "one of them"),
    (["dream", str(CHELSEA), "--layer", "features.4", "--step-size", "nan", "--out", "d.png"],
     "finite"),
    (["filters", str(CHELSEA), "--layer", "features.4", "--channels", "x:y", "--out", "o"],
     "channels must look like"),
])
def test_bad_arguments_fail_in_one_line_and_write_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        args: list[str], message: str):
    monkeypatch.chdir(tmp_path)
    assert_fails_cleanly([*args, "--device", "cpu"], tmp_path, capsys, message)
