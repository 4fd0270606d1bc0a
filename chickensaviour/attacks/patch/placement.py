"""Pasting a patch on boxes: plainly, or as a printed sheet seen through a camera.

One patch copy goes on each box of a :class:`~.scenes.SceneBatch`. Its side is a
fraction of the box (:class:`PatchSize`): of the shorter side for a classifier's decoy
("half the object's shorter side"), or of ``sqrt(area)`` for a hide patch on a person.
:func:`paste` places it plainly at the box centre (the live app, evaluation without a
simulation); :func:`simulate_views` is the expectation-over-transformation step: the
patch is printed (:meth:`PrintCameraSimulation.print_patch`), placed with a random
shift, scale, rotation and perspective tilt, and the whole scene is filmed
(:meth:`PrintCameraSimulation.capture`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from chickensaviour.attacks.patch.scenes import SceneBatch
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.transforms.geometry import square_corners, tilt_corners, warp_patch
from chickensaviour.transforms.print_camera import PrintCameraSimulation, SimulationDraw

SizeRule = Literal["shorter-side", "sqrt-area"]


@dataclass(frozen=True)
class PatchSize:
    """The patch side relative to its box: ``fraction`` x the shorter side, or x
    ``sqrt(width * height)``."""

    fraction: float = 0.5
    relative_to: SizeRule = "shorter-side"

    def __post_init__(self) -> None:
        if not 0.01 <= self.fraction <= 1.5:
            raise ChickenSaviourError(f"patch size fraction must be in 0.01..1.5, got "
                                      f"{self.fraction}")
        if self.relative_to not in ("shorter-side", "sqrt-area"):
            raise ChickenSaviourError("patch size is relative to 'shorter-side' or "
                                      f"'sqrt-area', got {self.relative_to!r}")

    def sides(self, boxes: torch.Tensor) -> torch.Tensor:
        """The patch side ``(N,)`` in pixels for boxes ``(N, 4)``."""
        width = (boxes[:, 2] - boxes[:, 0]).clamp(min=1)
        height = (boxes[:, 3] - boxes[:, 1]).clamp(min=1)
        if self.relative_to == "shorter-side":
            return self.fraction * torch.minimum(width, height)
        return self.fraction * (width * height).sqrt()


def box_corners(boxes: torch.Tensor, size: PatchSize, *, shift: torch.Tensor | None = None,
                scale: torch.Tensor | None = None, angle: torch.Tensor | None = None,
                tilt: torch.Tensor | None = None) -> torch.Tensor:
    """The patch corners ``(N, 4, 2)`` on each box: at the centre, moved by ``shift``
    ``(N, 2)`` (fractions of the box's width and height), side times ``scale`` ``(N,)``,
    rotated by ``angle`` ``(N,)`` radians, corners tilted by ``tilt`` ``(N, 4, 2)``."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    centre = torch.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
    if shift is not None:
        centre = centre + shift * torch.stack([width, height], dim=1)
    side = size.sides(boxes)
    if scale is not None:
        side = side * scale
    if angle is None:
        angle = torch.zeros_like(side)
    corners = square_corners(centre, side, angle)
    return corners if tilt is None else tilt_corners(corners, tilt)


def composite(images: torch.Tensor, patches: torch.Tensor, corners: torch.Tensor,
              owners: torch.Tensor) -> torch.Tensor:
    """Paste ``patches[k]`` ``(N, 3, s, s)`` at ``corners[k]`` on ``images[owners[k]]``.

    Copies on the same image are pasted one after the other (later ones on top), so
    overlapping boxes work; differentiable in the patches and the images.
    """
    out = images
    if len(owners) == 0:
        return out
    rank = torch.zeros_like(owners)
    seen: dict[int, int] = {}
    for k, owner in enumerate(owners.tolist()):
        rank[k] = seen.get(owner, 0)
        seen[owner] = int(rank[k]) + 1
    for layer in range(int(rank.max()) + 1):
        copies = (rank == layer).nonzero().flatten()
        targets = owners[copies]
        pasted, _ = warp_patch(out[targets], patches[copies], corners[copies])
        out = out.index_copy(0, targets, pasted)
    return out


def paste(batch: SceneBatch, patch: torch.Tensor, size: PatchSize) -> torch.Tensor:
    """The batch's images with ``patch`` ``(1, 3, s, s)`` plainly on every box's centre."""
    _check_patch(patch)
    corners = box_corners(batch.boxes, size)
    copies = patch.expand(len(batch.boxes), -1, -1, -1)
    return composite(batch.images, copies, corners, batch.owners)


def simulate_views(batch: SceneBatch, patch: torch.Tensor, size: PatchSize,
                   simulation: PrintCameraSimulation, generator: torch.Generator, *,
                   shift: float = 0.1, draw: SimulationDraw | None = None) -> torch.Tensor:
    """What a camera sees of the scenes with the printed ``patch`` on every box.

    Returns ``(B, 3, H, W)`` in ``[0, 1]``. Per image one draw of the simulation
    (printer, light, camera); per box a random shift of up to ``shift`` of the box, and
    the draw's scale, rotation and tilt. Differentiable in ``patch``.
    """
    _check_patch(patch)
    if not 0 <= shift <= 0.5:
        raise ChickenSaviourError(f"placement shift must be in 0..0.5, got {shift}")
    device = batch.images.device
    draw = draw or simulation.sample(len(batch), generator, device)
    printed = simulation.print_patch(patch, draw)  # (B, 3, s, s)
    owners = batch.owners
    count = len(owners)
    jitter = (torch.rand(count, 2, generator=generator) * 2 - 1).to(device) * shift
    corners = box_corners(batch.boxes, size, shift=jitter, scale=draw.scale[owners],
                          angle=draw.rotation[owners], tilt=draw.tilt[owners])
    scenes = composite(batch.images, printed[owners], corners, owners)
    return simulation.capture(scenes, draw, generator)


def _check_patch(patch: torch.Tensor) -> None:
    if patch.ndim != 4 or patch.shape[:2] != (1, 3) or patch.shape[-1] != patch.shape[-2]:
        raise ChickenSaviourError(f"a patch must be (1, 3, S, S), got {tuple(patch.shape)}")
