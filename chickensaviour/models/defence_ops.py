"""The defences' transforms as pure functions on float RGB ``(B, 3, H, W)`` in ``[0, 1]``.

Differentiable where the operation is (blur, resize-and-pad); JPEG, median and bit depth
are exact and non-differentiable, and :func:`straight_through` gives them the identity
gradient (BPDA). :mod:`chickensaviour.models.defences` wraps each in a module.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.imaging import bgr_to_tensor, tensor_to_bgr
from chickensaviour.models.wrapper import check_images


def straight_through(images: torch.Tensor, transformed: torch.Tensor) -> torch.Tensor:
    """``transformed`` in the forward pass, identity gradient to ``images`` (BPDA)."""
    return images + (transformed - images).detach()


def gaussian_kernel_size(sigma: float) -> int:
    """Odd kernel side covering ``+-3 sigma`` (at least 3)."""
    return 2 * max(1, math.ceil(3.0 * sigma)) + 1


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflect (OpenCV's default, ``BORDER_REFLECT_101``)
    padding; kernel side :func:`gaussian_kernel_size`. Exact and differentiable.

    Shape: ``(B, 3, H, W)`` -> ``(B, 3, H, W)``.
    """
    check_images(images)
    check_sigma(sigma)
    size = gaussian_kernel_size(sigma)
    radius = size // 2
    offsets = torch.arange(size, dtype=torch.float64) - radius
    kernel = torch.exp(-(offsets**2) / (2.0 * sigma * sigma))
    kernel = (kernel / kernel.sum()).to(device=images.device, dtype=images.dtype)
    channels = images.shape[1]
    height, width = images.shape[-2:]
    # Reflect padding needs the pad to be smaller than the side; tiny images replicate.
    mode = "reflect" if radius < min(height, width) else "replicate"
    x = F.pad(images, (radius, radius, radius, radius), mode=mode)
    x = F.conv2d(x, kernel.view(1, 1, 1, size).expand(channels, 1, 1, size), groups=channels)
    return F.conv2d(x, kernel.view(1, 1, size, 1).expand(channels, 1, size, 1), groups=channels)


def median_filter(images: torch.Tensor, size: int) -> torch.Tensor:
    """Median over each ``size x size`` window (replicate padding, as ``cv2.medianBlur``).

    Shape: ``(B, 3, H, W)`` -> ``(B, 3, H, W)``.
    """
    check_images(images)
    check_median_size(size)
    batch, channels, height, width = images.shape
    radius = size // 2
    x = images.reshape(batch * channels, 1, height, width)
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    windows = F.unfold(x, kernel_size=size)  # (B*C, size*size, H*W)
    return windows.median(dim=1).values.view(batch, channels, height, width)


def jpeg_compression(images: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode each image as JPEG at ``quality`` (1..100) with OpenCV and decode it again,
    as a reader of the file would see it (8-bit rounding included). Not differentiable.

    Shape: ``(B, 3, H, W)`` -> ``(B, 3, H, W)``, on the input's device and dtype.
    """
    import cv2  # the codec; the tensor <-> BGR conversion stays in chickensaviour.imaging

    check_images(images)
    check_quality(quality)
    decoded = []
    for image in images.detach():
        ok, data = cv2.imencode(".jpg", tensor_to_bgr(image),
                                [int(cv2.IMWRITE_JPEG_QUALITY), quality])
        frame = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
        if not isinstance(frame, np.ndarray):
            raise ChickenSaviourError(
                f"JPEG round trip failed for an image of {tuple(image.shape[-2:])}")
        decoded.append(bgr_to_tensor(frame))
    return torch.cat(decoded).to(device=images.device, dtype=images.dtype)


def bit_depth(images: torch.Tensor, bits: int) -> torch.Tensor:
    """Round each value to the nearest of ``2**bits`` levels in ``[0, 1]`` (Xu et al.,
    "Feature Squeezing", 2018). Not differentiable (zero gradient almost everywhere).

    Shape: ``(B, 3, H, W)`` -> ``(B, 3, H, W)``.
    """
    check_images(images)
    check_bits(bits)
    levels = float(2**bits - 1)
    return images.clamp(0.0, 1.0).mul(levels).round().div(levels)


def random_resize_pad(images: torch.Tensor, min_scale: float = 0.85, max_scale: float = 1.0,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Random resizing and padding (Xie et al., "Mitigating Adversarial Effects Through
    Randomization", 2018): each image is scaled by a random factor in
    ``[min_scale, max_scale]`` (bilinear, antialiased) and zero-padded back to its size at
    a random offset. Differentiable for a fixed draw.

    Shape: ``(B, 3, H, W)`` -> ``(B, 3, H, W)``.
    """
    check_images(images)
    check_scales(min_scale, max_scale)
    height, width = images.shape[-2:]
    # The draws come from a CPU generator so a seed means the same result on every device.
    draws = torch.rand(images.shape[0], 3, generator=generator, dtype=torch.float64)
    results = []
    for image, (u_scale, u_top, u_left) in zip(images, draws.tolist(), strict=True):
        scale = min_scale + (max_scale - min_scale) * u_scale
        new_h = min(height, max(1, round(height * scale)))
        new_w = min(width, max(1, round(width * scale)))
        x = image.unsqueeze(0)
        if (new_h, new_w) != (height, width):
            x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False,
                              antialias=True)
        top = min(height - new_h, int(u_top * (height - new_h + 1)))
        left = min(width - new_w, int(u_left * (width - new_w + 1)))
        results.append(F.pad(x, (left, width - new_w - left, top, height - new_h - top)))
    return torch.cat(results)


def check_scales(min_scale: float, max_scale: float) -> None:
    if not (math.isfinite(min_scale) and math.isfinite(max_scale)
            and 0.0 < min_scale <= max_scale <= 1.0):
        raise ChickenSaviourError(
            f"resize scales need 0 < min <= max <= 1, got {min_scale!r} and {max_scale!r}")


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_sigma(sigma: object) -> None:
    """A blur's sigma: a positive finite number of pixels."""
    if not (isinstance(sigma, (int, float)) and not isinstance(sigma, bool)
            and math.isfinite(sigma) and sigma > 0):
        raise ChickenSaviourError(f"blur sigma must be a positive number, got {sigma!r}")


def check_median_size(size: object) -> None:
    """A median window: an odd integer >= 3."""
    if not (_integer(size) and size >= 3 and size % 2 == 1):  # type: ignore[operator]
        raise ChickenSaviourError(f"median size must be an odd integer >= 3, got {size!r}")


def check_quality(quality: object) -> None:
    """A JPEG quality: an integer in 1..100."""
    if not (_integer(quality) and 1 <= quality <= 100):  # type: ignore[operator]
        raise ChickenSaviourError(f"JPEG quality must be an integer in 1..100, got {quality!r}")


def check_bits(bits: object) -> None:
    """A bit depth: an integer in 1..8."""
    if not (_integer(bits) and 1 <= bits <= 8):  # type: ignore[operator]
        raise ChickenSaviourError(f"bit depth must be an integer in 1..8, got {bits!r}")

