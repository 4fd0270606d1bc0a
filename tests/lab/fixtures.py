"""Tiny seeded models that lab jobs load by reference (``py:tests.lab.fixtures:tiny_a``),
in this process or in a Ray worker. 1000 classes, so ImageNet's class groups apply."""

from __future__ import annotations

import numpy as np
import torch

from chickensaviour.models.wrapper import ImageClassifier
from tests.conftest import make_tiny_classifier

TINY_A = "py:tests.lab.fixtures:tiny_a"
TINY_B = "py:tests.lab.fixtures:tiny_b"


def tiny_a() -> ImageClassifier:
    return make_tiny_classifier(seed=0, num_classes=1000)


def tiny_b() -> ImageClassifier:
    """``tiny_a`` with seeded noise on its weights: mostly agrees on clean images, a
    different network for the attack."""
    model = make_tiny_classifier(seed=0, num_classes=1000)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for parameter in model.parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            parameter.add_(0.1 * parameter.abs().mean() * noise)
    return model


def tiny_images(count: int = 6, seed: int = 3) -> list[np.ndarray]:
    """uint8 RGB photos of two sizes (so jobs batch by size)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (20, 24, 3) if i % 2 else (18, 18, 3), dtype=np.uint8)
            for i in range(count)]
