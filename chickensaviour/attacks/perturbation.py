"""Making perturbations visible: amplified differences and per-channel maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from chickensaviour.errors import ChickenSaviourError


def _check_pair(original: torch.Tensor, adversarial: torch.Tensor) -> None:
    if original.shape != adversarial.shape:
        raise ChickenSaviourError(
            f"images differ in shape: {tuple(original.shape)} vs {tuple(adversarial.shape)}"
        )
    if original.ndim != 4 or original.shape[1] != 3:
        raise ChickenSaviourError(f"expected (B, 3, H, W) images, got {tuple(original.shape)}")


def amplified_difference(original: torch.Tensor, adversarial: torch.Tensor,
                         gain: float | None = None) -> torch.Tensor:
    """``0.5 + gain * (adversarial - original)`` clamped to ``[0, 1]``: grey means unchanged.

    With ``gain=None`` the largest change of each image is stretched to the full range.

    Shape: ``(B, 3, H, W)`` -> ``(B, 3, H, W)`` in ``[0, 1]``.
    """
    _check_pair(original, adversarial)
    difference = adversarial - original
    if gain is None:
        peak = difference.abs().amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-12)
        scale = 0.5 / peak
    else:
        if gain <= 0:
            raise ChickenSaviourError(f"gain must be positive, got {gain}")
        scale = torch.full_like(difference[:, :1, :1, :1], float(gain))
    return (0.5 + difference * scale).clamp(0.0, 1.0)


def channel_differences(original: torch.Tensor, adversarial: torch.Tensor) -> torch.Tensor:
    """Signed per-channel change ``adversarial - original`` (R, G, B), in ``[-1, 1]``."""
    _check_pair(original, adversarial)
    return adversarial - original


def diverging_colormap(values: torch.Tensor, limit: float) -> torch.Tensor:
    """Map signed ``(H, W)`` values to RGB ``(3, H, W)``: blue < 0, white 0, red > 0."""
    if values.ndim != 2:
        raise ChickenSaviourError(f"expected a (H, W) map, got {tuple(values.shape)}")
    t = (values / max(limit, 1e-12)).clamp(-1.0, 1.0)
    positive, negative = t.clamp(min=0.0), (-t).clamp(min=0.0)
    red = 1.0 - negative
    green = 1.0 - positive - negative
    blue = 1.0 - positive
    return torch.stack([red, green, blue]).clamp(0.0, 1.0)


def channel_difference_strip(original: torch.Tensor, adversarial: torch.Tensor,
                             gap: int = 8) -> torch.Tensor:
    """The R, G and B changes of the first image side by side, one shared colour scale.

    Shape: ``(B, 3, H, W)`` pair -> ``(1, 3, H, 3W + 2 gap)`` in ``[0, 1]`` (white gaps).
    """
    difference = channel_differences(original, adversarial)[0]
    limit = float(difference.abs().max())
    panels = [diverging_colormap(difference[c], limit) for c in range(3)]
    spacer = torch.ones(3, difference.shape[1], gap, dtype=difference.dtype,
                        device=difference.device)
    strip = torch.cat([panels[0], spacer, panels[1], spacer, panels[2]], dim=2)
    return strip.unsqueeze(0)


def linf_distance(original: torch.Tensor, adversarial: torch.Tensor) -> torch.Tensor:
    """``(B,)`` L-infinity norm of the change of each image."""
    _check_pair(original, adversarial)
    return (adversarial - original).abs().flatten(1).amax(dim=1)


def l2_distance(original: torch.Tensor, adversarial: torch.Tensor) -> torch.Tensor:
    """``(B,)`` L2 norm of the change of each image (pixel units)."""
    _check_pair(original, adversarial)
    return F.pairwise_distance(adversarial.flatten(1), original.flatten(1), eps=0.0)
