"""Model cards for networks trained here: saved all or nothing, loaded back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.files import write_all
from chickensaviour.labels import LabelSet
from chickensaviour.models import load_model
from chickensaviour.models.cards import ModelCardError, read_card
from chickensaviour.training.checkpoints import CARD_FILE, card_files
from chickensaviour.training.lenet import MNIST_MEAN, MNIST_STD, LeNet5, digit_labels


def save_card(net, folder, **card):
    """What the commands do: the card's three files, written all or nothing."""
    write_all(card_files(net, folder, **card))
    return folder / CARD_FILE


def _net(num_classes: int = 10, seed: int = 0) -> LeNet5:
    torch.manual_seed(seed)
    return LeNet5(num_classes).eval()


def test_saved_card_loads_with_the_same_logits(tmp_path: Path) -> None:
    net = _net()
    card = save_card(net, tmp_path / "round1", name="lenet_round1", labels=digit_labels(),
                     description="round 1", extra={"round": 1, "fooling_images": 200})
    assert card == tmp_path / "round1" / "CARD.json"
    assert sorted(p.name for p in card.parent.iterdir()) == [
        "CARD.json", "labels.txt", "weights.safetensors"]
    read = read_card(card)
    assert read.family == "chickensaviour" and read.architecture == "lenet5"
    assert (read.input_size, read.channels) == (28, 1)
    assert read.mean == MNIST_MEAN and read.std == MNIST_STD
    assert read.extra == {"round": 1, "fooling_images": 200}
    model = load_model(str(card), device="cpu", fold_bn=False)
    assert model.classes.names == digit_labels().names
    digits = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    expected = net((digits - MNIST_MEAN[0]) / MNIST_STD[0])
    assert torch.allclose(model(digits.expand(-1, 3, -1, -1)), expected, atol=1e-5)


def test_other_label_sets(tmp_path: Path) -> None:
    labels = LabelSet(("cat", "not a cat", "chicken"), kind="fooling")
    card = save_card(_net(3), tmp_path, name="three", labels=labels)
    model = load_model(str(card), device="cpu")
    assert model.classes.names == labels.names
    assert model(torch.rand(2, 3, 40, 40)).shape == (2, 3)


def test_bad_arguments_write_nothing(tmp_path: Path) -> None:
    with pytest.raises(ChickenSaviourError, match="11 labels"):
        save_card(_net(), tmp_path, name="x", labels=LabelSet(tuple("abcdefghijk")))
    with pytest.raises(ChickenSaviourError, match="unknown architecture"):
        save_card(_net(), tmp_path, name="x", labels=digit_labels(), architecture="vgg")
    with pytest.raises(ChickenSaviourError, match="card name"):
        save_card(_net(), tmp_path, name="../up", labels=digit_labels())
    with pytest.raises(ChickenSaviourError, match="JSON"):
        save_card(_net(), tmp_path, name="x", labels=digit_labels(), extra={"f": object()})
    with pytest.raises(ChickenSaviourError, match="labels file"):
        save_card(_net(2), tmp_path, name="x", labels=LabelSet(("# a", "b")))
    assert list(tmp_path.iterdir()) == []


def test_replacing_a_card_is_all_or_nothing(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    card = save_card(_net(seed=0), tmp_path, name="lenet", labels=digit_labels())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    from chickensaviour import files

    real = files._write_file

    def fail_on_card(path: Path, data: bytes) -> None:
        if ".CARD.json." in path.name:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(files, "_write_file", fail_on_card)
    with pytest.raises(ChickenSaviourError, match="No space left"):
        save_card(_net(seed=1), tmp_path, name="lenet", labels=digit_labels())
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert json.loads(card.read_text())["architecture"] == "chickensaviour:lenet5"


def test_unknown_chickensaviour_architecture_names_the_table(tmp_path: Path) -> None:
    card = save_card(_net(), tmp_path, name="lenet", labels=digit_labels())
    data = json.loads(card.read_text())
    data["architecture"] = "chickensaviour:vgg16"
    card.write_text(json.dumps(data))
    with pytest.raises(ModelCardError, match="chickensaviour has no model 'vgg16'; it has lenet5"):
        load_model(str(card), device="cpu")


def test_weights_of_another_shape_are_refused(tmp_path: Path) -> None:
    card = save_card(_net(3), tmp_path, name="lenet",
                     labels=LabelSet(("a", "b", "c")))
    (tmp_path / "labels.txt").write_text("\n".join(digit_labels().names) + "\n")
    with pytest.raises(ModelCardError, match="model card"):
        load_model(str(card), device="cpu")
