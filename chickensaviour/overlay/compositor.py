"""``PatchCompositor``: paste a square patch into boxes of a frame, differentiably.

Pure torch: the patch is resized with bilinear interpolation, placed at the centre of the
box (or at a given offset) with a side that is a fraction of the box's shorter side, and
alpha-blended. Gradients flow to the patch, which the in-context refinement relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from chickensaviour.errors import ChickenSaviourError


@dataclass(frozen=True)
class Placement:
    """Where a patch goes in a frame: top-left corner and side, in whole pixels."""

    left: int
    top: int
    side: int

    def __post_init__(self) -> None:
        if self.side < 1:
            raise ChickenSaviourError(f"patch side must be >= 1 pixel, got {self.side}")


def placement_in_box(box: tuple[float, float, float, float], fraction: float, width: int,
                     height: int, offset: tuple[float, float] = (0.5, 0.5)) -> Placement | None:
    """A square of ``fraction`` x the box's shorter side, inside the frame.

    ``offset`` places the patch's centre at that relative position of the box (0.5, 0.5
    is the centre). Returns ``None`` for boxes too small to hold a 2-pixel patch.
    """
    if not 0.0 < fraction <= 1.0:
        raise ChickenSaviourError(f"patch size fraction must be in (0, 1], got {fraction}")
    x1, y1, x2, y2 = (float(v) for v in box)
    side = round(min(x2 - x1, y2 - y1) * fraction)
    side = min(side, width, height)
    if side < 2:
        return None
    centre_x = x1 + (x2 - x1) * offset[0]
    centre_y = y1 + (y2 - y1) * offset[1]
    left = round(min(max(centre_x - side / 2, 0), width - side))
    top = round(min(max(centre_y - side / 2, 0), height - side))
    return Placement(left, top, side)


class PatchCompositor:
    """Blend a patch ``(1, 3, S, S)`` into frames ``(B, 3, H, W)``, all in ``[0, 1]``.

    Args:
        alpha: opacity of the patch, 1 = opaque.

    Example: ``after = PatchCompositor(alpha=1.0)(frame, patch, [placement])``
    """

    def __init__(self, *, alpha: float = 1.0) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ChickenSaviourError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = alpha

    def __call__(self, frames: torch.Tensor, patch: torch.Tensor,
                 placements: list[Placement | None], *,
                 brightness: torch.Tensor | None = None) -> torch.Tensor:
        """One placement per frame of the batch (``None``: leave that frame as it is).

        ``brightness`` ``(B,)`` optionally scales the patch per frame (lighting changes).
        """
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ChickenSaviourError(f"expected frames (B, 3, H, W), got {tuple(frames.shape)}")
        if patch.ndim != 4 or patch.shape[:2] != (1, 3):
            raise ChickenSaviourError(f"expected a patch (1, 3, S, S), got {tuple(patch.shape)}")
        if len(placements) != frames.shape[0]:
            raise ChickenSaviourError(
                f"{len(placements)} placements for a batch of {frames.shape[0]} frames")
        height, width = frames.shape[-2:]
        rows = []
        for index, place in enumerate(placements):
            frame = frames[index : index + 1]
            if place is None:
                rows.append(frame)
                continue
            inside = (place.left >= 0 and place.top >= 0 and place.left + place.side <= width
                      and place.top + place.side <= height)
            if not inside:
                raise ChickenSaviourError(
                    f"placement {place} lies outside a {width}x{height} frame")
            resized = patch
            if patch.shape[-1] != place.side or patch.shape[-2] != place.side:
                resized = F.interpolate(patch, size=(place.side, place.side), mode="bilinear",
                                        align_corners=False, antialias=place.side < patch.shape[-1])
            if brightness is not None:
                resized = (resized * brightness[index]).clamp(0.0, 1.0)
            region = frame[:, :, place.top : place.top + place.side,
                           place.left : place.left + place.side]
            blended = self.alpha * resized + (1.0 - self.alpha) * region
            padded = F.pad(blended - region, (place.left, width - place.left - place.side,
                                              place.top, height - place.top - place.side))
            rows.append(frame + padded)
        return torch.cat(rows, dim=0)
