"""CPPN genomes: rendering, NEAT-style mutation, validity."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.fooling.cppn import (
    CppnConnection,
    CppnEncoding,
    CppnGenome,
    CppnNode,
    CppnSettings,
    activate,
)


def _x_ramp() -> CppnGenome:
    """One identity output wired to x with weight 1: a left-to-right ramp."""
    nodes = (CppnNode(0, "input", "identity", 0.0), CppnNode(1, "input", "identity", 0.0),
             CppnNode(2, "input", "identity", 0.0), CppnNode(3, "input", "identity", 0.0),
             CppnNode(4, "output", "identity", 1.0))
    return CppnGenome(nodes, (CppnConnection(0, 4, 1.0),))


def test_a_hand_written_genome_renders_exactly() -> None:
    image = CppnEncoding(1).render([_x_ramp()], 5)
    # x runs -1 .. 1 across columns; outputs map [-1, 1] to [0, 1].
    expected = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]).expand(5, 5)
    assert torch.allclose(image[0, 0], expected)


def test_renders_deterministic_batches_of_the_right_shape_and_range() -> None:
    for channels in (1, 3):
        encoding = CppnEncoding(channels)
        genomes = encoding.random(6, np.random.default_rng(5))
        again = encoding.random(6, np.random.default_rng(5))
        for size in (28, 64):
            images = encoding.render(genomes, size)
            assert images.shape == (6, channels, size, size)
            assert images.dtype == torch.float32
            assert torch.equal(images, encoding.render(again, size))
            assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0


def test_images_are_smooth_patterns_not_static() -> None:
    encoding = CppnEncoding(1)
    rng = np.random.default_rng(0)
    genomes = encoding.random(16, rng)
    for _ in range(30):
        genomes = [encoding.mutate(g, rng) for g in genomes]
    images = encoding.render(genomes, 64)
    neighbour = (images[..., 1:] - images[..., :-1]).abs().mean()
    shuffled = images.flatten(2)[..., torch.randperm(64 * 64)].reshape(images.shape)
    assert neighbour < 0.25 * (shuffled[..., 1:] - shuffled[..., :-1]).abs().mean()


def test_mutation_keeps_the_genome_valid_and_grows_it() -> None:
    settings = CppnSettings()
    encoding = CppnEncoding(3, settings)
    rng = np.random.default_rng(2)
    genome = encoding.random(1, rng)[0]
    first, untouched = genome, copy.deepcopy(genome)
    for _ in range(400):
        child = encoding.mutate(genome, rng)
        child.validate(3, settings.weight_limit)
        assert child != genome  # never a wasted evaluation
        genome = child
    assert genome.hidden_count > first.hidden_count
    assert len(genome.nodes) <= settings.max_nodes
    assert first == untouched  # mutation makes children, the parent is not touched
    assert encoding.render([genome], 32).shape == (1, 3, 32, 32)


def test_validate_refuses_malformed_genomes() -> None:
    good = _x_ramp()
    good.validate(1)
    backward = dataclasses.replace(good, connections=(CppnConnection(4, 0, 1.0),))
    duplicate = dataclasses.replace(good, connections=(CppnConnection(0, 4, 1.0),) * 2)
    missing = dataclasses.replace(good, connections=(CppnConnection(0, 9, 1.0),))
    infinite = dataclasses.replace(good, connections=(CppnConnection(0, 4, float("inf")),))
    hidden_at_one = dataclasses.replace(good, nodes=(*good.nodes, CppnNode(5, "hidden",
                                                                           "sine", 1.0)))
    for bad, message in ((backward, "forward"), (duplicate, "duplicate"),
                         (missing, "missing"), (infinite, "weight"),
                         (hidden_at_one, "hidden")):
        with pytest.raises(ChickenSaviourError, match=message):
            bad.validate(1)
    with pytest.raises(ChickenSaviourError, match="output"):
        good.validate(3)


def test_activations() -> None:
    z = np.array([-2.0, 0.0, 2.0], dtype=np.float32)
    assert np.allclose(activate("sine", z), np.sin(z))
    assert np.allclose(activate("gaussian", z), [np.exp(-4), 1.0, np.exp(-4)])
    assert np.allclose(activate("sigmoid", z), 1 / (1 + np.exp(-z)))
    assert np.allclose(activate("identity", z), z)
    assert np.allclose(activate("abs", z), [2.0, 0.0, 2.0])
    with pytest.raises(ChickenSaviourError, match="unknown activation"):
        activate("relu", z)


def test_settings_refuse_bad_rates() -> None:
    with pytest.raises(ChickenSaviourError):
        CppnSettings(add_node=1.5)
    with pytest.raises(ChickenSaviourError):
        CppnSettings(weight_limit=0)
