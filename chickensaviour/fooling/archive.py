"""MAP-Elites' archive: one champion per class, replaced only by a better one.

Each evaluated image competes for every class it scores on (its softmax probability of
that class), so one forward pass can improve many cells at once (Mouret and Clune 2015,
as used by Nguyen et al. 2015).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from chickensaviour.errors import ChickenSaviourError


@dataclass(frozen=True)
class Elite:
    """The best image found so far for one class."""

    class_index: int
    confidence: float  # the class's softmax probability, in [0, 1]
    genome: Any  # the encoding renders it again, exactly, when its image is needed
    generation: int  # when it was found


class EliteArchive:
    """Champions for ``classes`` (model output indices); ``offer`` keeps the best.

    Owner: the thread running the search (not shared).
    """

    def __init__(self, classes: Sequence[int], num_classes: int) -> None:
        classes = [int(c) for c in classes]
        if not classes:
            raise ChickenSaviourError("no classes to search")
        if len(set(classes)) != len(classes):
            raise ChickenSaviourError("classes must not repeat")
        bad = [c for c in classes if not 0 <= c < num_classes]
        if bad:
            raise ChickenSaviourError(f"class index {bad[0]} is outside 0..{num_classes - 1}")
        self.classes = tuple(classes)
        self.num_classes = num_classes
        self._columns = torch.tensor(classes, dtype=torch.long)
        self._elites: dict[int, Elite] = {}

    def __len__(self) -> int:
        return len(self._elites)

    def get(self, class_index: int) -> Elite | None:
        return self._elites.get(class_index)

    @property
    def elites(self) -> list[Elite]:
        """The filled cells, in the order of ``classes``."""
        return [self._elites[c] for c in self.classes if c in self._elites]

    def confidences(self) -> np.ndarray:
        """Each class's champion confidence, 0 where the cell is empty, ``classes`` order."""
        return np.array([self._elites[c].confidence if c in self._elites else 0.0
                         for c in self.classes], dtype=np.float64)

    def offer(self, genomes: Sequence[Any], probabilities: torch.Tensor,
              generation: int) -> int:
        """Let every candidate compete for every class; returns how many cells improved.

        ``probabilities`` is ``(B, num_classes)``, one row per genome. For each class only
        the batch's best candidate is compared with the champion, and it must be strictly
        better to replace it.
        """
        if probabilities.ndim != 2 or probabilities.shape != (len(genomes), self.num_classes):
            raise ChickenSaviourError(
                f"expected probabilities ({len(genomes)}, {self.num_classes}), "
                f"got {tuple(probabilities.shape)}")
        best, rows = probabilities[:, self._columns].max(dim=0)
        improved = 0
        for class_index, confidence, row in zip(self.classes, best.tolist(), rows.tolist(),
                                                strict=True):
            current = self._elites.get(class_index)
            if current is None or confidence > current.confidence:
                self._elites[class_index] = Elite(class_index, float(confidence), genomes[row],
                                                  generation)
                improved += 1
        return improved
