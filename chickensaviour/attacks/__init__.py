"""The attack core: FGSM, targeted FGSM, negative-eps FGSM, PGD (L-inf and L2), MI-FGSM,
DI-FGSM, sweeps and patches.

Every attack takes float RGB ``(B, 3, H, W)`` in ``[0, 1]`` and a goal (any object following
the :class:`Goal` protocol), and returns images within ``eps`` of the input in its distance
(L-infinity or L2), in ``[0, 1]``. ``attack.run_epsilons`` tries several budgets at once.
"""

from __future__ import annotations

from chickensaviour.attacks.base import (
    Attack,
    AttackResult,
    Goal,
    Misclassification,
    TargetedMisclassification,
    project,
    targeted,
    untargeted,
)
from chickensaviour.attacks.difgsm import DIFGSM
from chickensaviour.attacks.distances import L2, LINF, Distance, distance
from chickensaviour.attacks.fgsm import FGSM, NegativeEpsilonFGSM
from chickensaviour.attacks.mifgsm import MIFGSM
from chickensaviour.attacks.patch import PatchResult, make_patch
from chickensaviour.attacks.pgd import PGD
from chickensaviour.attacks.registry import ATTACK_NAMES, make_attack
from chickensaviour.attacks.sweep import SweepResult, epsilon_sweep, loss_gradient_sign

__all__ = [
    "ATTACK_NAMES",
    "DIFGSM",
    "FGSM",
    "L2",
    "LINF",
    "MIFGSM",
    "PGD",
    "Attack",
    "AttackResult",
    "Distance",
    "Goal",
    "Misclassification",
    "NegativeEpsilonFGSM",
    "PatchResult",
    "SweepResult",
    "TargetedMisclassification",
    "distance",
    "epsilon_sweep",
    "loss_gradient_sign",
    "make_attack",
    "make_patch",
    "project",
    "targeted",
    "untargeted",
]
