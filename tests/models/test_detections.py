from __future__ import annotations

import numpy as np
import pytest

from chickensaviour.models.detections import Detections, box_iou


def _three() -> Detections:
    return Detections(np.array([[0, 0, 10, 10], [5, 5, 15, 25], [20, 20, 30, 30]]),
                      np.array([0.9, 0.4, 0.7]), np.array([8, 7, 8]))


def test_mask_indexing_returns_new_detections() -> None:
    detections = _three()
    strong = detections[detections.confidence > 0.5]
    assert len(strong) == 2 and strong.class_id.tolist() == [8, 8]
    assert strong.tracker_id.tolist() == [-1, -1]
    assert len(detections) == 3
    assert detections[1].xyxy.tolist() == [[5, 5, 15, 25]]


def test_clipping() -> None:
    detections = _three()
    clipped = detections.clipped(12, 22)
    assert clipped.xyxy[1].tolist() == [5, 5, 12, 22]
    assert clipped.xyxy[2].tolist() == [12, 20, 12, 22]


def test_empty() -> None:
    assert len(Detections.empty()) == 0
    assert Detections.empty().xyxy.shape == (0, 4)


@pytest.mark.parametrize(
    "kwargs",
    [dict(xyxy=[[0, 0, 1, 1]], confidence=[0.5, 0.5], class_id=[1]),
     dict(xyxy=[[5, 0, 1, 1]], confidence=[0.5], class_id=[1]),
     dict(xyxy=[[0, 0, 1, 1]], confidence=[1.5], class_id=[1]),
     dict(xyxy=[[0, 0, np.nan, 1]], confidence=[0.5], class_id=[1])],
)
def test_invalid_detections_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Detections(**kwargs)  # type: ignore[arg-type]


def test_box_iou_golden_values() -> None:
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10],
                                                         [20, 20, 30, 30], [0, 0, 0, 0]]))
    assert iou.tolist() == [pytest.approx([1.0, 1 / 3, 0.0, 0.0])]
