"""What a patch is for: the loss the trainer minimises.

An objective has ``loss(views, batch) -> (B,)`` (lower is better for the patch, per
image); :mod:`.evaluate` judges success. Two families:

- :class:`ClassifierDecoy`: the hunter should read the region as ``target`` (targeted:
  cross-entropy to the target, Brown et al. 2017) or as anything but what it read clean
  (untargeted: the log-probability of the clean class, pushed down);
- :class:`DetectorHide`: the detector should find none of ``classes`` on the patched
  objects (the maximum class score over the anchors inside each object's box, Thys et
  al. 2019).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch

from chickensaviour.attacks.patch.scenes import SceneBatch
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.detections import box_iou
from chickensaviour.models.protocols import DifferentiableDetector
from chickensaviour.models.wrapper import ImageClassifier

#: Targeted with protected classes: weight of ``log P(protected)`` beside the decoy's
#: cross-entropy, and the floor below which it no longer pulls (P = 1e-3 is gone enough).
AWAY_WEIGHT = 1.0
AWAY_FLOOR = -6.9


class PatchObjective(Protocol):
    """A patch's goal: a per-image loss to minimise."""

    @property
    def device(self) -> torch.device: ...

    def loss(self, views: torch.Tensor, batch: SceneBatch) -> torch.Tensor: ...



class ClassifierDecoy:
    """The hunter reads the patched view as ``target`` (or, with ``target=None``, as
    none of the ``protected`` classes; without those, as anything but the scene's clean
    label). With both, the loss also pushes the protected classes down. Views are judged
    stretched to the input size.

    Args:
        model: the hunter (only read; must be in eval mode).
        target: the decoy class, or ``None`` for an untargeted patch.
        protected: the classes the hunter must stop seeing (e.g. the five cats).
    """

    def __init__(self, model: ImageClassifier, target: int | None,
                 protected: Sequence[int] | None = None) -> None:
        if target is not None and not 0 <= target < len(model.classes):
            raise ChickenSaviourError(f"target class {target} out of range")
        if protected is not None and (not protected or not all(
                0 <= c < len(model.classes) for c in protected)):
            raise ChickenSaviourError("protected classes must be valid class indices")
        if model.training:
            raise ChickenSaviourError("a patch objective needs the model in eval mode")
        self.model = model.with_fit("stretch")
        self.target = target
        self.protected = None if protected is None else sorted(set(protected))

    @property
    def device(self) -> torch.device:
        return self.model.device

    def loss(self, views: torch.Tensor, batch: SceneBatch) -> torch.Tensor:
        log_p = self.model(views).log_softmax(dim=1)
        away = None
        if self.protected is not None:  # log P(any protected class)
            away = log_p[:, self.protected].logsumexp(dim=1)
        if self.target is None:
            return away if away is not None else log_p.gather(
                1, _known_labels(batch)[:, None])[:, 0]
        toward = -log_p[:, self.target]  # the cross-entropy to the decoy
        if away is None:
            return toward
        # Both: the decoy up and the protected classes down, so a view where the decoy
        # does not win yet is still pushed away from what it shows.
        return toward + AWAY_WEIGHT * away.clamp(min=AWAY_FLOOR)


def still_unseen(top1: torch.Tensor, labels: torch.Tensor,
                 protected: Sequence[int] | None) -> torch.Tensor:
    """Untargeted success per view: top-1 is none of ``protected`` (when given) or not
    the scene's clean label."""
    if protected is not None:
        return ~torch.isin(top1, torch.as_tensor(list(protected), device=top1.device))
    if bool((labels < 0).any()):
        raise ChickenSaviourError("an untargeted patch needs each scene's clean class "
                                  "(SceneSet labels)")
    return top1 != labels


def _known_labels(batch: SceneBatch) -> torch.Tensor:
    if bool((batch.labels < 0).any()):
        raise ChickenSaviourError("an untargeted patch needs each scene's clean class "
                                  "(SceneSet labels)")
    return batch.labels


class DetectorHide:
    """The detector finds none of ``classes`` on the patched objects.

    The loss is each image's highest probability of ``classes`` over the anchors whose
    point lies inside one of its boxes (those detect the objects; an unpatched bystander
    does not take the loss over). Success: no detection of ``classes`` at or above
    ``threshold`` overlaps a box with IoU >= 0.5.
    """

    def __init__(self, detector: DifferentiableDetector, classes: Sequence[int], *,
                 threshold: float | None = None) -> None:
        if not classes:
            raise ChickenSaviourError("a hide patch needs at least one class to hide")
        self.detector = detector
        self.classes = list(classes)
        self.threshold = detector.score_threshold if threshold is None else threshold

    @property
    def device(self) -> torch.device:
        return self.detector.device

    def loss(self, views: torch.Tensor, batch: SceneBatch) -> torch.Tensor:
        boxes = [batch.boxes_of(i) for i in range(len(views))]
        return max_class_score(self.detector, views, self.classes, boxes)

    @torch.no_grad()
    def still_found(self, views: torch.Tensor, batch: SceneBatch) -> np.ndarray:
        """Per box ``(N,)``: the detector still finds the object (IoU >= 0.5)."""
        square = self.detector.at_size(views.shape[-1], threshold=self.threshold)
        found_per_box = np.zeros(len(batch.boxes), dtype=bool)
        for i in range(len(views)):
            mine = (batch.owners == i).nonzero().flatten().cpu().numpy()
            if len(mine) == 0:
                continue
            found = square.detect(views[i : i + 1])
            keep = np.isin(found.class_id, self.classes) & (found.confidence >= self.threshold)
            if keep.any():
                iou = box_iou(batch.boxes[mine].cpu().numpy().astype(np.float64),
                              found.xyxy[keep])
                found_per_box[mine] = iou.max(axis=1) >= 0.5
        return found_per_box


def max_class_score(detector: DifferentiableDetector, images: torch.Tensor,
                    classes: Sequence[int],
                    boxes: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """Each image's highest probability of ``classes`` ``(B,)`` over all anchors, or,
    given ``boxes``, over the anchors whose point lies inside one of the image's boxes."""
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
