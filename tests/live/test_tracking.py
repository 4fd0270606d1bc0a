from __future__ import annotations

import numpy as np
import pytest

from chickensaviour.live.tracking import BoxTracker
from chickensaviour.models.detections import Detections


def _boxes(*boxes: tuple[float, float, float, float]) -> Detections:
    return Detections(np.array(boxes, dtype=float).reshape(-1, 4), np.full(len(boxes), 0.9),
                      np.full(len(boxes), 8))


def test_ids_are_stable_over_a_scripted_sequence() -> None:
    tracker = BoxTracker()
    ids = []
    for step in range(10):
        a = (10 + 5 * step, 10, 60 + 5 * step, 60)  # moves right
        b = (200, 100 + 4 * step, 260, 160 + 4 * step)  # moves down
        tracked = tracker.update(_boxes(a, b))
        ids.append(sorted(tracked.tracker_id.tolist()))
    assert ids == [[1, 2]] * 10


def test_tracks_follow_motion_between_detections() -> None:
    tracker = BoxTracker(smoothing=1.0, velocity_smoothing=1.0)
    tracker.update(_boxes((0, 0, 40, 40)))
    tracker.update(_boxes((10, 0, 50, 40)))
    coasted = tracker.update(None)  # the detector did not run: predict
    assert coasted.xyxy[0].tolist() == pytest.approx([20, 0, 60, 40])
    coasted = tracker.update(None)
    assert coasted.xyxy[0].tolist() == pytest.approx([30, 0, 70, 40])
    matched = tracker.update(_boxes((40, 0, 80, 40)))  # 2 frames later
    assert matched.tracker_id.tolist() == [1]
    assert tracker.tracks[0].velocity.tolist() == pytest.approx([10, 0, 10, 0])


def test_lost_tracks_expire_after_max_misses_and_new_ids_are_fresh() -> None:
    tracker = BoxTracker(max_misses=2)
    tracker.update(_boxes((0, 0, 20, 20)))
    assert len(tracker.update(Detections.empty())) == 1
    assert len(tracker.update(Detections.empty())) == 1
    assert len(tracker.update(Detections.empty())) == 0
    assert tracker.update(_boxes((0, 0, 20, 20))).tracker_id.tolist() == [2]


def test_coasting_frames_do_not_count_as_misses() -> None:
    tracker = BoxTracker(max_misses=0)
    tracker.update(_boxes((0, 0, 20, 20)))
    for _ in range(5):
        assert len(tracker.update(None)) == 1


def test_centre_distance_matches_a_fast_small_object() -> None:
    tracker = BoxTracker(iou_threshold=0.3, max_centre_distance=1.0)
    tracker.update(_boxes((0, 0, 10, 10)))
    moved = tracker.update(_boxes((9, 0, 19, 10)))  # IoU 0.05 but centre moved < 1 diagonal
    assert moved.tracker_id.tolist() == [1]
    jumped = tracker.update(_boxes((200, 200, 210, 210)))
    assert sorted(jumped.tracker_id.tolist()) == [1, 2]


def test_crossing_objects_keep_their_ids_by_best_overlap() -> None:
    tracker = BoxTracker()
    tracker.update(_boxes((0, 0, 50, 50), (100, 0, 150, 50)))
    tracked = tracker.update(_boxes((105, 0, 155, 50), (5, 0, 55, 50)))  # order swapped
    by_left = sorted(zip(tracked.xyxy[:, 0].tolist(), tracked.tracker_id.tolist(), strict=True))
    assert [tid for _, tid in by_left] == [1, 2]


@pytest.mark.parametrize(
    "kwargs", [dict(iou_threshold=1.5), dict(max_misses=-1), dict(smoothing=0.0),
               dict(max_centre_distance=-1.0)],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BoxTracker(**kwargs)  # type: ignore[arg-type]
