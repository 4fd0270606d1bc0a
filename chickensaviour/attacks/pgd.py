"""Projected gradient descent (iterative FGSM with projection), L-infinity or L2."""

from __future__ import annotations

import math

import torch
from torch import nn

from chickensaviour.attacks.base import Attack, Goal, objective_and_gradient
from chickensaviour.attacks.distances import Distance, LinfDistance
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report


class PGD(Attack):
    """PGD (Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks",
    2018), targeted or not; with ``random_start=False`` and L-infinity it is the Basic
    Iterative Method / iterative FGSM of Kurakin et al. (2017).

    L-infinity steps along the gradient's sign; L2 steps along the gradient normalised per
    image, starts from a random point of the L2 ball and projects onto it after each step.

    Args:
        eps: budget: in ``[0, 1]`` for ``"linf"``, a finite number >= 0 for ``"l2"``.
        steps: number of gradient steps.
        step_size: size of each step; default ``2.5 * eps / steps`` (Madry et al.), which
            follows ``eps`` in :meth:`~Attack.run_epsilons`.
        random_start: start from a random point of the eps-ball.
        seed: seed of the random start, for reproducible results (None: fresh randomness).
        distance: ``"linf"`` (default) or ``"l2"``.
        start: where the steps begin instead of the clean images (or a random start):
            e.g. the previous video frame's adversarial image, so that a few steps per
            frame build on the last frame's work. Projected into the ball first, so the
            budget still holds; it must have the images' shape.

    Shape:
        - images: ``(B, 3, H, W)`` in ``[0, 1]``; returns the same shape and range.

    Example: ``x_adv = PGD(eps=8/255, steps=20)(model, x, targeted(759))``;
    ``PGD(eps=1.0, distance="l2")`` for L2.
    """

    def __init__(self, *, eps: float, steps: int = 10, step_size: float | None = None,
                 random_start: bool = True, seed: int | None = 0, quantize: bool = False,
                 distance: str | Distance = "linf", start: torch.Tensor | None = None) -> None:
        super().__init__(eps=eps, distance=distance, quantize=quantize)
        if start is not None and (not isinstance(start, torch.Tensor) or start.ndim != 4):
            raise ChickenSaviourError("start must be a (B, 3, H, W) tensor of images")
        self.start = start
        self.steps = check_steps(steps)
        self.user_step_size = check_step_size(step_size, self.distance)
        self.random_start = random_start
        self.seed = seed

    @property
    def step_size(self) -> float:
        """The step size: the one given, else ``2.5 * eps / steps``."""
        if self.user_step_size is not None:
            return self.user_step_size
        return 2.5 * self.eps / self.steps

    def run(self, model: nn.Module, images: torch.Tensor, goal: Goal, *,
            progress: ProgressFn | None = None,
            should_stop: StopFn | None = None) -> torch.Tensor:
        linf = isinstance(self.distance, LinfDistance)
        if linf:  # the ball's bounds are fixed: compute them once and clip in place
            low = (images - self.eps).clamp_(min=0.0)
            high = (images + self.eps).clamp_(max=1.0)
        adversarial = images.clone()
        if self.start is not None:
            if self.start.shape != images.shape:
                raise ChickenSaviourError(f"start has shape {tuple(self.start.shape)}, the "
                                          f"images {tuple(images.shape)}")
            start = self.start.detach().to(images.device, images.dtype).clamp(0.0, 1.0)
            adversarial = (torch.clamp(start, low, high) if linf
                           else self.distance.clip(start, images, self.eps))
        elif self.random_start and self.eps > 0:
            generator = torch.Generator(device="cpu")
            if self.seed is not None:
                generator.manual_seed(self.seed)
            else:
                generator.seed()
            adversarial = self.distance.random_start(images, self.eps, generator)
        seen = torch.zeros_like(images, dtype=torch.bool)
        step_size = self.step_size
        for step in range(self.steps):
            check_stop(should_stop, "PGD")
            value, gradient = objective_and_gradient(model, adversarial, goal)
            seen.logical_or_(gradient.ne(0))
            adversarial.add_(self.distance.direction(gradient), alpha=step_size)
            if linf:
                torch.clamp(adversarial, low, high, out=adversarial)
            else:
                adversarial = self.distance.clip(adversarial, images, self.eps)
            report(progress, step + 1, self.steps, value)  # the objective before the step
        # Pixels the model never looks at (outside its centre crop) keep their values:
        # random-start noise there would spend the budget on nothing.
        return torch.where(seen, adversarial, images)


def check_steps(steps: object) -> int:
    """``steps`` if it is a positive integer, else :class:`ChickenSaviourError`."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ChickenSaviourError(f"steps must be a positive integer, got {steps!r}")
    return steps


def check_step_size(step_size: object, distance: Distance) -> float | None:
    """A valid step size (``(0, 1]`` for L-infinity, finite > 0 for L2) or None."""
    if step_size is None:
        return None
    linf = isinstance(distance, LinfDistance)
    upper = 1.0 if linf else math.inf
    if not (isinstance(step_size, (int, float)) and math.isfinite(step_size)
            and 0.0 < step_size <= upper):
        bounds = "(0, 1]" if linf else "a finite number > 0"
        raise ChickenSaviourError(f"step_size must be {bounds}, got {step_size!r}")
    return float(step_size)
