"""Projected gradient descent (iterative FGSM with projection), targeted or not."""

from __future__ import annotations

import torch
from torch import nn

from chickensaviour.attacks.base import Attack, Goal, objective_and_gradient
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report


class PGD(Attack):
    """L-infinity PGD (Madry et al., "Towards Deep Learning Models Resistant to
    Adversarial Attacks", 2018); with ``random_start=False`` it is the Basic Iterative
    Method / iterative FGSM of Kurakin et al. (2017).

    Args:
        eps: budget in ``[0, 1]`` pixel units.
        steps: number of signed-gradient steps.
        step_size: size of each step; default ``2.5 * eps / steps`` (Madry et al.).
        random_start: start from a uniform random point of the eps-ball.
        seed: seed of the random start, for reproducible results.

    Shape:
        - images: ``(B, 3, H, W)`` in ``[0, 1]``; returns the same shape and range.

    Example: ``x_adv = PGD(eps=8/255, steps=20)(model, x, targeted(759))``
    """

    def __init__(self, *, eps: float, steps: int = 10, step_size: float | None = None,
                 random_start: bool = True, seed: int | None = 0, quantize: bool = False) -> None:
        super().__init__(eps=eps, quantize=quantize)
        if not isinstance(steps, int) or steps < 1:
            raise ChickenSaviourError(f"steps must be a positive integer, got {steps!r}")
        if step_size is not None and not 0.0 < step_size <= 1.0:
            raise ChickenSaviourError(f"step_size must be in (0, 1], got {step_size!r}")
        self.steps = steps
        self.step_size = step_size if step_size is not None else 2.5 * self.eps / steps
        self.random_start = random_start
        self.seed = seed

    def run(self, model: nn.Module, images: torch.Tensor, goal: Goal, *,
            progress: ProgressFn | None = None,
            should_stop: StopFn | None = None) -> torch.Tensor:
        # The ball's bounds are fixed: compute them once and clip in place every step.
        low = (images - self.eps).clamp_(min=0.0)
        high = (images + self.eps).clamp_(max=1.0)
        adversarial = images.clone()
        if self.random_start and self.eps > 0:
            generator = torch.Generator(device="cpu")
            if self.seed is not None:
                generator.manual_seed(self.seed)
            else:
                generator.seed()
            noise = torch.rand(images.shape, generator=generator, dtype=images.dtype)
            adversarial.add_(noise.to(images.device).mul_(2.0).sub_(1.0).mul_(self.eps))
            torch.clamp(adversarial, low, high, out=adversarial)
        seen = torch.zeros_like(images, dtype=torch.bool)
        for step in range(self.steps):
            check_stop(should_stop, "PGD")
            value, gradient = objective_and_gradient(model, adversarial, goal)
            seen.logical_or_(gradient.ne(0))
            adversarial.add_(gradient.sign_(), alpha=self.step_size)
            torch.clamp(adversarial, low, high, out=adversarial)
            report(progress, step + 1, self.steps, value)  # the objective before the step
        # Pixels the model never looks at (outside its centre crop) keep their values:
        # random-start noise there would spend the budget on nothing.
        return torch.where(seen, adversarial, images)
