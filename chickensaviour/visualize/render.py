"""``render_vis``: optimise an image parameterisation to maximise an objective.

Returns the image as a tensor; saving is the caller's business. Between steps,
:class:`Regulariser` s may act on the image directly - Yosinski et al.'s "Understanding
Neural Networks Through Deep Visualization" (2015) regularisers: L2 decay towards grey,
periodic Gaussian blur, and clipping of pixels with small norm or small contribution.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.defence_ops import gaussian_blur
from chickensaviour.models.wrapper import ImageClassifier
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report
from chickensaviour.visualize.layers import LOGITS, captured
from chickensaviour.visualize.objectives import INPUT, Objective
from chickensaviour.visualize.params import Param
from chickensaviour.visualize.transforms import Transform, apply

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Regulariser:
    """An in-place operation on the pixel image every ``every`` steps (Yosinski 2015).

    ``kind``: "l2" (decay towards mid grey by ``amount`` per step), "blur" (Gaussian,
    sigma ``amount``), "clip" (pixels whose colour-vector norm, away from grey, is in the
    lowest ``amount`` fraction are set to grey).
    """

    kind: str
    amount: float
    every: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("l2", "blur", "clip"):
            raise ChickenSaviourError(f"unknown regulariser {self.kind!r}")
        if self.amount < 0 or self.every < 1:
            raise ChickenSaviourError("regulariser amount must be >= 0 and every >= 1")

    @torch.no_grad()
    def __call__(self, step: int, pixels: torch.Tensor) -> None:
        if (step + 1) % self.every:
            return
        if self.kind == "l2":
            pixels.sub_(0.5).mul_(1.0 - self.amount).add_(0.5)
        elif self.kind == "blur":
            if self.amount > 0:  # the library's one blur (the defences' too)
                pixels.copy_(gaussian_blur(pixels, self.amount))
        else:
            norm = (pixels - 0.5).norm(dim=1, keepdim=True)
            cut = torch.quantile(norm.flatten(), self.amount)
            pixels.copy_(torch.where(norm < cut, torch.full_like(pixels, 0.5), pixels))


def forward_activations(model: ImageClassifier, image: torch.Tensor,
                        layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """The named layers' outputs, the logits and the input for ``image`` in ``[0, 1]``.

    The image reaches the network at its own size (the zoo's networks pool adaptively),
    so a random scale or padding changes what the network sees, as it should.
    """
    with captured(model.net, layers) as outputs:
        logits = model.net(model.normalize(image))
    return {**outputs, LOGITS: logits, INPUT: image}


def render_vis(model: ImageClassifier, objective: Objective, param: Param, *,
               transforms: Sequence[Transform] = (), steps: int = 200, lr: float = 0.05,
               regularisers: Sequence[Regulariser] = (), seed: int = 0,
               progress: ProgressFn | None = None,
               should_stop: StopFn | None = None) -> torch.Tensor:
    """Maximise ``objective`` over ``param`` with Adam; the final image ``(1, 3, H, W)``.

    ``regularisers`` act on pixel parameterisations only (they need the pixels). The
    image is kept in ``[0, 1]`` by clamping (pixels) or by the parameterisation.
    """
    if steps < 1:
        raise ChickenSaviourError(f"steps must be >= 1, got {steps}")
    params, image_fn = param
    pixel_param = len(params) == 1 and params[0].dim() == 4 and image_fn() is params[0]
    if regularisers and not pixel_param:
        raise ChickenSaviourError("pixel regularisers (l2, blur, clip) need the pixel "
                                  "parameterisation")
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(params, lr=lr)
    model.eval()
    for step in range(steps):
        check_stop(should_stop, "visualisation")
        image = image_fn()
        transformed = apply(transforms, image, generator)
        activations = forward_activations(model, transformed, objective.layers)
        activations[INPUT] = image
        value = objective(activations).mean()
        # Gradients for the image parameters only: nothing accumulates on the model.
        gradients = torch.autograd.grad(-value, params)
        for param_tensor, gradient in zip(params, gradients, strict=True):
            param_tensor.grad = gradient
        optimiser.step()
        if pixel_param:
            with torch.no_grad():
                params[0].clamp_(0, 1)
            for regulariser in regularisers:
                regulariser(step, params[0])
        report(progress, step + 1, steps, float(value.detach()))
    with torch.no_grad():
        return image_fn().detach().clamp(0, 1)
