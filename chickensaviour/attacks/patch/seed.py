"""Adversarial blocks ("patches") grown from black, grey or noise images.

The seed made them with negative-epsilon FGSM from a black image and an epsilon sweep;
``method="fgsm-sweep"`` does exactly that and repeats it while it helps,
``method="pgd"`` optimises the block freely (budget 1, signed steps).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import torch

from chickensaviour.attacks.base import targeted
from chickensaviour.attacks.pgd import PGD
from chickensaviour.attacks.sweep import epsilon_sweep, loss_gradient_sign
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.wrapper import ImageClassifier
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report

logger = logging.getLogger(__name__)

#: Default PGD steps: from black with 4/255 steps, MobileNetV2 reads a 64x64 block as
#: "hog" with p = 0.047 after 60 steps, 0.987 after 100 and 1.000 after 150.
PATCH_STEPS = 150

Start = Literal["black", "grey", "noise"]
Method = Literal["fgsm-sweep", "pgd"]


@dataclass(frozen=True)
class PatchResult:
    """A patch ``(1, 3, size, size)`` in ``[0, 1]`` and what the model makes of it."""

    patch: torch.Tensor
    target: int
    probability: float  # the target's probability for the patch seen alone
    history: tuple[float, ...]  # target probability after each round / step block

    def __post_init__(self) -> None:
        if self.patch.ndim != 4 or self.patch.shape[:2] != (1, 3):
            raise ChickenSaviourError(f"patch must be (1, 3, S, S), got {tuple(self.patch.shape)}")


def start_image(size: int, start: Start, seed: int) -> torch.Tensor:
    """The initial block: all black, mid-grey, or uniform noise (seeded)."""
    if start == "black":
        return torch.zeros(1, 3, size, size)
    if start == "grey":
        return torch.full((1, 3, size, size), 0.5)
    if start == "noise":
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(1, 3, size, size, generator=generator)
    raise ChickenSaviourError(f"start must be black, grey or noise, got {start!r}")


def make_patch(model: ImageClassifier, target: int, size: int = 64, *,
               start: Start = "black", method: Method = "pgd", rounds: int = 8,
               steps: int = PATCH_STEPS, step_size: float = 4 / 255, seed: int = 0,
               progress: ProgressFn | None = None,
               should_stop: StopFn | None = None) -> PatchResult:
    """Make a ``size`` x ``size`` block that ``model`` classifies as ``target``.

    Args:
        model: the hunter; the block is judged as a whole image (stretched, not cropped).
        target: class index the block should be seen as.
        size: side in pixels, 8..1024.
        start: initial image ("black" as in the seed).
        method: "pgd" (``steps`` signed steps of ``step_size``, unconstrained; strong) or
            "fgsm-sweep" (the seed's method: negative-eps FGSM with the best eps of a
            sweep over [-1, 0], repeated for up to ``rounds`` rounds while it helps; from
            a black start it stalls early because clamping at 0 blocks half the signs).
        seed: makes the result deterministic (the noise start, PGD's randomness).
        progress: ``progress(done, total, value)`` after each PGD step (value: the
            objective) or sweep round (value: the target probability).
        should_stop: polled before each step or round; cancels with
            :class:`~chickensaviour.errors.OperationCancelled`.

    Example: ``make_patch(load_model(), classes.resolve("hog"), 64).probability``
    """
    if not 8 <= size <= 1024:
        raise ChickenSaviourError(f"patch size must be in 8..1024 pixels, got {size}")
    if not 0 <= target < len(model.classes):
        raise ChickenSaviourError(f"target class {target} out of range")
    judge = model.with_fit("stretch")
    patch = start_image(size, start, seed).to(model.device)
    history: list[float] = []
    if method == "fgsm-sweep":
        if rounds < 1:
            raise ChickenSaviourError(f"rounds must be >= 1, got {rounds}")
        epsilons = -torch.cat([torch.zeros(1), torch.logspace(-2.4, 0.0, 24)])  # 1/255 .. 1
        best = float(judge.probabilities(patch)[0, target])
        for round_index in range(rounds):
            check_stop(should_stop, "patch")
            sign = loss_gradient_sign(judge, patch, target)
            result = epsilon_sweep(judge, patch, target, epsilons, gradient_sign=sign)
            if result.best_probability <= best + 1e-6 and round_index > 0:
                break
            patch = (patch + result.best_eps * sign).clamp(0.0, 1.0)
            best = result.best_probability
            history.append(best)
            logger.debug("round %d: eps %.3f -> p=%.4f", round_index, result.best_eps, best)
            report(progress, round_index + 1, rounds, best)
    elif method == "pgd":
        if steps < 1:
            raise ChickenSaviourError(f"steps must be >= 1, got {steps}")
        attack = PGD(eps=1.0, steps=steps, step_size=step_size, random_start=False, seed=seed)
        patch = attack(judge, patch, targeted(target, 1, patch.device), progress=progress,
                       should_stop=should_stop)
        history.append(float(judge.probabilities(patch)[0, target]))
    else:
        raise ChickenSaviourError(f"method must be fgsm-sweep or pgd, got {method!r}")
    probability = float(judge.probabilities(patch)[0, target])
    return PatchResult(patch.detach(), target, probability, tuple(history))

