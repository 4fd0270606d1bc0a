"""Light and camera: white balance, colour mixing and tone curve, shadows, sensor noise.

Pure differentiable functions plus thin ``nn.Module`` wrappers (the kornia habit). Images
are float RGB ``(B, 3, H, W)``; per-sample parameters are ``(B,)`` tensors or floats.
Nothing here clamps (the simulation clamps once, where a sensor saturates); each op is an
exact identity at its identity parameters.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from chickensaviour.transforms.printer import check_images, per_sample, store_parameter

#: Below this the tone curve continues as a straight line through 0 (like sRGB's linear
#: toe), so ``x ** gamma`` keeps a finite slope at black for gamma < 1.
TONE_TOE = 1e-3


def white_balance(images: Tensor, gains: Tensor) -> Tensor:
    """Multiply each channel by a per-sample gain ``(B, 3)``: a camera's white-balance error.

    Example:
        >>> warmer = white_balance(images, torch.tensor([[1.1, 1.0, 0.9]]))
    """
    check_images(images)
    gains = per_sample(gains, images.shape[0], images, "gains", (3,))
    return images * gains[:, :, None, None]


def tone_curve(images: Tensor, gamma: Tensor | float) -> Tensor:
    """``x ** gamma`` per sample for ``x >= TONE_TOE``, continued linearly below.

    The linear toe keeps the slope finite at 0 and defines the curve for the small
    negative values a colour matrix or noise can produce; ``gamma = 1`` is exactly ``x``.
    """
    check_images(images)
    exponent = per_sample(gamma, images.shape[0], images, "gamma")[:, None, None, None]
    toe = torch.as_tensor(TONE_TOE, dtype=images.dtype, device=images.device)
    curve = images.clamp_min(TONE_TOE).pow(exponent)
    line = images * toe.pow(exponent - 1)  # meets the curve at x = TONE_TOE
    return torch.where(images >= TONE_TOE, curve, line)


def camera_response(images: Tensor, matrix: Tensor, gamma: Tensor | float) -> Tensor:
    """A camera's colour mixing ``(B, 3, 3)`` (or ``(3, 3)``) and tone curve ``x ** gamma``.

    Each output channel is ``sum_j matrix[i, j] * x_j`` (written as a sum of products, not
    a matmul, so the identity matrix gives ``x`` exactly), then :func:`tone_curve`.

    Example:
        >>> out = camera_response(images, torch.eye(3), torch.tensor([1.1]))
    """
    check_images(images)
    batch = images.shape[0]
    if matrix.ndim == 2:
        matrix = matrix.unsqueeze(0)
    matrix = per_sample(matrix, batch, images, "matrix", (3, 3))
    mixed = (matrix[:, :, :, None, None] * images[:, None]).sum(dim=2)
    return tone_curve(mixed, gamma)


def shadow(images: Tensor, strength: Tensor | float, angle: Tensor | float,
           offset: Tensor | float, softness: float = 0.1) -> Tensor:
    """A soft straight-edged shadow: part of the image darkened by ``strength``.

    In coordinates ``u, v`` in [-1, 1] across the image, the shadow covers the side of the
    line ``u cos(angle) + v sin(angle) = offset`` that the normal points into, with a
    sigmoid penumbra ``softness`` wide (in the same units); pixels there are multiplied by
    ``1 - strength``. ``strength = 0`` is exactly the identity; ``offset`` beyond +-1.5
    puts the whole image out of (or into) the shadow.

    Args:
        images: ``(B, 3, H, W)``.
        strength: ``(B,)`` or float in [0, 1], the fraction of light the shadow removes.
        angle: ``(B,)`` or float, the direction of the edge's normal, radians.
        offset: ``(B,)`` or float, the edge's signed distance from the centre.
        softness: penumbra width, > 0.
    """
    check_images(images)
    if softness <= 0:
        raise ValueError(f"softness must be > 0, got {softness}")
    batch, _, height, width = images.shape
    strength_ = per_sample(strength, batch, images, "strength")
    angle_ = per_sample(angle, batch, images, "angle")
    offset_ = per_sample(offset, batch, images, "offset")
    v = torch.linspace(-1.0, 1.0, height, dtype=images.dtype, device=images.device)
    u = torch.linspace(-1.0, 1.0, width, dtype=images.dtype, device=images.device)
    distance = (u[None, None, :] * angle_.cos()[:, None, None]
                + v[None, :, None] * angle_.sin()[:, None, None] - offset_[:, None, None])
    covered = torch.sigmoid(distance / softness)  # (B, H, W)
    return images * (1 - strength_[:, None, None] * covered)[:, None]


def sensor_noise(images: Tensor, shot: Tensor | float, read: Tensor | float,
                 generator: torch.Generator | None = None) -> Tensor:
    """Signal-dependent sensor noise: Poisson-Gaussian in its Gaussian approximation.

    The variance at intensity ``x`` is ``shot^2 * x + read^2`` (Foi et al. 2008): ``shot``
    is the shot-noise std at full scale, ``read`` the signal-independent read noise.
    It is drawn as two independent Gaussians, ``shot * sqrt(x) * n1 + read * n2``, which
    has that variance and is exactly the identity when both are 0. The draw happens on
    the generator's device (then moves to the images'), so a seeded CPU generator gives
    the same noise on any device.

    Args:
        images: ``(B, 3, H, W)``.
        shot: ``(B,)`` or float >= 0.
        read: ``(B,)`` or float >= 0.
        generator: source of randomness (the global one if ``None``).
    """
    check_images(images)
    batch = images.shape[0]
    shot_ = per_sample(shot, batch, images, "shot")[:, None, None, None]
    read_ = per_sample(read, batch, images, "read")[:, None, None, None]
    draw_device = generator.device if generator is not None else images.device
    normal = torch.randn((2, *images.shape), generator=generator, dtype=images.dtype,
                         device=draw_device).to(images.device)
    # The floor keeps sqrt's slope finite at black (the shot term vanishes there anyway).
    signal = images.clamp_min(1e-6).sqrt()
    return images + shot_ * signal * normal[0] + read_ * normal[1]


class WhiteBalance(nn.Module):
    """Module form of :func:`white_balance`. Shape: ``(B, 3, H, W)`` -> same."""

    gains: Tensor

    def __init__(self, gains: Tensor) -> None:
        super().__init__()
        store_parameter(self, "gains", gains)

    def forward(self, images: Tensor) -> Tensor:
        return white_balance(images, self.gains)


class CameraResponse(nn.Module):
    """Module form of :func:`camera_response`. Shape: ``(B, 3, H, W)`` -> same."""

    matrix: Tensor
    gamma: Tensor | float

    def __init__(self, matrix: Tensor, gamma: Tensor | float) -> None:
        super().__init__()
        store_parameter(self, "matrix", matrix)
        store_parameter(self, "gamma", gamma)

    def forward(self, images: Tensor) -> Tensor:
        return camera_response(images, self.matrix, self.gamma)


class Shadow(nn.Module):
    """Module form of :func:`shadow`. Shape: ``(B, 3, H, W)`` -> same."""

    strength: Tensor | float
    angle: Tensor | float
    offset: Tensor | float

    def __init__(self, strength: Tensor | float, angle: Tensor | float,
                 offset: Tensor | float, softness: float = 0.1) -> None:
        super().__init__()
        store_parameter(self, "strength", strength)
        store_parameter(self, "angle", angle)
        store_parameter(self, "offset", offset)
        self.softness = softness

    def forward(self, images: Tensor) -> Tensor:
        return shadow(images, self.strength, self.angle, self.offset, self.softness)


class SensorNoise(nn.Module):
    """Module form of :func:`sensor_noise`. Shape: ``(B, 3, H, W)`` -> same."""

    shot: Tensor | float
    read: Tensor | float

    def __init__(self, shot: Tensor | float, read: Tensor | float,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        store_parameter(self, "shot", shot)
        store_parameter(self, "read", read)
        self.generator = generator

    def forward(self, images: Tensor) -> Tensor:
        return sensor_noise(images, self.shot, self.read, self.generator)
