"""The direct encoding and polynomial mutation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.fooling.cppn import CppnEncoding
from chickensaviour.fooling.encodings import DirectEncoding, make_encoding, polynomial_mutation
from tests.conftest import make_tiny_classifier


def test_direct_renders_deterministic_batches_of_the_right_shape_and_range() -> None:
    encoding = DirectEncoding(28, 1)
    first = encoding.render(encoding.random(5, np.random.default_rng(3)), 28)
    second = encoding.render(encoding.random(5, np.random.default_rng(3)), 28)
    assert first.shape == (5, 1, 28, 28) and first.dtype == torch.float32
    assert torch.equal(first, second)
    assert 0.0 <= float(first.min()) and float(first.max()) <= 1.0
    # 8-bit genes: every value is on the k/255 grid a PNG keeps.
    assert torch.equal((first * 255).round() / 255, first)
    assert float(first.std()) > 0.2  # uniform noise, not a constant


def test_direct_renders_rgb_at_another_size() -> None:
    encoding = DirectEncoding(32, 3)
    images = encoding.render(encoding.random(2, np.random.default_rng(0)), 64)
    assert images.shape == (2, 3, 64, 64)
    assert encoding.render([], 16).shape == (0, 3, 16, 16)


def test_direct_mutation_keeps_the_genome_valid_and_the_parent_unchanged() -> None:
    encoding = DirectEncoding(28, 1, rate=0.1)
    rng = np.random.default_rng(0)
    parent = encoding.random(1, rng)[0]
    kept = parent.copy()
    child = parent
    for generation in range(50):
        child = encoding.mutate(child, rng, generation)
        encoding.check(child)
    assert np.array_equal(parent, kept)
    assert child.dtype == np.uint8 and child.shape == (1, 28, 28)
    changed = np.mean(encoding.mutate(parent, rng, 0) != parent)
    assert 0.03 < changed < 0.12  # about the 10% rate (a few moves round to nothing)


def test_mutation_rate_halves_every_half_life() -> None:
    encoding = DirectEncoding(8, 1, rate=0.1, half_life=100)
    assert encoding.rate_at(0) == pytest.approx(0.1)
    assert encoding.rate_at(100) == pytest.approx(0.05)
    assert encoding.rate_at(300) == pytest.approx(0.0125)


def test_polynomial_mutation_bounds_rate_and_strength() -> None:
    rng = np.random.default_rng(1)
    genes = np.full(10_000, 0.5, dtype=np.float32)
    nothing = polynomial_mutation(genes, rng, rate=0.0, eta=15)
    assert np.count_nonzero(nothing != genes) == 1  # never a wasted copy
    everything = polynomial_mutation(genes, rng, rate=1.0, eta=15)
    assert np.count_nonzero(everything != genes) > 9_900
    assert everything.min() >= 0.0 and everything.max() <= 1.0
    gentle = polynomial_mutation(genes, rng, rate=1.0, eta=100)
    assert np.abs(gentle - 0.5).mean() < np.abs(everything - 0.5).mean()
    edge = polynomial_mutation(np.ones(1000, dtype=np.float32), rng, rate=1.0, eta=1)
    assert edge.max() <= 1.0
    with pytest.raises(ChickenSaviourError, match="rate"):
        polynomial_mutation(genes, rng, rate=1.5, eta=15)


def test_direct_check_and_arguments_refuse_bad_values() -> None:
    encoding = DirectEncoding(8, 3)
    with pytest.raises(ChickenSaviourError, match="uint8"):
        encoding.check(np.zeros((3, 8, 8), dtype=np.float32))
    with pytest.raises(ChickenSaviourError, match=r"\(3, 8, 8\)"):
        encoding.check(np.zeros((1, 8, 8), dtype=np.uint8))
    for bad in (dict(side=2), dict(side=8, channels=2), dict(side=8, rate=0.0),
                dict(side=8, half_life=0)):
        with pytest.raises(ChickenSaviourError):
            DirectEncoding(**bad)


def test_make_encoding_follows_the_model() -> None:
    model = make_tiny_classifier(input_size=16)
    direct = make_encoding("direct", model)
    assert isinstance(direct, DirectEncoding) and direct.side == 16 and direct.channels == 3
    model.channels = 1
    assert make_encoding("cppn", model).channels == 1
    assert isinstance(make_encoding("cppn", model), CppnEncoding)
    with pytest.raises(ChickenSaviourError, match="unknown encoding"):
        make_encoding("gradient", model)
