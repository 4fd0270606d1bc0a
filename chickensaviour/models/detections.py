"""``Detections``: the boxes of one frame, as numpy arrays that travel together."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chickensaviour.errors import ChickenSaviourError


@dataclass(frozen=True)
class Detections:
    """N boxes in frame pixels with their scores, classes and (once tracked) track ids.

    Attributes:
        xyxy: ``(N, 4)`` float boxes ``x1, y1, x2, y2`` with ``x1 <= x2``, ``y1 <= y2``.
        confidence: ``(N,)`` scores in ``[0, 1]``.
        class_id: ``(N,)`` int class indices (ImageNet or COCO, as the producer says).
        tracker_id: ``(N,)`` int track ids, ``-1`` where not tracked.

    Boolean or integer indexing returns a new ``Detections``:
    ``detections[detections.confidence > 0.5]``.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = xyxy.shape[0]
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        tracker_id = np.asarray(self.tracker_id, dtype=np.int64).reshape(-1)
        if tracker_id.size == 0 and n > 0:
            tracker_id = np.full(n, -1, dtype=np.int64)
        if not (confidence.shape[0] == class_id.shape[0] == tracker_id.shape[0] == n):
            raise ChickenSaviourError(
                f"Detections fields disagree in length: xyxy {n}, confidence "
                f"{confidence.shape[0]}, class_id {class_id.shape[0]}, tracker_id "
                f"{tracker_id.shape[0]}"
            )
        if n and not np.isfinite(xyxy).all():
            raise ChickenSaviourError("box coordinates must be finite")
        if n and ((xyxy[:, 2] < xyxy[:, 0]).any() or (xyxy[:, 3] < xyxy[:, 1]).any()):
            raise ChickenSaviourError("boxes must satisfy x1 <= x2 and y1 <= y2")
        if n and ((confidence < 0).any() or (confidence > 1).any()):
            raise ChickenSaviourError("confidence must lie in [0, 1]")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "tracker_id", tracker_id)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.empty((0, 4)), np.empty(0), np.empty(0))

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: np.ndarray | slice | int) -> Detections:
        if isinstance(index, int):
            index = np.array([index])
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index],
                          self.tracker_id[index])

    def clipped(self, width: int, height: int) -> Detections:
        """Boxes clipped to a ``width`` x ``height`` frame."""
        xyxy = self.xyxy.copy()
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
        return Detections(xyxy, self.confidence, self.class_id, self.tracker_id)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` xyxy boxes -> ``(N, M)``."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    overlap = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - overlap
    return np.where(union > 0, overlap / np.maximum(union, 1e-9), 0.0).astype(np.float32)
