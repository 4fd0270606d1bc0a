"""The attack base class: goals as data, and a budget that holds by construction.

Every attack is configured in ``__init__`` (keyword-only) and called as
``attack(model, images, goal)``. The base ``__call__`` puts the model in eval mode,
runs the subclass's :meth:`Attack.run`, then projects onto the L-infinity ball of radius
``eps`` around the input and clamps to ``[0, 1]``, so ``||x_adv - x||_inf <= eps`` holds
whatever ``run`` returns.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import final

import torch
import torch.nn.functional as F
from torch import nn

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.wrapper import check_images
from chickensaviour.progress import ProgressFn, StopFn


@dataclass(frozen=True)
class Misclassification:
    """Untargeted goal: move each image away from its true ``labels`` ``(B,)``."""

    labels: torch.Tensor

    def objective(self, logits: torch.Tensor) -> torch.Tensor:
        """The quantity attacks *ascend*: cross-entropy to the true labels (summed)."""
        return F.cross_entropy(logits, self.labels, reduction="sum")

    @property
    def classes(self) -> torch.Tensor:
        return self.labels


@dataclass(frozen=True)
class TargetedMisclassification:
    """Targeted goal: make the model answer ``target_classes`` ``(B,)``."""

    target_classes: torch.Tensor

    def objective(self, logits: torch.Tensor) -> torch.Tensor:
        """The quantity attacks *ascend*: minus the cross-entropy to the targets (summed)."""
        return -F.cross_entropy(logits, self.target_classes, reduction="sum")

    @property
    def classes(self) -> torch.Tensor:
        return self.target_classes


Goal = Misclassification | TargetedMisclassification


def as_class_tensor(classes: int | Sequence[int] | torch.Tensor, batch: int | None = None,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """``(batch,)`` int64 class indices from an int (broadcast), a sequence or a tensor.

    ``batch=None`` takes the length of ``classes`` (1 for an int).
    """
    if isinstance(classes, int):
        return torch.full((batch or 1,), classes, dtype=torch.long, device=device)
    tensor = torch.as_tensor(classes, dtype=torch.long, device=device).flatten()
    if batch is None:
        batch = tensor.numel()
    if tensor.numel() == 1 and batch > 1:
        tensor = tensor.expand(batch)
    if tensor.numel() != batch:
        raise ChickenSaviourError(f"expected {batch} class indices, got {tensor.numel()}")
    return tensor


def targeted(classes: int | Sequence[int] | torch.Tensor, batch: int | None = None,
             device: torch.device | str | None = None) -> TargetedMisclassification:
    """Shorthand: ``targeted(759)`` is the goal "be classified as class 759"."""
    return TargetedMisclassification(as_class_tensor(classes, batch, device))


def untargeted(labels: int | Sequence[int] | torch.Tensor, batch: int | None = None,
               device: torch.device | str | None = None) -> Misclassification:
    """Shorthand: ``untargeted(285)`` is the goal "stop being classified as class 285"."""
    return Misclassification(as_class_tensor(labels, batch, device))


class Attack(ABC):
    """Base class of all L-infinity attacks.

    Args:
        eps: the budget, in ``[0, 1]`` pixel units (8/255 is a common choice).
        quantize: if true, the result is rounded to the 8-bit grid *inside* the budget,
            so that saving it as PNG and reading it back changes nothing.
    """

    def __init__(self, *, eps: float, quantize: bool = False) -> None:
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and 0.0 <= eps <= 1.0):
            raise ChickenSaviourError(f"eps must be a number in [0, 1], got {eps!r}")
        self.eps = float(eps)
        self.quantize = quantize

    @abstractmethod
    def run(self, model: nn.Module, images: torch.Tensor, goal: Goal, *,
            progress: ProgressFn | None = None,
            should_stop: StopFn | None = None) -> torch.Tensor:
        """Return candidate adversarial images; the base class projects and clamps them.

        Iterative attacks call :func:`check_stop` before and :func:`report` after each
        step (see :mod:`chickensaviour.progress`).
        """

    @final
    def __call__(self, model: nn.Module, images: torch.Tensor, goal: Goal, *,
                 progress: ProgressFn | None = None,
                 should_stop: StopFn | None = None) -> torch.Tensor:
        """Attack ``images`` ``(B, 3, H, W)`` in ``[0, 1]``; returns the same shape and range.

        ``progress(step, steps, objective)`` is called after each step and
        ``should_stop()`` polled before each; once it is true the attack raises
        :class:`~chickensaviour.errors.OperationCancelled`.
        """
        check_images(images)
        lowest, highest = torch.aminmax(images)
        if float(lowest) < 0.0 or float(highest) > 1.0:
            raise ChickenSaviourError("images must lie in [0, 1]")
        if not isinstance(goal, (Misclassification, TargetedMisclassification)):
            raise ChickenSaviourError(
                "goal must be Misclassification(labels) or TargetedMisclassification(classes)"
            )
        classes = goal.classes
        if classes.ndim != 1 or classes.shape[0] != images.shape[0]:
            raise ChickenSaviourError(
                f"goal has {tuple(classes.shape)} classes for a batch of {images.shape[0]}"
            )
        goal = type(goal)(classes.to(device=images.device, dtype=torch.long))
        originals = images.detach()
        was_training = model.training
        model.eval()
        try:
            with torch.enable_grad():
                candidates = self.run(model, originals, goal, progress=progress,
                                      should_stop=should_stop).detach()
        finally:
            model.train(was_training)
        return project(candidates, originals, self.eps, quantize=self.quantize)


def project(candidates: torch.Tensor, originals: torch.Tensor, eps: float, *,
            quantize: bool = False) -> torch.Tensor:
    """Clip ``candidates`` into ``[x - eps, x + eps] ∩ [0, 1]`` (optionally on the 8-bit grid)."""
    low = (originals - eps).clamp_(min=0.0)
    high = (originals + eps).clamp_(max=1.0)
    candidates = torch.where(torch.isnan(candidates), originals, candidates)  # NaN escapes min/max
    projected = torch.minimum(torch.maximum(candidates, low), high)
    if not quantize:
        return projected
    # Nearest 8-bit level, then the nearest level still inside the ball; where the ball
    # holds no level at all (eps < 1/255 around an off-grid pixel) keep the exact value.
    grid_low = torch.ceil(low * 255.0 - 1e-4) / 255.0
    grid_high = torch.floor(high * 255.0 + 1e-4) / 255.0
    rounded = torch.round(projected * 255.0) / 255.0
    inside = torch.minimum(torch.maximum(rounded, grid_low), grid_high)
    inside = torch.minimum(torch.maximum(inside, low), high)
    return torch.where(grid_low <= grid_high, inside, projected)


def input_gradient(model: nn.Module, images: torch.Tensor, goal: Goal) -> torch.Tensor:
    """Gradient of ``goal.objective(model(images))`` with respect to ``images``."""
    return objective_and_gradient(model, images, goal)[1]


def objective_and_gradient(model: nn.Module, images: torch.Tensor,
                           goal: Goal) -> tuple[float, torch.Tensor]:
    """``goal.objective(model(images))`` (the value attacks ascend) and its gradient with
    respect to ``images``."""
    images = images.detach().requires_grad_(True)
    objective = goal.objective(model(images))
    (gradient,) = torch.autograd.grad(objective, images)
    return float(objective.detach()), gradient
