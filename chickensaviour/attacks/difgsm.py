"""Diverse-inputs iterative FGSM (DI-FGSM): random resize-and-pad for transferable attacks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from chickensaviour.attacks.distances import Distance
from chickensaviour.attacks.mifgsm import MIFGSM
from chickensaviour.errors import ChickenSaviourError


class DIFGSM(MIFGSM):
    """DI-FGSM (Xie et al., "Improving Transferability of Adversarial Examples with Input
    Diversity", CVPR 2019).

    Iterative FGSM whose gradient is taken, with probability ``diversity_prob`` per step,
    through a random resize of the image to ``resize_rate``..1 of its size (or 1..rate for
    a rate above 1) followed by a random zero-padding back to the full size. ``decay > 0``
    adds momentum (M-DI-FGSM). The randomness comes from ``seed``: same seed, same result.

    Args:
        eps, steps, step_size, decay, distance, quantize: as :class:`MIFGSM` (``decay``
            defaults to 0 here).
        resize_rate: size ratio of the smallest (or, above 1, largest) resize.
        diversity_prob: probability of transforming the input at each step.
        seed: seed of the resize/pad draws.

    Shape:
        - images: ``(B, 3, H, W)`` in ``[0, 1]``; returns the same shape and range.

    Example: ``x_adv = DIFGSM(eps=8/255, decay=1.0)(model, x, targeted(759))``
    """

    def __init__(self, *, eps: float, steps: int = 10, step_size: float | None = None,
                 decay: float = 0.0, resize_rate: float = 0.9, diversity_prob: float = 0.5,
                 seed: int = 0, distance: str | Distance = "linf",
                 quantize: bool = False) -> None:
        super().__init__(eps=eps, steps=steps, step_size=step_size, decay=decay,
                         distance=distance, quantize=quantize, seed=seed)
        if not (isinstance(resize_rate, (int, float)) and math.isfinite(resize_rate)
                and 0.0 < resize_rate <= 4.0):
            raise ChickenSaviourError(f"resize_rate must be in (0, 4], got {resize_rate!r}")
        if not (isinstance(diversity_prob, (int, float)) and 0.0 <= diversity_prob <= 1.0):
            raise ChickenSaviourError(
                f"diversity_prob must be in [0, 1], got {diversity_prob!r}")
        self.resize_rate = float(resize_rate)
        self.diversity_prob = float(diversity_prob)

    def diversify(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Resize by a random factor and zero-pad at a random offset, with probability p."""
        # Draw every number every step, so one step's outcome does not shift the next's.
        apply = float(torch.rand((), generator=generator)) < self.diversity_prob
        height, width = images.shape[-2:]
        small, big = sorted((height, max(1, int(height * self.resize_rate))))
        size = int(torch.randint(small, max(big, small + 1), (), generator=generator))
        top_draw, left_draw = torch.rand(2, generator=generator).tolist()
        if not apply or small == big:
            return images
        out_width = max(width, round(width * big / height))
        new_width = max(1, min(out_width, round(width * size / height)))
        rescaled = F.interpolate(images, size=(size, new_width), mode="bilinear",
                                 align_corners=False)
        top = int(top_draw * (big - size + 1))
        left = int(left_draw * (out_width - new_width + 1))
        return F.pad(rescaled, (left, out_width - new_width - left, top, big - size - top))
