"""Hide patches: a printed square that makes a detector miss the object wearing it.

The recipe of Thys, Van Ranst and Goedemé, "Fooling automated surveillance cameras:
adversarial patches to attack person detection" (CVPR-W 2019): paste the patch on every
object of the protected class in a batch of scenes, each copy randomly scaled, rotated,
shifted, brightened, contrast-changed and noised (expectation over transformation, so the
patch survives a camera), and minimise the detector's *maximum* protected-class score
over the anchors of each object (those whose cell centre lies inside its box), plus a
total-variation term that keeps the patch smooth enough to print. Adam on the patch
pixels, clamped to ``[0, 1]``.

Scenes are letterboxed once to squares (:func:`scenes_from_frames`), so the loop runs
the network directly on a batch of equal-sized inputs; :func:`hide_rates` detects on the
same squares at the same size.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.imaging import bgr_to_tensor
from chickensaviour.models.detections import box_iou
from chickensaviour.models.nanodet.detector import letterbox, plan_letterbox
from chickensaviour.models.protocols import DifferentiableDetector
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scene:
    """One image in detector-input space and the boxes of the objects to hide in it."""

    image: torch.Tensor  # (3, S, S) RGB in [0, 1], letterboxed
    boxes: torch.Tensor  # (K, 4) xyxy in the same pixels, K >= 1

    @classmethod
    def from_frame(cls, frame: torch.Tensor, boxes: torch.Tensor, size: int) -> Scene:
        """Letterbox a frame ``(1, 3, H, W)`` to ``size`` x ``size``, boxes with it."""
        plan = plan_letterbox(frame.shape[-1], frame.shape[-2], size, square=True)
        return cls(letterbox(frame, plan)[0], plan.to_input(boxes.to(frame.device,
                                                                      frame.dtype)))


@dataclass(frozen=True)
class HideSettings:
    """Optimisation and transformation settings of :func:`make_hide_patch`.

    ``scale`` is the patch side as a fraction of ``sqrt(box area)`` (about a torso on a
    standing person); the jitters are the ranges of the random transformations.
    """

    steps: int = 150
    batch: int = 4
    lr: float = 0.05
    scale: float = 0.45
    scale_jitter: float = 0.15
    rotation_degrees: float = 20.0
    shift: float = 0.08  # of the box size
    brightness: float = 0.1
    contrast: float = 0.15
    noise: float = 0.05
    tv_weight: float = 2.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 1:
            raise ChickenSaviourError("steps and batch must be >= 1")
        if not 0.01 <= self.scale <= 1.5:
            raise ChickenSaviourError(f"patch scale must be in 0.01..1.5, got {self.scale}")


def scenes_from_frames(detector: DifferentiableDetector, frames: Sequence[np.ndarray],
                       classes: Sequence[int], *, min_score: float = 0.4,
                       size: int | None = None) -> list[Scene]:
    """Letterbox BGR frames to ``size`` x ``size`` squares and find the objects to hide.

    The detector runs on the squares themselves, so the objects are the ones it finds at
    the size the patch is trained and measured at. Squares where it sees no object of
    ``classes`` above ``min_score`` are dropped: there is nothing to hide in them.
    """
    square = detector.at_size(size or detector.input_size)
    scenes = []
    for frame in frames:
        image = bgr_to_tensor(frame, device=detector.device)
        scene = Scene.from_frame(image, torch.zeros(0, 4), square.input_size)
        found = square.detect(scene.image.unsqueeze(0))
        keep = np.isin(found.class_id, list(classes)) & (found.confidence >= min_score)
        if keep.any():
            scenes.append(Scene(scene.image, torch.as_tensor(found.xyxy[keep],
                                                             device=detector.device)))
    return scenes


def paste(images: torch.Tensor, patch: torch.Tensor, boxes: Sequence[torch.Tensor],
          settings: HideSettings, generator: torch.Generator | None = None) -> torch.Tensor:
    """Paste ``patch`` ``(3, s, s)`` on every box of every image, differentiably.

    With a ``generator`` each copy is randomly transformed (training); without one it is
    placed plainly at the box centre at ``settings.scale`` (evaluation, the live app).
    """
    batch, _, height, width = images.shape
    owners = [i for i, b in enumerate(boxes) for _ in range(len(b))]
    if not owners:
        return images
    all_boxes = torch.cat(list(boxes)).to(images.device, images.dtype)
    count = len(owners)
    device, dtype = images.device, images.dtype

    def jitter(amount: float) -> torch.Tensor:
        if generator is None or amount == 0:
            return torch.zeros(count, device=device, dtype=dtype)
        draw = torch.rand(count, generator=generator).to(device, dtype)
        return (draw * 2 - 1) * amount

    box_w = all_boxes[:, 2] - all_boxes[:, 0]
    box_h = all_boxes[:, 3] - all_boxes[:, 1]
    side = settings.scale * (box_w * box_h).clamp(min=1).sqrt()
    side = side * (1 + jitter(settings.scale_jitter))
    cx = (all_boxes[:, 0] + all_boxes[:, 2]) / 2 + jitter(settings.shift) * box_w
    cy = (all_boxes[:, 1] + all_boxes[:, 3]) / 2 + jitter(settings.shift) * box_h
    angle = jitter(math.radians(settings.rotation_degrees))
    cos, sin = angle.cos(), angle.sin()
    # Output pixel p maps to patch coordinate u = R(-angle) (p - c) * 2 / side, written in
    # affine_grid's normalised coordinates.
    dx, dy = (width - 2 * cx) / side, (height - 2 * cy) / side
    theta = torch.stack([
        torch.stack([cos * width / side, sin * height / side, cos * dx + sin * dy], dim=1),
        torch.stack([-sin * width / side, cos * height / side, -sin * dx + cos * dy], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, [count, 3, height, width], align_corners=False)

    copies = patch.unsqueeze(0).expand(count, -1, -1, -1)
    contrast = 1 + jitter(settings.contrast)
    brightness = jitter(settings.brightness)
    copies = (copies - 0.5) * contrast.view(-1, 1, 1, 1) + 0.5 + brightness.view(-1, 1, 1, 1)
    if generator is not None and settings.noise > 0:
        noise = torch.rand(copies.shape, generator=generator).to(device, dtype)
        copies = copies + (noise * 2 - 1) * settings.noise
    copies = copies.clamp(0, 1)
    warped = F.grid_sample(copies, grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)
    mask = F.grid_sample(torch.ones_like(copies[:, :1]), grid, mode="bilinear",
                         padding_mode="zeros", align_corners=False)
    out = []
    for i in range(batch):
        image = images[i]
        for k in (k for k, owner in enumerate(owners) if owner == i):
            image = image * (1 - mask[k]) + warped[k] * mask[k]
        out.append(image)
    return torch.stack(out)


def total_variation(patch: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels."""
    return ((patch[..., 1:, :] - patch[..., :-1, :]).abs().mean()
            + (patch[..., :, 1:] - patch[..., :, :-1]).abs().mean())


