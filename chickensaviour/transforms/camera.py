"""Light and camera: white balance, colour mixing and tone curve, shadows, sensor noise.

Pure differentiable functions plus thin ``nn.Module`` wrappers (the kornia habit). Images
are float RGB ``(B, 3, H, W)``; per-sample parameters are ``(B,)`` tensors or floats.
Nothing here clamps (the simulation clamps once, where a sensor saturates); each op is an
exact identity at its identity parameters.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from chickensaviour.errors import ChickenSaviourError
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


class _ToneCurve(torch.autograd.Function):
    """``x ** g`` above :data:`TONE_TOE`, ``x * TONE_TOE ** (g - 1)`` below, g ``(B, 1, 1, 1)``.

    Hand-written derivatives: autograd's chain through clamp, pow and where costs about
    twice the passes over the image. Both are differentiable torch expressions, so double
    backward still works.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, images: Tensor, exponent: Tensor
                ) -> Tensor:
        base = images.clamp_min(TONE_TOE)
        slope = torch.full_like(exponent, TONE_TOE).pow(exponent - 1)
        out = torch.where(images >= TONE_TOE, base.pow(exponent), images * slope)
        ctx.save_for_backward(images, exponent, out)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor
                 ) -> tuple[Tensor | None, Tensor | None]:
        images, exponent, out = ctx.saved_tensors  # type: ignore[attr-defined]
        base = images.clamp_min(TONE_TOE)
        grad_images = grad_exponent = None
        if ctx.needs_input_grad[0]:  # type: ignore[attr-defined]
            slope = torch.full_like(exponent, TONE_TOE).pow(exponent - 1)
            # d(x^g)/dx = g x^g / x on the curve (x >= TONE_TOE > 0), the toe's slope below.
            grad_images = grad * torch.where(images >= TONE_TOE, out / base * exponent, slope)
        if ctx.needs_input_grad[1]:  # type: ignore[attr-defined]
            # d/dg is out * log(x) on the curve and out * log(TONE_TOE) on the line:
            # both are out * log(max(x, TONE_TOE)).
            grad_exponent = (grad * out * base.log()).sum(dim=(1, 2, 3), keepdim=True)
        return grad_images, grad_exponent


def tone_curve(images: Tensor, gamma: Tensor | float) -> Tensor:
    """``x ** gamma`` per sample for ``x >= TONE_TOE``, continued linearly below.

    The linear toe keeps the slope finite at 0 and defines the curve for the small
    negative values a colour matrix or noise can produce; ``gamma = 1`` is exactly ``x``.
    """
    check_images(images)
    exponent = per_sample(gamma, images.shape[0], images, "gamma")[:, None, None, None]
    return _ToneCurve.apply(images, exponent)


def camera_response(images: Tensor, matrix: Tensor, gamma: Tensor | float) -> Tensor:
    """A camera's colour mixing ``(B, 3, 3)`` (or ``(3, 3)``) and tone curve ``x ** gamma``.

    Each output channel is ``sum_j matrix[i, j] * x_j`` (one batched matrix product over
    the pixels), then :func:`tone_curve`. Samples whose matrix is exactly the identity get
    exactly ``x`` (reduced-precision matmuls such as TF32 would round it otherwise).

    Example:
        >>> out = camera_response(images, torch.eye(3), torch.tensor([1.1]))
    """
    check_images(images)
    batch, _, height, width = images.shape
    if matrix.ndim == 2:
        matrix = matrix.unsqueeze(0)
    matrix = per_sample(matrix, batch, images, "matrix", (3, 3))
    mixed = torch.bmm(matrix, images.reshape(batch, 3, height * width)).view_as(images)
    eye = torch.eye(3, dtype=matrix.dtype, device=matrix.device)
    identity = (matrix.detach() == eye).flatten(1).all(dim=1)
    if bool(identity.any()):
        # The value of x, the gradients of the product (the matrix's too).
        exact = images.detach() + (mixed - mixed.detach())
        mixed = torch.where(identity[:, None, None, None], exact, mixed)
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
        raise ChickenSaviourError(f"softness must be > 0, got {softness}")
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


#: Below this the shot noise's ``sqrt(x)`` is evaluated at the floor, keeping its slope
#: finite at black (the shot term vanishes there anyway).
_SIGNAL_FLOOR = 1e-6


class _SensorNoise(torch.autograd.Function):
    """``x + read * n1 + shot * sqrt(max(x, floor)) * n0``; shot, read ``(B, 1, 1, 1)``.

    Hand-written derivatives: autograd's chain through sqrt, clamp and the products costs
    about twice the passes over the image. Double backward still works.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, images: Tensor, shot: Tensor,
                read: Tensor, normal: Tensor) -> Tensor:
        signal = images.clamp_min(_SIGNAL_FLOOR).sqrt()
        # Fused multiply-adds, each adding an exact 0 when its std is 0.
        out = torch.addcmul(torch.addcmul(images, normal[1], read), normal[0] * shot, signal)
        ctx.save_for_backward(images, shot, normal)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor
                 ) -> tuple[Tensor | None, Tensor | None, Tensor | None, None]:
        images, shot, normal = ctx.saved_tensors  # type: ignore[attr-defined]
        needs = ctx.needs_input_grad  # type: ignore[attr-defined]
        # Recomputed from the saved inputs (not kept from forward) so that double backward
        # sees how they depend on images and shot.
        signal = images.clamp_min(_SIGNAL_FLOOR).sqrt()
        grad_images = grad_shot = grad_read = None
        if needs[0]:
            # d/dx of shot * sqrt(x) * n0 is shot * n0 / (2 sqrt(x)) above the floor, 0 at
            # and below it (clamp_min's derivative, as autograd gives it).
            slope = torch.where(images > _SIGNAL_FLOOR, normal[0] * shot / (2 * signal),
                                torch.zeros_like(signal))
            grad_images = torch.addcmul(grad, grad, slope)
        if needs[1]:
            grad_shot = (grad * normal[0] * signal).sum(dim=(1, 2, 3), keepdim=True)
        if needs[2]:
            grad_read = (grad * normal[1]).sum(dim=(1, 2, 3), keepdim=True)
        return grad_images, grad_shot, grad_read, None


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
    return _SensorNoise.apply(images, shot_, read_, normal)


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
