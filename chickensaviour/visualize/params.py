"""Image parameterisations: ``(params, image_fn)`` pairs; ``image_fn()`` is ``(1, 3, H, W)``
in ``[0, 1]``.

* :func:`pixel_image`: the pixels themselves (kept in range by clamping after each step).
* :func:`fourier_image`: a scaled Fourier spectrum with decorrelated colours (Olah et al.,
  "Feature Visualization", Distill 2017): gradient steps favour low frequencies and
  natural colour statistics, so images come out less noisy without explicit penalties.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from chickensaviour.errors import ChickenSaviourError

ImageFn = Callable[[], torch.Tensor]
Param = tuple[list[torch.Tensor], ImageFn]

# Colour correlation of ImageNet, square-root of its covariance (lucent's constants).
_COLOR_CORRELATION_SVD_SQRT = torch.tensor([[0.26, 0.09, 0.02],
                                            [0.27, 0.00, -0.05],
                                            [0.27, -0.09, 0.03]])
_MAX_NORM = float(torch.linalg.norm(_COLOR_CORRELATION_SVD_SQRT, dim=0).max())


def _check(size: int) -> None:
    if not 16 <= size <= 2048:
        raise ChickenSaviourError(f"image size must be in 16..2048, got {size}")


def pixel_image(size: int, *, start: str = "noise", seed: int = 0,
                device: str | torch.device = "cpu", noise: float = 0.1) -> Param:
    """Pixels as parameters, from mid grey plus uniform ``noise``, or from grey only."""
    _check(size)
    if start not in ("noise", "grey"):
        raise ChickenSaviourError(f"start must be noise or grey, got {start!r}")
    generator = torch.Generator().manual_seed(seed)
    image = torch.full((1, 3, size, size), 0.5)
    if start == "noise":
        image = image + (torch.rand(image.shape, generator=generator) * 2 - 1) * noise
    pixels = image.clamp(0, 1).to(device).requires_grad_(True)
    return [pixels], lambda: pixels


def fourier_image(size: int, *, seed: int = 0, device: str | torch.device = "cpu",
                  sd: float = 0.01, decay_power: float = 1.0) -> Param:
    """A decorrelated Fourier parameterisation: spectrum scaled by ``1 / f^decay_power``."""
    _check(size)
    generator = torch.Generator().manual_seed(seed)
    fy = torch.fft.fftfreq(size)[:, None]
    fx = torch.fft.rfftfreq(size)[None, :]
    frequencies = torch.sqrt(fx * fx + fy * fy)
    scale = 1.0 / torch.clamp(frequencies, min=1.0 / size) ** decay_power
    spectrum = (torch.randn((1, 3, *frequencies.shape, 2), generator=generator) * sd)
    spectrum = spectrum.to(device).requires_grad_(True)
    scale = scale.to(device)
    correlation = (_COLOR_CORRELATION_SVD_SQRT / _MAX_NORM).to(device)

    def image_fn() -> torch.Tensor:
        complex_spectrum = torch.view_as_complex(spectrum) * scale
        image = torch.fft.irfft2(complex_spectrum, s=(size, size), norm="ortho") / 4.0
        decorrelated = torch.einsum("bchw,dc->bdhw", image, correlation)
        return torch.sigmoid(decorrelated)

    return [spectrum], image_fn
