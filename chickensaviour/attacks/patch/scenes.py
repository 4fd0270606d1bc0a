"""Scenes a patch is trained and judged on: images and the boxes the patch goes on.

A scene source is anything with ``len()`` and ``sample(count, generator)`` returning a
:class:`SceneBatch`; :class:`SceneSet` keeps equal-sized images in memory and is made
from photos, video frames or the live app's regions:

- for a classifier, :meth:`SceneSet.region_views` turns each (frame, box) into the view
  the hunter judges (the box widened to a square, resized to the model's input), with
  the box in that view's pixels, so the patch is sized against the object;
- for a detector, :meth:`SceneSet.from_images` takes letterboxed squares and every box of
  the objects to hide (one patch copy per box).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from chickensaviour.errors import ChickenSaviourError

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class SceneBatch:
    """Equal-sized images and the boxes one patch copy each goes on.

    Shapes: ``images`` ``(B, 3, H, W)`` RGB in ``[0, 1]``; ``boxes`` ``(N, 4)`` xyxy in the
    images' pixels; ``owners`` ``(N,)`` the image of each box; ``labels`` ``(B,)`` each
    image's class as the hunter saw it clean (``-1`` where unknown).
    """

    images: torch.Tensor
    boxes: torch.Tensor
    owners: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ChickenSaviourError(
                f"scene images must be (B, 3, H, W), got {tuple(self.images.shape)}")
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4:
            raise ChickenSaviourError(f"scene boxes must be (N, 4), got {tuple(self.boxes.shape)}")
        if self.owners.shape != (len(self.boxes),):
            raise ChickenSaviourError("scene owners must give one image per box")
        if len(self.owners) and not (0 <= int(self.owners.min())
                                     and int(self.owners.max()) < len(self.images)):
            raise ChickenSaviourError("a scene box belongs to no image")
        if self.labels.shape != (len(self.images),):
            raise ChickenSaviourError("scene labels must give one class per image")

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device: torch.device | str) -> SceneBatch:
        return SceneBatch(self.images.to(device), self.boxes.to(device),
                          self.owners.to(device), self.labels.to(device))

    def boxes_of(self, index: int) -> torch.Tensor:
        """The boxes ``(K, 4)`` of image ``index``."""
        return self.boxes[self.owners == index]


class SceneSet:
    """Scenes held in memory; :meth:`sample` draws a batch with a seeded generator.

    Args:
        images: ``(M, 3, H, W)`` RGB in ``[0, 1]``.
        boxes: per image, the ``(K, 4)`` boxes (``K >= 1``) a patch copy goes on.
        labels: per image, the hunter's clean class (optional).
    """

    def __init__(self, images: torch.Tensor, boxes: Sequence[torch.Tensor],
                 labels: torch.Tensor | None = None) -> None:
        if images.ndim != 4 or images.shape[1] != 3 or len(images) == 0:
            raise ChickenSaviourError(
                f"scenes need (M >= 1, 3, H, W) images, got {tuple(images.shape)}")
        if len(boxes) != len(images):
            raise ChickenSaviourError(f"{len(images)} scene images but {len(boxes)} box lists")
        if any(b.ndim != 2 or b.shape[1] != 4 or len(b) == 0 for b in boxes):
            raise ChickenSaviourError("every scene needs at least one (K, 4) box")
        self.images = images.detach()
        self.box_lists = [b.detach().to(images.dtype).to(images.device) for b in boxes]
        if labels is None:
            labels = torch.full((len(images),), -1, dtype=torch.long)
        if labels.shape != (len(images),):
            raise ChickenSaviourError("scene labels must give one class per image")
        self.labels = labels.to(torch.long).to(images.device)

    def __len__(self) -> int:
        return len(self.images)

    def batch_of(self, indices: Sequence[int]) -> SceneBatch:
        """The scenes at ``indices`` (repeats allowed) as one batch."""
        picks = list(indices)
        boxes = [self.box_lists[i] for i in picks]
        owners = torch.cat([torch.full((len(b),), n, dtype=torch.long)
                            for n, b in enumerate(boxes)]).to(self.images.device)
        return SceneBatch(self.images[picks], torch.cat(boxes), owners, self.labels[picks])

    def sample(self, count: int, generator: torch.Generator) -> SceneBatch:
        """``count`` scenes drawn uniformly with replacement."""
        if count < 1:
            raise ChickenSaviourError(f"batch size must be >= 1, got {count}")
        picks = torch.randint(len(self), (count,), generator=generator).tolist()
        return self.batch_of(picks)

    def batches(self, size: int) -> Iterator[SceneBatch]:
        """Every scene once, in order, ``size`` at a time (for evaluation)."""
        for start in range(0, len(self), size):
            yield self.batch_of(range(start, min(start + size, len(self))))

    def with_labels(self, labels: torch.Tensor) -> SceneSet:
        return SceneSet(self.images, self.box_lists, labels)

    @classmethod
    def from_images(cls, images: Sequence[torch.Tensor] | torch.Tensor,
                    boxes: Sequence[torch.Tensor]) -> SceneSet:
        """Equal-sized ``(3, H, W)`` images (e.g. letterboxed detector squares) as they are."""
        stacked = images if isinstance(images, torch.Tensor) else torch.stack(list(images))
        return cls(stacked, boxes)

    @classmethod
    def region_views(cls, frames: Sequence[torch.Tensor], boxes: Sequence[Box],
                     size: int) -> SceneSet:
        """The classifier's view of each (frame ``(1, 3, H, W)``, box): the box widened to
        a square where the frame allows, resized to ``size``; the box in its pixels."""
        if len(frames) != len(boxes) or not frames:
            raise ChickenSaviourError("region views need one box per frame, at least one")
        views, view_boxes = [], []
        for frame, box in zip(frames, boxes, strict=True):
            crop, (left, top) = square_crop(frame, box)
            side = crop.shape[-1]
            views.append(F.interpolate(crop, size=(size, size), mode="bilinear",
                                       align_corners=False, antialias=True)[0])
            x1, y1, x2, y2 = box
            inside = torch.tensor([[x1 - left, y1 - top, x2 - left, y2 - top]],
                                  dtype=torch.float32).clamp(0, side) * (size / side)
            view_boxes.append(inside.to(frame.device))
        return cls(torch.stack(views), view_boxes)


def square_crop(frame: torch.Tensor, box: Box) -> tuple[torch.Tensor, tuple[int, int]]:
    """The box's region of ``frame`` ``(1, 3, H, W)``, widened to a square where the frame
    allows; and its top-left corner."""
    height, width = frame.shape[-2:]
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 > x1 and y2 > y1):
        raise ChickenSaviourError(f"box {box} is empty")
    side = min(max(x2 - x1, y2 - y1, 2.0), width, height)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = round(min(max(cx - side / 2, 0), width - side))
    top = round(min(max(cy - side / 2, 0), height - side))
    side_i = round(side)
    return frame[:, :, top : top + side_i, left : left + side_i], (left, top)
