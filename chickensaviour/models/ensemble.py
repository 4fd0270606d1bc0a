"""``EnsembleClassifier``: several classifiers answering as one, so one attack fools them all.

Each member keeps its own preprocessing and input size: the ensemble hands every member
the same float RGB ``(B, 3, H, W)`` images in ``[0, 1]`` and combines their outputs, either
as a weighted mean of logits or as the log of a weighted mean of softmax probabilities.

Example: ``EnsembleClassifier([load_model("mobilenet_v2"), load_model("resnet50")])(x)``
(or ``load_model("mobilenet_v2+resnet50")``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NoReturn

import torch
from torch import nn

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.labels import LabelSet
from chickensaviour.models.wrapper import (
    Fit,
    ImageClassifier,
    Predicting,
    Prediction,
    check_images,
)

Combine = Literal["logits", "probabilities"]


def combine_outputs(logits: torch.Tensor, weights: torch.Tensor,
                    combine: Combine = "logits") -> torch.Tensor:
    """Combine stacked member logits ``(M, B, C)`` with ``weights`` ``(M,)`` (summing to 1).

    ``"logits"``: the weighted mean of the logits. ``"probabilities"``: the log of the
    weighted mean of the softmax probabilities (so its softmax is that mean). Differentiable.

    Shape:
        - logits: ``(M, B, C)``; weights: ``(M,)``.
        - output: ``(B, C)``.
    """
    if logits.ndim != 3:
        raise ChickenSaviourError(f"expected member logits (M, B, C), got {tuple(logits.shape)}")
    if weights.shape != (logits.shape[0],):
        raise ChickenSaviourError(
            f"expected {logits.shape[0]} weights, got shape {tuple(weights.shape)}")
    weights = weights.to(device=logits.device, dtype=logits.dtype).view(-1, 1, 1)
    if combine == "logits":
        return (logits * weights).sum(dim=0)
    if combine == "probabilities":
        # log(sum_m w_m softmax_m) computed stably in log space.
        return torch.logsumexp(logits.log_softmax(dim=2) + weights.log(), dim=0)
    raise ChickenSaviourError(f"combine must be 'logits' or 'probabilities', got {combine!r}")


class EnsembleClassifier(Predicting, nn.Module):
    """Several :class:`ImageClassifier` s with the same label set, answering as one.

    Args:
        members: the classifiers (at least one), all on one device, with the same class
            names in the same order.
        combine: ``"logits"`` (weighted mean of logits) or ``"probabilities"`` (log of the
            weighted mean of softmax probabilities).
        weights: one positive weight per member (normalised to sum to 1); default equal.

    Shape:
        - images: ``(B, 3, H, W)`` in ``[0, 1]``, any size (each member resizes).
        - output: ``(B, num_classes)`` combined logits.

    Visualisations need one network and refuse an ensemble (``net`` raises a
    :class:`ChickenSaviourError`).

    Example: ``EnsembleClassifier([a, b], combine="probabilities").predict(x, k=1)``
    """

    def __init__(self, members: Sequence[ImageClassifier], *, combine: Combine = "logits",
                 weights: Sequence[float] | None = None) -> None:
        super().__init__()
        members = list(members)
        if not members:
            raise ChickenSaviourError("an ensemble needs at least one model")
        if combine not in ("logits", "probabilities"):
            raise ChickenSaviourError(
                f"combine must be 'logits' or 'probabilities', got {combine!r}")
        if weights is None:
            weights = [1.0] * len(members)
        weights = [float(w) for w in weights]
        if len(weights) != len(members):
            raise ChickenSaviourError(
                f"expected {len(members)} ensemble weights, got {len(weights)}")
        if any(not (math.isfinite(w) and w > 0) for w in weights):
            raise ChickenSaviourError(f"ensemble weights must be positive numbers, got {weights}")
        first = members[0]
        for other in members[1:]:
            if tuple(other.classes.names) != tuple(first.classes.names):
                raise ChickenSaviourError(
                    f"{first.name} and {other.name} have different labels "
                    f"({len(first.classes)} and {len(other.classes)} classes); an ensemble "
                    "needs the same classes in the same order")
            if other.device != first.device:
                raise ChickenSaviourError(
                    f"{first.name} is on {first.device} but {other.name} on {other.device}; "
                    "ensemble members must share one device")
        total = sum(weights)
        self.members = nn.ModuleList(members)
        self.combine: Combine = combine
        self.member_weights: tuple[float, ...] = tuple(w / total for w in weights)
        self.name = "+".join(m.name for m in members)
        self.identity = "+".join(m.identity for m in members)
        if combine != "logits" or len(set(self.member_weights)) > 1:
            weight_text = ",".join(f"{w:.4g}" for w in self.member_weights)
            self.identity += f"[{combine};{weight_text}]"
        self.classes: LabelSet = first.classes
        self.input_size = max(m.input_size for m in members)
        # Start in the members' mode (eval for loaded models) without changing theirs.
        self.training = all(m.training for m in members)

    @property
    def device(self) -> torch.device:
        return self.members[0].device

    @property
    def fit(self) -> Fit:
        """The members' crop/stretch policy (the first member's if they differ)."""
        return self.members[0].fit

    def with_fit(self, fit: Fit) -> EnsembleClassifier:
        """The same members (shared weights) with another crop/stretch policy."""
        if fit not in ("crop", "stretch"):
            raise ChickenSaviourError(f"fit must be 'crop' or 'stretch', got {fit!r}")
        if all(m.fit == fit for m in self.members):
            return self
        view = EnsembleClassifier([m.with_fit(fit) for m in self.members],
                                  combine=self.combine, weights=self.member_weights)
        view.train(self.training)
        return view

    def member_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Every member's logits, stacked: ``(M, B, C)``. Differentiable in ``images``."""
        check_images(images)
        return torch.stack([member(images) for member in self.members])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        stacked = self.member_logits(images)
        weights = torch.tensor(self.member_weights, dtype=stacked.dtype, device=stacked.device)
        return combine_outputs(stacked, weights, self.combine)


    def member_predictions(self, images: torch.Tensor, k: int = 5) -> list[list[Prediction]]:
        """Top-``k`` predictions of each member: ``result[m][b]`` is member ``m`` on image ``b``."""
        return [member.predict(images, k) for member in self.members]

    # Visualisations reach into one network; say so instead of an AttributeError.
    @property
    def net(self) -> NoReturn:
        raise ChickenSaviourError(
            f"visualisations need one model, not an ensemble ({self.name})")

    def normalize(self, images: torch.Tensor) -> NoReturn:
        raise ChickenSaviourError(
            f"visualisations need one model, not an ensemble ({self.name})")

    def preprocess(self, images: torch.Tensor) -> NoReturn:
        raise ChickenSaviourError(
            f"each member of the ensemble {self.name} preprocesses on its own; use one model")

    def to_input_size(self, images: torch.Tensor) -> NoReturn:
        raise ChickenSaviourError(
            f"each member of the ensemble {self.name} resizes on its own; use one model")

    def extra_repr(self) -> str:
        return f"name={self.name!r}, combine={self.combine!r}, weights={self.member_weights}"
