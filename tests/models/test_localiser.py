from __future__ import annotations

import cv2
import numpy as np
import pytest

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.imaging import bgr_to_tensor
from chickensaviour.labels import CAT_CLASS_INDICES
from chickensaviour.models.localiser import CamLocaliser, boxes_from_map, feature_head
from chickensaviour.models.wrapper import ImageClassifier
from tests.conftest import SAMPLES


def test_boxes_from_map_finds_each_blob_with_full_cell_extent() -> None:
    heatmap = np.zeros((4, 8), dtype=np.float32)
    heatmap[1:3, 1:3] = 1.0
    heatmap[0, 6] = 0.8
    found = boxes_from_map(heatmap, 80, 40, 0.5, 0.0, heatmap, 8)
    assert sorted(found.xyxy.tolist()) == [[10, 10, 30, 30], [60, 0, 70, 10]]
    assert sorted(found.confidence.tolist()) == pytest.approx([0.8, 1.0])
    small_dropped = boxes_from_map(heatmap, 80, 40, 0.5, 0.05, 1.0, 8)
    assert small_dropped.xyxy.tolist() == [[10, 10, 30, 30]]
    assert len(boxes_from_map(np.zeros((3, 3)), 30, 30, 0.5, 0.0, 1.0, 8)) == 0


def test_unsupported_network_is_a_clear_error() -> None:
    from torch import nn

    with pytest.raises(ChickenSaviourError, match="not supported"):
        feature_head(nn.Sequential(nn.Conv2d(3, 4, 3)))


@pytest.mark.pretrained
def test_cat_is_found_where_it_is_and_not_in_a_coffee_photo(pretrained: ImageClassifier) -> None:
    cat = cv2.imread(str(SAMPLES / "chelsea.png"))
    coffee = cv2.imread(str(SAMPLES / "coffee.png"))
    frame = cv2.resize(coffee, (640, 480))
    frame[200:426, 280:620] = cv2.resize(cat, (340, 226))  # cat in the lower right
    localiser = CamLocaliser(pretrained, CAT_CLASS_INDICES)
    found = localiser.detect(bgr_to_tensor(frame))
    assert len(found) >= 1
    best = found[int(found.confidence.argmax())]
    x1, y1, x2, y2 = best.xyxy[0]
    assert (x1 + x2) / 2 > 320 and (y1 + y2) / 2 > 240  # centre in the cat's quadrant
    assert float(best.confidence[0]) > 0.5
    assert len(localiser.detect(bgr_to_tensor(coffee))) == 0
