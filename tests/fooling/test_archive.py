"""MAP-Elites' archive keeps the best image per class."""

from __future__ import annotations

import pytest
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.fooling.archive import EliteArchive


def test_keeps_the_best_per_class_and_each_image_competes_for_every_class() -> None:
    archive = EliteArchive([0, 1, 2], num_classes=4)
    first = torch.tensor([[0.7, 0.1, 0.1, 0.1],
                          [0.2, 0.5, 0.2, 0.1]])
    assert archive.offer(["a", "b"], first, generation=0) == 3
    assert [(e.class_index, e.genome) for e in archive.elites] == [(0, "a"), (1, "b"), (2, "b")]
    # worse or equal: nothing changes; strictly better: replaced, generation recorded
    second = torch.tensor([[0.7, 0.4, 0.05, 0.0],
                           [0.1, 0.1, 0.6, 0.2]])
    assert archive.offer(["c", "d"], second, generation=3) == 1
    assert archive.get(0).genome == "a" and archive.get(0).generation == 0
    assert archive.get(1).genome == "b"
    assert archive.get(2).genome == "d" and archive.get(2).generation == 3
    assert archive.get(2).confidence == pytest.approx(0.6)
    assert archive.confidences().tolist() == pytest.approx([0.7, 0.5, 0.6])
    assert archive.get(3) is None  # not searched


def test_empty_cells_count_as_zero() -> None:
    archive = EliteArchive([5, 1], num_classes=6)
    assert len(archive) == 0 and archive.confidences().tolist() == [0.0, 0.0]


def test_bad_classes_and_shapes_are_refused() -> None:
    with pytest.raises(ChickenSaviourError, match="no classes"):
        EliteArchive([], 3)
    with pytest.raises(ChickenSaviourError, match="repeat"):
        EliteArchive([1, 1], 3)
    with pytest.raises(ChickenSaviourError, match="outside"):
        EliteArchive([3], 3)
    archive = EliteArchive([0], 3)
    with pytest.raises(ChickenSaviourError, match="probabilities"):
        archive.offer(["a"], torch.zeros(2, 3), 0)
