"""The real thing, small: LeNet-5 trained here on MNIST, fooled by a short run."""

from __future__ import annotations

import pytest

from chickensaviour.device import torch_threads
from chickensaviour.fooling import (
    CppnEncoding,
    DirectEncoding,
    SearchSettings,
    evolve,
    evolved_champions,
)
from chickensaviour.models import load_model
from tests.conftest import require_weights


@pytest.fixture(scope="module")
def lenet():
    require_weights("lenet5_mnist")
    with torch_threads(1):  # a LeNet batch is faster on one thread than on two
        yield load_model("lenet5_mnist", device="cpu")


@pytest.mark.parametrize("encoding", [DirectEncoding(28, 1), CppnEncoding(1)],
                         ids=["direct", "cppn"])
def test_a_short_mnist_run_fools_several_digits_above_99_percent(lenet, encoding) -> None:
    result = evolve(lenet, encoding, SearchSettings(generations=40, population=200, seed=0,
                                                    batch_size=512))
    champions = evolved_champions(lenet, encoding, result.archive)
    fooled = [c for c in champions if c.confidence >= 0.99]
    assert len(fooled) >= 3, [(c.index, round(c.confidence, 4)) for c in champions]
    for champion in fooled:
        assert champion.image.shape == (1, 28, 28)
    # the random start fooled (almost) nothing: evolution did it
    assert result.history[0].at_99 < len(fooled)


def test_fooled_champions_are_farther_from_real_digits_than_digits_are(lenet) -> None:
    """A champion at >= 99% is no digit: its nearest real digit of the class is farther
    away than a typical digit's nearest neighbour (people see static or stripes)."""
    from chickensaviour.training.mnist import load_mnist

    test = load_mnist().test
    encoding = CppnEncoding(1)
    result = evolve(lenet, encoding, SearchSettings(generations=30, population=200, seed=1,
                                                    batch_size=512))
    fooled = [c for c in evolved_champions(lenet, encoding, result.archive)
              if c.confidence >= 0.99]
    assert fooled
    for champion in fooled:
        digits = test.images[test.labels == champion.index]
        nearest = (digits - champion.image).abs().flatten(1).mean(dim=1).min()
        typical = (digits[1:] - digits[:1]).abs().flatten(1).mean(dim=1).min()
        assert float(nearest) > 1.5 * float(typical)
