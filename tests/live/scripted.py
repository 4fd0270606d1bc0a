"""Scripted stand-ins shared by the live tests: a moving box and random frames."""

from __future__ import annotations

import numpy as np
import torch

from chickensaviour.models.detections import Detections


class ScriptedDetector:
    """Finds one box that moves 4 px right per call; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, frame: torch.Tensor) -> Detections:
        box = [20 + 4 * self.calls, 10, 60 + 4 * self.calls, 50]
        self.calls += 1
        return Detections(np.array([box]), np.array([0.9]), np.array([1]))


def random_frames(count: int) -> list[np.ndarray]:
    """``count`` seeded random BGR frames, 96x64."""
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(count)]