def max_class_score(detector: DifferentiableDetector, images: torch.Tensor,
                    classes: Sequence[int],
                    boxes: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """Each image's highest probability of ``classes`` ``(B,)`` over all anchors, or,
    given ``boxes``, over the anchors whose point lies inside one of the image's boxes
    (those are the anchors that detect the object; an unpatched bystander does not take
    the loss over). Uses only the detector's differentiable scoring."""
    scores = detector.class_scores(images, classes)  # (B, N)
    if boxes is not None:
        points = detector.anchor_points(images.shape[-1], images.shape[-2]).to(scores.device)
        inside = torch.stack([_inside_any(points, b.to(scores.device)) for b in boxes])
        scores = scores * inside
    return scores.amax(dim=1)


def _inside_any(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    x, y = points[:, :1], points[:, 1:]
    inside = (x >= boxes[:, 0]) & (x <= boxes[:, 2]) & (y >= boxes[:, 1]) & (y <= boxes[:, 3])
    return inside.any(dim=1)


def make_hide_patch(detector: DifferentiableDetector, scenes: Sequence[Scene],
                    classes: Sequence[int], *, size: int = 64,
                    settings: HideSettings | None = None, start: torch.Tensor | None = None,
                    progress: ProgressFn | None = None,
                    should_stop: StopFn | None = None) -> torch.Tensor:
    """Optimise a ``(1, 3, size, size)`` patch that hides ``classes`` in ``scenes``.

    ``start`` (default: mid grey) is the initial patch. ``progress(step, steps, loss)`` is
    called after each step; ``should_stop()`` returning true cancels with
    :class:`OperationCancelled`.
    """
    settings = settings or HideSettings()
    if not scenes:
        raise ChickenSaviourError("no scene shows an object to hide: nothing to train on")
    if not 8 <= size <= 512:
        raise ChickenSaviourError(f"patch size must be in 8..512, got {size}")
    device = detector.device
    generator = torch.Generator().manual_seed(settings.seed)
    if start is None:
        patch = torch.full((3, size, size), 0.5, device=device)
    else:
        patch = F.interpolate(start.to(device).view(1, 3, *start.shape[-2:]), size=(size, size),
                              mode="bilinear", align_corners=False)[0]
    patch = patch.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([patch], lr=settings.lr)
    images = torch.stack([s.image for s in scenes])
    for step in range(settings.steps):
        check_stop(should_stop, "hide patch training")
        pick = torch.randint(len(scenes), (min(settings.batch, len(scenes)),),
                             generator=generator).tolist()
        batch = paste(images[pick], patch, [scenes[i].boxes for i in pick], settings, generator)
        detection = max_class_score(detector, batch, classes,
                                    [scenes[i].boxes for i in pick]).mean()
        loss = detection + settings.tv_weight * total_variation(patch)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            patch.clamp_(0, 1)
        report(progress, step + 1, settings.steps, float(detection.detach()))
    logger.info("hide patch: %d steps, last batch max score %.3f", settings.steps,
                float(detection.detach()))
    return patch.detach().unsqueeze(0)


@dataclass(frozen=True)
class HideReport:
    """How many objects the detector still finds, clean and with each patch pasted."""

    objects: int
    clean: int
    with_patch: int
    with_random_patch: int

    def rate(self, count: int) -> float:
        return count / self.objects if self.objects else 0.0


@torch.no_grad()
def hide_rates(detector: DifferentiableDetector, scenes: Sequence[Scene], patch: torch.Tensor,
               classes: Sequence[int], *, settings: HideSettings | None = None,
               threshold: float | None = None, seed: int = 1) -> HideReport:
    """Detection rates of the protected objects: clean, with ``patch``, with a random
    uniform-noise patch of the same size (IoU >= 0.5 and score >= ``threshold``)."""
    settings = settings or HideSettings()
    threshold = detector.score_threshold if threshold is None else threshold
    if scenes:  # detect on the squares as they are, at the size the patch was trained on
        detector = detector.at_size(scenes[0].image.shape[-1], threshold=threshold)
    random_patch = torch.rand(patch.shape[-3:], generator=torch.Generator().manual_seed(seed))
    counts = {"clean": 0, "patch": 0, "random": 0}
    objects = 0
    for scene in scenes:
        image = scene.image.unsqueeze(0)
        variants = {
            "clean": image,
            "patch": paste(image, patch[0] if patch.dim() == 4 else patch, [scene.boxes],
                           settings),
            "random": paste(image, random_patch.to(image.device), [scene.boxes], settings),
        }
        truth = scene.boxes.cpu().numpy()
        objects += len(truth)
        for name, variant in variants.items():
            found = detector.detect(variant)
            keep = np.isin(found.class_id, list(classes)) & (found.confidence >= threshold)
            if keep.any():
                iou = box_iou(truth, found.xyxy[keep])
                counts[name] += int((iou.max(axis=1) >= 0.5).sum())
    return HideReport(objects, counts["clean"], counts["patch"], counts["random"])
