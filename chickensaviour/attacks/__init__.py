"""The attack core: FGSM, targeted FGSM, negative-eps FGSM, PGD, sweeps and patches.

Every attack takes float RGB ``(B, 3, H, W)`` in ``[0, 1]`` and a goal, and returns
images within ``eps`` (L-infinity) of the input, in ``[0, 1]``.
"""

from __future__ import annotations

from chickensaviour.attacks.base import (
    Attack,
    Goal,
    Misclassification,
    TargetedMisclassification,
    project,
    targeted,
    untargeted,
)
from chickensaviour.attacks.fgsm import FGSM, NegativeEpsilonFGSM
from chickensaviour.attacks.patch import PatchResult, make_patch
from chickensaviour.attacks.pgd import PGD
from chickensaviour.attacks.sweep import SweepResult, epsilon_sweep, loss_gradient_sign

__all__ = [
    "FGSM",
    "PGD",
    "Attack",
    "Goal",
    "Misclassification",
    "NegativeEpsilonFGSM",
    "PatchResult",
    "SweepResult",
    "TargetedMisclassification",
    "epsilon_sweep",
    "loss_gradient_sign",
    "make_patch",
    "project",
    "targeted",
    "untargeted",
]
