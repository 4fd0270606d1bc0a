"""Momentum iterative FGSM (MI-FGSM), the transfer attack with a memory of past gradients."""

from __future__ import annotations

import math

import torch
from torch import nn

from chickensaviour.attacks.base import Attack, Goal
from chickensaviour.attacks.distances import Distance, LinfDistance
from chickensaviour.attacks.pgd import check_step_size, check_steps
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report


class MIFGSM(Attack):
    """MI-FGSM (Dong et al., "Boosting Adversarial Attacks with Momentum", CVPR 2018).

    Iterative FGSM whose step follows a momentum ``g = decay * g + grad / mean|grad|``
    (the gradient L1-normalised per image), which escapes poor local maxima and transfers
    better to other models. Starts at the input (no random start).

    Args:
        eps: budget (``[0, 1]`` for ``"linf"``, >= 0 for ``"l2"``).
        steps: number of iterations.
        step_size: size of each step; default ``eps / steps`` (the paper's choice).
        decay: momentum factor ``mu`` (0 gives plain iterative FGSM).
        distance: ``"linf"`` (signed steps) or ``"l2"`` (steps along ``g / ||g||_2``).
        seed: seed of the attack's random generator (used by :class:`DIFGSM`).

    Shape:
        - images: ``(B, 3, H, W)`` in ``[0, 1]``; returns the same shape and range.

    Example: ``x_adv = MIFGSM(eps=8/255, steps=10)(model, x, targeted(759))``
    """

    def __init__(self, *, eps: float, steps: int = 10, step_size: float | None = None,
                 decay: float = 1.0, distance: str | Distance = "linf",
                 quantize: bool = False, seed: int = 0) -> None:
        super().__init__(eps=eps, distance=distance, quantize=quantize)
        self.steps = check_steps(steps)
        self.user_step_size = check_step_size(step_size, self.distance)
        if not (isinstance(decay, (int, float)) and math.isfinite(decay) and decay >= 0):
            raise ChickenSaviourError(f"decay must be a finite number >= 0, got {decay!r}")
        self.decay = float(decay)
        self.seed = seed

    @property
    def step_size(self) -> float:
        """The step size: the one given, else ``eps / steps``."""
        return self.user_step_size if self.user_step_size is not None else self.eps / self.steps

    def diversify(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The (differentiable) view of ``images`` the gradient is taken through: identity."""
        return images

    def run(self, model: nn.Module, images: torch.Tensor, goal: Goal, *,
            progress: ProgressFn | None = None,
            should_stop: StopFn | None = None) -> torch.Tensor:
        name = type(self).__name__
        linf = isinstance(self.distance, LinfDistance)
        low = (images - self.eps).clamp_(min=0.0)
        high = (images + self.eps).clamp_(max=1.0)
        generator = torch.Generator(device="cpu").manual_seed(self.seed)
        adversarial = images.clone()
        momentum = torch.zeros_like(images)
        for step in range(self.steps):
            check_stop(should_stop, name)
            leaf = adversarial.detach().requires_grad_(True)
            objective = goal.objective(model(self.diversify(leaf, generator)))
            (gradient,) = torch.autograd.grad(objective, leaf)
            scale = gradient.abs().mean(dim=(1, 2, 3), keepdim=True)
            gradient.div_(torch.where(scale > 0, scale, torch.ones_like(scale)))
            momentum.mul_(self.decay).add_(gradient)
            if linf:  # fused: the sign into the spent gradient's storage, no new tensor
                adversarial.add_(torch.sign(momentum, out=gradient), alpha=self.step_size)
                torch.clamp(adversarial, low, high, out=adversarial)
            else:
                adversarial.add_(self.distance.direction(gradient.copy_(momentum)),
                                 alpha=self.step_size)
                adversarial = self.distance.clip(adversarial, images, self.eps)
            report(progress, step + 1, self.steps, float(objective.detach()))
        return adversarial
