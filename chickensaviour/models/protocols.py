"""What the rest of the library asks of a classifier and of a detector.

Every loader returns an ``ImageClassifier`` (a zoo model, a model card, a torchvision
network from the hub cache), which is a :class:`Classifier`: the contract attacks and the
pipeline rely on (pixels in, logits out, a label set). Any :class:`DifferentiableDetector`
can be made to miss an object by the hide attack, which uses the detector's own
differentiable scoring (:meth:`DifferentiableDetector.class_scores`) and never its
insides; NanoDet is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch

from chickensaviour.labels import LabelSet
from chickensaviour.models.detections import Detections


@runtime_checkable
class Classifier(Protocol):
    """Float RGB ``(B, 3, H, W)`` in ``[0, 1]`` of any size -> ``(B, len(classes))`` logits.

    Resizing, channel conversion and normalisation happen inside (the tensor contract);
    ``ImageClassifier`` is the implementation every loader returns.
    """

    name: str
    classes: LabelSet
    input_size: int

    @property
    def device(self) -> torch.device: ...

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities ``(B, num_classes)``, without gradients."""
        ...


@runtime_checkable
class Detector(Protocol):
    """Anything that finds boxes in a frame ``(1, 3, H, W)`` in ``[0, 1]``."""

    def detect(self, frame: torch.Tensor) -> Detections: ...


@runtime_checkable
class DifferentiableDetector(Detector, Protocol):
    """A detector whose per-anchor class scores are differentiable in the frame pixels.

    ``class_scores(frames, classes)[b, n]`` is the probability of the best of ``classes``
    at anchor ``n``, located at ``anchor_points(W, H)[n]`` (frame pixels). Attacks
    minimise or maximise these scores; ``detect`` stays the judge of the result.
    """

    @property
    def device(self) -> torch.device: ...

    @property
    def score_threshold(self) -> float: ...

    @property
    def input_size(self) -> int:
        """The longer side frames are scaled to for the network."""
        ...

    def detect_batch(self, frames: torch.Tensor) -> list[Detections]: ...

    def class_scores(self, frames: torch.Tensor, classes: Sequence[int]) -> torch.Tensor: ...

    def anchor_points(self, width: int, height: int) -> torch.Tensor: ...

    def at_size(self, size: int, *, square: bool = True,
                threshold: float | None = None) -> DifferentiableDetector:
        """The same network and classes working at another input size (a new object;
        this one is untouched, so another thread may keep using it)."""
        ...
