"""``BoxTracker``: stable ids for regions across frames, with a constant-velocity model.

Detections need not arrive every frame: ``update(None)`` advances the tracks by their
velocity (the detector did not run), ``update(detections)`` associates boxes to tracks by
IoU, falling back to centre distance for fast or small objects, and ages tracks that
found no box; a track that misses ``max_misses`` detector runs in a row is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.detections import Detections, box_iou


@dataclass
class Track:
    """One followed region. ``velocity`` is in pixels per frame for each box edge."""

    track_id: int
    xyxy: np.ndarray
    class_id: int
    confidence: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, dtype=np.float32))
    anchor: np.ndarray | None = None  # the box at the last match
    misses: int = 0  # detector runs in a row without a match
    frames_since_match: int = 0


class BoxTracker:
    """Greedy IoU / centre-distance tracker with constant-velocity prediction.

    Args:
        iou_threshold: minimum IoU for a match by overlap.
        max_centre_distance: otherwise, the largest centre distance for a match, as a
            fraction of the track box's diagonal.
        max_misses: detector runs without a match before a track is dropped.
        smoothing: weight of a new detection against the prediction (1 = trust boxes).
        velocity_smoothing: weight of the newest velocity estimate.
    """

    def __init__(self, *, iou_threshold: float = 0.2, max_centre_distance: float = 0.75,
                 max_misses: int = 3, smoothing: float = 0.7,
                 velocity_smoothing: float = 0.5) -> None:
        if not 0.0 <= iou_threshold <= 1.0:
            raise ChickenSaviourError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
        if max_centre_distance < 0:
            raise ChickenSaviourError(
                f"max_centre_distance must be >= 0, got {max_centre_distance}")
        if max_misses < 0:
            raise ChickenSaviourError(f"max_misses must be >= 0, got {max_misses}")
        if not 0.0 < smoothing <= 1.0 or not 0.0 <= velocity_smoothing <= 1.0:
            raise ChickenSaviourError(
                "smoothing must be in (0, 1] and velocity_smoothing in [0, 1]")
        self.iou_threshold = iou_threshold
        self.max_centre_distance = max_centre_distance
        self.max_misses = max_misses
        self.smoothing = smoothing
        self.velocity_smoothing = velocity_smoothing
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        self.tracks = []
        self._next_id = 1

    def update(self, detections: Detections | None) -> Detections:
        """Advance one frame; ``None`` means the detector did not run on this frame."""
        for track in self.tracks:
            track.xyxy = track.xyxy + track.velocity
            track.frames_since_match += 1
        if detections is not None:
            self._associate(detections)
        return self.current()

    def current(self) -> Detections:
        """The live tracks as ``Detections`` with ``tracker_id`` set."""
        if not self.tracks:
            return Detections.empty()
        return Detections(
            np.stack([t.xyxy for t in self.tracks]),
            np.array([t.confidence for t in self.tracks]),
            np.array([t.class_id for t in self.tracks]),
            np.array([t.track_id for t in self.tracks]),
        )

    def _associate(self, detections: Detections) -> None:
        matched_tracks: set[int] = set()
        matched_boxes: set[int] = set()
        if self.tracks and len(detections):
            predicted = np.stack([t.xyxy for t in self.tracks])
            iou = box_iou(predicted, detections.xyxy)
            for ti, di in _greedy_pairs(iou, self.iou_threshold):
                self._correct(self.tracks[ti], detections, di)
                matched_tracks.add(ti)
                matched_boxes.add(di)
            distance = _centre_distance(predicted, detections.xyxy)
            distance[list(matched_tracks), :] = np.inf
            distance[:, list(matched_boxes)] = np.inf
            for ti, di in _greedy_pairs(-distance, -self.max_centre_distance):
                self._correct(self.tracks[ti], detections, di)
                matched_tracks.add(ti)
                matched_boxes.add(di)
        survivors: list[Track] = []
        for index, track in enumerate(self.tracks):
            if index not in matched_tracks:
                track.misses += 1
                track.velocity = track.velocity * 0.5  # coast, slowing down
            if track.misses <= self.max_misses:
                survivors.append(track)
        for di in range(len(detections)):
            if di not in matched_boxes:
                box = detections.xyxy[di].copy()
                survivors.append(Track(self._next_id, box, int(detections.class_id[di]),
                                       float(detections.confidence[di]), anchor=box.copy()))
                self._next_id += 1
        self.tracks = survivors

    def _correct(self, track: Track, detections: Detections, index: int) -> None:
        observed = detections.xyxy[index]
        previous = track.anchor if track.anchor is not None else track.xyxy
        corrected = self.smoothing * observed + (1.0 - self.smoothing) * track.xyxy
        measured_velocity = (corrected - previous) / max(track.frames_since_match, 1)
        track.velocity = (self.velocity_smoothing * measured_velocity
                          + (1.0 - self.velocity_smoothing) * track.velocity).astype(np.float32)
        track.xyxy = corrected.astype(np.float32)
        track.anchor = track.xyxy.copy()
        track.class_id = int(detections.class_id[index])
        track.confidence = float(detections.confidence[index])
        track.misses = 0
        track.frames_since_match = 0


def _greedy_pairs(score: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (row, col) by descending ``score`` above ``threshold``, each row/col once."""
    pairs: list[tuple[int, int]] = []
    if score.size == 0:
        return pairs
    order = np.argsort(-score, axis=None, kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    for flat in order:
        row, col = divmod(int(flat), score.shape[1])
        value = score[row, col]
        if not np.isfinite(value) or value < threshold:
            break
        if row in used_rows or col in used_cols:
            continue
        pairs.append((row, col))
        used_rows.add(row)
        used_cols.add(col)
    return pairs


def _centre_distance(tracks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Centre distance of each (track, box) pair over the track box's diagonal."""
    track_centre = (tracks[:, :2] + tracks[:, 2:]) / 2
    box_centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    diagonal = np.linalg.norm(tracks[:, 2:] - tracks[:, :2], axis=1).clip(min=1.0)
    distance = np.linalg.norm(track_centre[:, None] - box_centre[None], axis=2)
    return (distance / diagonal[:, None]).astype(np.float64)
