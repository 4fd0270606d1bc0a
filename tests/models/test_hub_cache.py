"""A corrupt or foreign file in the torch hub cache: one clear error naming it, no traceback."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models import load_model
from tests.cli.helpers import assert_fails_cleanly
from tests.conftest import SAMPLES


def _checkpoint(torch_home: Path, name: str) -> Path:
    from torchvision import models

    url = models.get_model_weights(name).DEFAULT.url
    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / Path(url).name


def _junk(path: Path) -> None:
    path.write_bytes(b"<html>captive portal</html>\n" * 10)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    full = path.with_suffix(".full")
    torch.save({"weight": torch.zeros(1000, 100)}, full)
    path.write_bytes(full.read_bytes()[:2000])
    full.unlink()


def _foreign_state_dict(path: Path) -> None:
    torch.save({"conv.weight": torch.zeros(3, 3)}, path)


def _not_a_state_dict(path: Path) -> None:
    torch.save([torch.zeros(2)], path)


def _arbitrary_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps(Path("/etc/passwd")))


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "junk": _junk,
    "empty": _empty,
    "truncated": _truncated,
    "foreign state dict": _foreign_state_dict,
    "not a state dict": _not_a_state_dict,
    "arbitrary pickle": _arbitrary_pickle,
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupt_cached_checkpoint_names_the_file_and_says_to_delete_it(
        case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoint = _checkpoint(tmp_path, "resnet18")
    CORRUPTIONS[case](checkpoint)
    with pytest.raises(ChickenSaviourError) as caught:
        load_model("resnet18", device="cpu")
    message = str(caught.value)
    assert str(checkpoint) in message and "delete" in message, message
    assert "\n" not in message and len(message) < 400, message


IMG = str(SAMPLES / "chelsea.png")
CLIP = str(SAMPLES / "chelsea_clip.mp4")
COMMANDS = {
    "attack": ["attack", IMG, "--target", "hog", "--out", "o"],
    "sweep": ["sweep", IMG, "--target", "hog", "--out", "o"],
    "patch": ["patch", "--target", "hog", "--out", "p.png"],
    "filters": ["filters", "--list-layers"],
    "dream": ["dream", IMG, "--layer", "layer1", "--out", "d.png"],
    "visualize": ["visualize", "--class", "hog", "--out", "v.png"],
    "render": ["render", CLIP, "--out", "r.gif", "--protect", "cat"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_says_which_cached_file_to_delete_in_one_line(
        command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    home, work = tmp_path / "torch", tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.chdir(work)
    checkpoint = _checkpoint(home, "resnet18")
    _junk(checkpoint)
    assert_fails_cleanly([*COMMANDS[command], "--model", "resnet18", "--device", "cpu"], work,
                         capsys, f"{checkpoint} (its name promises a sha256 starting")


def test_a_cached_file_whose_hash_does_not_match_its_name_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A well-formed checkpoint of the right shapes under torchvision's name, but not the
    file the name's hash prefix promises (another training run, a tampered file)."""
    from torchvision import models

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoint = _checkpoint(tmp_path, "squeezenet1_1")
    torch.manual_seed(0)
    torch.save(models.squeezenet1_1(weights=None).state_dict(), checkpoint)
    prefix = checkpoint.stem.rsplit("-", 1)[1]
    with pytest.raises(ChickenSaviourError) as caught:
        load_model("squeezenet1_1", device="cpu")
    message = str(caught.value)
    assert str(checkpoint) in message and f"sha256 starting {prefix}" in message, message
    assert "\n" not in message and "delete" in message, message
