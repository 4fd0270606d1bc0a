"""Differentiable photometric transforms on float RGB ``(B, 3, H, W)`` images.

Parameters are per sample: a python float (shared) or a ``(B,)`` tensor. Nothing is clamped
here (clamping to [0, 1] is the caller's choice). Each op returns exactly its input at its
identity setting (delta 0, factor 1, identity matrix, gamma 1, sigma 0, length 0, std 0), also
per sample inside a mixed batch. JPEG is in :mod:`.compression`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.transforms.geometry import _check_images, _exact_identity, _per_sample


def _check_non_negative(value: Tensor, name: str) -> None:
    if not bool(torch.isfinite(value).all()) or bool((value < 0).any()):
        raise ChickenSaviourError(f"{name} must be finite and >= 0, got {value.tolist()}")


def _border_mode(radius: int, images: Tensor) -> str:
    # Reflect padding needs the pad to be smaller than the side; tiny images replicate.
    return "reflect" if radius < min(images.shape[-2:]) else "replicate"


def _filter_per_sample(images: Tensor, kernels: Tensor) -> Tensor:
    """Correlate each sample with its own odd ``(K, K)`` kernel (kernels (B, K, K)).

    One grouped convolution for the whole batch: the ``B * C`` planes become the channels
    of a single image, each with its sample's kernel.
    """
    batch, channels, height, _ = images.shape
    radius = kernels.shape[-1] // 2
    padded = F.pad(images, (radius,) * 4, mode=_border_mode(radius, images))
    planes = padded.reshape(1, batch * channels, height + 2 * radius, -1)
    weight = kernels.repeat_interleave(channels, dim=0).unsqueeze(1)
    return F.conv2d(planes, weight, groups=batch * channels).view_as(images)


def _separable_per_sample(images: Tensor, kernels: Tensor) -> Tensor:
    """Correlate each sample with the outer product of its odd 1-D kernel (kernels (B, K)).

    A row pass then a column pass, each one grouped convolution over the ``B * C`` planes:
    ``2 K`` multiplies a pixel instead of ``K ** 2``.
    """
    batch, channels, height, _ = images.shape
    size = kernels.shape[-1]
    radius = size // 2
    padded = F.pad(images, (radius,) * 4, mode=_border_mode(radius, images))
    planes = padded.reshape(1, batch * channels, height + 2 * radius, -1)
    weight = kernels.repeat_interleave(channels, dim=0).view(batch * channels, 1, 1, size)
    rows = F.conv2d(planes, weight, groups=batch * channels)
    out = F.conv2d(rows, weight.view(batch * channels, 1, size, 1), groups=batch * channels)
    return out.view_as(images)


def _active_samples(images: Tensor, identity: Tensor, blur: Callable[[Tensor, Tensor], Tensor]
                    ) -> Tensor:
    """``blur(images[i], i)`` for the samples ``i`` not at their identity, ``images`` elsewhere.

    Identity samples are exactly ``images`` (the blur's derivative in its parameter vanishes
    there, so their zero parameter gradient is the true one) and cost nothing.
    """
    if not bool(identity.any()):
        return blur(images, torch.arange(images.shape[0], device=images.device))
    active = (~identity).nonzero().squeeze(1)
    return images.index_put((active,), blur(images[active], active))


def brightness(images: Tensor, delta: Tensor | float) -> Tensor:
    """Add ``delta`` (B,) to every pixel. Example: ``brightness(x, 0.1)``."""
    _check_images(images)
    delta = _per_sample(delta, images, "delta")
    return images + delta.view(-1, 1, 1, 1)  # x + 0 is exactly x


def contrast(images: Tensor, factor: Tensor | float) -> Tensor:
    """Scale the distance from mid-grey: ``(x - 0.5) * factor + 0.5``, factor (B,) >= 0.

    Example: ``contrast(x, torch.tensor([0.8, 1.2]))``.
    """
    _check_images(images)
    factor = _per_sample(factor, images, "factor")
    _check_non_negative(factor, "contrast factor")
    out = (images - 0.5) * factor.view(-1, 1, 1, 1) + 0.5
    return _exact_identity(factor == 1, images, out)


def colour_matrix(images: Tensor, matrix: Tensor) -> Tensor:
    """Mix the channels: ``out[:, i] = sum_j matrix[i, j] * x[:, j]``; matrix (B, 3, 3) or (3, 3).

    Example: ``colour_matrix(x, torch.eye(3) * torch.tensor([1.1, 1.0, 0.9]))`` (white balance).
    """
    _check_images(images)
    batch = images.shape[0]
    if not isinstance(matrix, Tensor) or matrix.shape[-2:] != (3, 3) or matrix.ndim not in (2, 3):
        raise ChickenSaviourError(f"matrix must have shape (3, 3) or ({batch}, 3, 3), got "
                                  f"{getattr(matrix, 'shape', matrix)}")
    if matrix.ndim == 3 and matrix.shape[0] not in (1, batch):
        raise ChickenSaviourError(f"matrix batch must be 1 or {batch}, got {matrix.shape[0]}")
    matrix = matrix.to(images.dtype).to(images.device).expand(batch, 3, 3)
    out = torch.einsum("bij,bjhw->bihw", matrix, images)
    eye = torch.eye(3, dtype=images.dtype, device=images.device)
    return _exact_identity((matrix == eye).flatten(1).all(dim=1), images, out)


def gamma(images: Tensor, gamma: Tensor | float) -> Tensor:
    """Power curve ``sign(x) * |x| ** gamma``, gamma (B,) > 0 (< 1 brightens dark tones).

    Odd-symmetric so values below 0 (no clamping) give no NaN; at ``x = 0`` the value is 0 and
    the gradients are finite (0). Example: ``gamma(x, 2.2)``.
    """
    _check_images(images)
    gamma = _per_sample(gamma, images, "gamma")
    if not bool(torch.isfinite(gamma).all()) or bool((gamma <= 0).any()):
        raise ChickenSaviourError(f"gamma must be finite and > 0, got {gamma.tolist()}")

    def curve(x: Tensor) -> Tensor:
        size = x.abs()
        nonzero = size > 0
        # pow's gradients at 0 are inf or NaN: evaluate it at 1 there and select 0 instead.
        safe = torch.where(nonzero, size, torch.ones_like(size))
        powered = safe ** gamma.view(-1, 1, 1, 1)
        return torch.where(nonzero, torch.sign(x) * powered, torch.zeros_like(x))

    identity = gamma == 1
    out = curve(images)
    if not bool(identity.any()):
        return out
    # At gamma 1 the image gradient is the identity's (1 everywhere, also at 0); the gamma
    # gradient (x log|x|) comes from the curve evaluated on detached images.
    on_detached = curve(images.detach())
    exact = images + (on_detached - on_detached.detach())
    return torch.where(identity.view(-1, 1, 1, 1), exact, out)


def gaussian_blur(images: Tensor, sigma: Tensor | float) -> Tensor:
    """Gaussian blur with per-sample ``sigma`` (B,) >= 0 pixels; sigma 0 is the identity.

    The kernel side is ``2 * ceil(3 * max(sigma)) + 1`` for the whole batch; reflect padding
    (replicate on images smaller than the kernel radius). Example: ``gaussian_blur(x, 1.5)``.
    """
    _check_images(images)
    sigma = _per_sample(sigma, images, "sigma")
    _check_non_negative(sigma, "sigma")
    identity = sigma == 0
    if bool(identity.all()):
        # Nothing to blur; sigma's gradient at 0 is exactly 0 (all its orders vanish there).
        return images.clone() if not sigma.requires_grad else images + 0 * sigma.view(-1, 1, 1, 1)
    radius = max(1, math.ceil(3.0 * float(sigma.detach().max())))
    taps = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    # Sigma 0 would divide by zero in the kernel: use 1 there (those samples are not blurred).
    safe = torch.where(identity, torch.ones_like(sigma), sigma)
    kernels = torch.exp(-(taps ** 2) / (2 * safe.view(-1, 1) ** 2))
    kernels = kernels / kernels.sum(dim=1, keepdim=True)
    return _active_samples(images, identity,
                           lambda x, index: _separable_per_sample(x, kernels[index]))


def _triangle_integral(t: Tensor) -> Tensor:
    """Antiderivative of the unit triangle ``max(0, 1 - |t|)``, from 0 at -1 to 1 at 1."""
    t = t.clamp(-1.0, 1.0)
    return torch.where(t <= 0, (t + 1) ** 2 / 2, 1 - (1 - t) ** 2 / 2)


def motion_blur(images: Tensor, length: Tensor | float, angle: Tensor | float) -> Tensor:
    """Blur along a line of ``length`` (B,) >= 0 pixels at ``angle`` (B,) radians.

    Angle 0 is horizontal, positive counter-clockwise as displayed. Each tap weighs the line
    segment integrated against a bilinear (tent) footprint, so the kernel moves smoothly with
    length and angle; length 0 is the identity. Kernel side ``2 * ceil(max(length) / 2 + 1) + 1``.
    Example: ``motion_blur(x, 5.0, math.pi / 4)``.
    """
    _check_images(images)
    length = _per_sample(length, images, "length")
    angle = _per_sample(angle, images, "angle")
    _check_non_negative(length, "length")
    if not bool(torch.isfinite(angle).all()):
        raise ChickenSaviourError("angle must be finite")
    identity = length == 0
    if bool(identity.all()):
        # Length 0's gradient is exactly 0: the kernel's derivative in length vanishes there.
        return (images.clone() if not (length.requires_grad or angle.requires_grad)
                else images + 0 * (length + angle).view(-1, 1, 1, 1))
    radius = math.ceil(float(length.detach().max()) / 2 + 1)
    taps = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    v, u = torch.meshgrid(taps, taps, indexing="ij")  # v rows (y down), u columns (x)
    cos, sin = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    along = u * cos - v * sin
    across = u * sin + v * cos
    # Length 0 would leave an all-zero kernel: use 1 there (those samples are not blurred).
    half = torch.where(identity, torch.ones_like(length), length).view(-1, 1, 1) / 2
    kernels = (_triangle_integral(along + half) - _triangle_integral(along - half)) \
        * (1 - across.abs()).clamp_min(0)
    kernels = kernels / kernels.sum(dim=(-2, -1), keepdim=True)
    return _active_samples(images, identity,
                           lambda x, index: _filter_per_sample(x, kernels[index]))


def gaussian_noise(images: Tensor, std: Tensor | float,
                   generator: torch.Generator | None = None) -> Tensor:
    """Add ``std`` (B,) >= 0 times standard normal noise drawn with ``generator``.

    Differentiable w.r.t. images and std. Example: ``gaussian_noise(x, 0.02, generator=g)``.
    """
    _check_images(images)
    std = _per_sample(std, images, "std")
    _check_non_negative(std, "std")
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype,
                        device=images.device)
    return images + std.view(-1, 1, 1, 1) * noise  # x + (0 * n) is exactly x


def _float_or_buffer(module: nn.Module, name: str, value: Tensor | float) -> None:
    """Store a fixed parameter: tensors as buffers (so ``.to()`` moves them), floats as is."""
    if isinstance(value, Tensor):
        module.register_buffer(name, value.detach().clone())
    else:
        setattr(module, name, float(value))


class Brightness(nn.Module):
    """Module form of :func:`brightness` with a fixed ``delta``."""

    def __init__(self, delta: Tensor | float) -> None:
        super().__init__()
        _float_or_buffer(self, "delta", delta)

    def forward(self, images: Tensor) -> Tensor:
        return brightness(images, self.delta)


class Contrast(nn.Module):
    """Module form of :func:`contrast` with a fixed ``factor``."""

    def __init__(self, factor: Tensor | float) -> None:
        super().__init__()
        _float_or_buffer(self, "factor", factor)

    def forward(self, images: Tensor) -> Tensor:
        return contrast(images, self.factor)


class ColourMatrix(nn.Module):
    """Module form of :func:`colour_matrix` with a fixed (3, 3) or (B, 3, 3) ``matrix``."""

    def __init__(self, matrix: Tensor) -> None:
        super().__init__()
        self.register_buffer("matrix", matrix.detach().clone())

    def forward(self, images: Tensor) -> Tensor:
        return colour_matrix(images, self.matrix)


class Gamma(nn.Module):
    """Module form of :func:`gamma` with a fixed ``gamma``."""

    def __init__(self, gamma: Tensor | float) -> None:
        super().__init__()
        _float_or_buffer(self, "gamma", gamma)

    def forward(self, images: Tensor) -> Tensor:
        return gamma(images, self.gamma)


class GaussianBlur(nn.Module):
    """Module form of :func:`gaussian_blur` with a fixed ``sigma``."""

    def __init__(self, sigma: Tensor | float) -> None:
        super().__init__()
        _float_or_buffer(self, "sigma", sigma)

    def forward(self, images: Tensor) -> Tensor:
        return gaussian_blur(images, self.sigma)


class MotionBlur(nn.Module):
    """Module form of :func:`motion_blur` with a fixed ``length`` and ``angle``."""

    def __init__(self, length: Tensor | float, angle: Tensor | float) -> None:
        super().__init__()
        _float_or_buffer(self, "length", length)
        _float_or_buffer(self, "angle", angle)

    def forward(self, images: Tensor) -> Tensor:
        return motion_blur(images, self.length, self.angle)


class GaussianNoise(nn.Module):
    """Module form of :func:`gaussian_noise` with a fixed ``std`` and optional generator."""

    def __init__(self, std: Tensor | float, generator: torch.Generator | None = None) -> None:
        super().__init__()
        _float_or_buffer(self, "std", std)
        self.generator = generator

    def forward(self, images: Tensor) -> Tensor:
        return gaussian_noise(images, self.std, self.generator)
