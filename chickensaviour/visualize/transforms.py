"""Random transformations applied to the image before each forward pass.

Each is a small callable ``(image, generator) -> image``; a list of them is applied in
order (:func:`apply`). Making the objective hold under small shifts, scalings and
rotations is what keeps feature visualisations from collapsing into high-frequency noise
(Mordvintsev et al. 2015; Olah et al. 2017). These only draw the parameters from the
generator; :mod:`chickensaviour.transforms.geometry` does the operation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from chickensaviour.transforms import geometry

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _uniform_int(low: int, high: int, generator: torch.Generator) -> int:
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def jitter(pixels: int) -> Transform:
    """Roll the image by up to ``pixels`` in x and y (wrapping around)."""
    def transform(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        dx = _uniform_int(-pixels, pixels, generator)
        dy = _uniform_int(-pixels, pixels, generator)
        return geometry.roll(image, dx, dy)

    return transform


def pad(pixels: int, value: float = 0.5) -> Transform:
    """Pad with a constant border (so jitter and rotation do not show wrapped edges)."""
    def transform(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return geometry.pad(image, pixels, value)

    return transform


def random_scale(scales: Sequence[float]) -> Transform:
    """Resize by one of ``scales`` (bilinear; the image size changes, at least 8 pixels)."""
    def transform(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        scale = scales[_uniform_int(0, len(scales) - 1, generator)]
        height, width = (max(8, round(s * scale)) for s in image.shape[-2:])
        return geometry.resize(image, (height, width))

    return transform


def random_rotate(degrees: Sequence[float]) -> Transform:
    """Rotate about the centre by one of ``degrees`` (reflected borders)."""
    def transform(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        angle = math.radians(degrees[_uniform_int(0, len(degrees) - 1, generator)])
        return geometry.rotate(image, angle, padding_mode="reflection")

    return transform


def apply(transforms: Sequence[Transform], image: torch.Tensor,
          generator: torch.Generator) -> torch.Tensor:
    """Apply ``transforms`` in order, each drawing its parameters from ``generator``."""
    for transform in transforms:
        image = transform(image, generator)
    return image


#: lucent's standard robustness transforms, in [0, 1] images.
STANDARD: tuple[Transform, ...] = (
    pad(12), jitter(8), random_scale([1 + (i - 5) / 50 for i in range(11)]),
    random_rotate(list(range(-10, 11)) + 5 * [0]), jitter(4),
)
