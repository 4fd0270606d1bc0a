"""Fast Gradient Sign Method, untargeted and targeted, and the seed's negative-eps form."""

from __future__ import annotations

import torch
from torch import nn

from chickensaviour.attacks.base import Attack, Goal, objective_and_gradient, untargeted
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report


class FGSM(Attack):
    """FGSM (Goodfellow et al., "Explaining and Harnessing Adversarial Examples", 2015).

    One step of size ``eps`` along the sign of the input gradient: away from the true
    label for :class:`Misclassification`, towards the target for
    :class:`TargetedMisclassification` (the "targeted FGSM" of Kurakin et al., 2017).
    With ``distance="l2"`` the step is ``eps`` along the gradient normalised per image
    (the fast gradient method).

    Shape:
        - images: ``(B, 3, H, W)`` in ``[0, 1]``; returns the same shape and range.

    Example: ``x_adv = FGSM(eps=8/255)(model, x, targeted(759))``
    """

    def run(self, model: nn.Module, images: torch.Tensor, goal: Goal, *,
            progress: ProgressFn | None = None,
            should_stop: StopFn | None = None) -> torch.Tensor:
        check_stop(should_stop, "FGSM")
        value, gradient = objective_and_gradient(model, images, goal)
        report(progress, 1, 1, value)
        return images + self.eps * self.distance.direction(gradient)


class NegativeEpsilonFGSM(Attack):
    """FGSM written as in the deep-chicken-saviour seed: ``x + eps * sign(grad CE(x, y))``.

    ``eps`` is *signed*. With a positive ``eps`` and the true label it is untargeted FGSM
    (it "un-optimises" the image); with a negative ``eps`` and a target label ``y`` it
    lowers the loss for ``y``, i.e. it is targeted FGSM with budget ``|eps|``. The goal's
    classes are the label ``y`` whatever the goal's type.

    Example: ``NegativeEpsilonFGSM(eps=-8/255)(model, x, untargeted(hog))`` pushes ``x``
    towards "hog" exactly as ``FGSM(eps=8/255)(model, x, targeted(hog))`` does.
    """

    def __init__(self, *, eps: float, quantize: bool = False) -> None:
        if not -1.0 <= eps <= 1.0:
            raise ChickenSaviourError(f"eps must be in [-1, 1], got {eps!r}")
        super().__init__(eps=abs(eps), quantize=quantize)
        self.sign = -1.0 if eps < 0 else 1.0

    @property
    def signed_eps(self) -> float:
        """``eps`` with the sign given to ``__init__`` (kept by :meth:`~Attack.with_eps`)."""
        return self.sign * self.eps

    def run(self, model: nn.Module, images: torch.Tensor, goal: Goal, *,
            progress: ProgressFn | None = None,
            should_stop: StopFn | None = None) -> torch.Tensor:
        check_stop(should_stop, "FGSM")
        loss_goal = untargeted(goal.classes, images.shape[0], images.device)  # ascend CE(x, y)
        value, gradient = objective_and_gradient(model, images, loss_goal)
        report(progress, 1, 1, value)
        return images + self.signed_eps * gradient.sign()
