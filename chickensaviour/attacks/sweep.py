"""Epsilon sweeps: one gradient, many step sizes, one batched evaluation.

The deep-chicken-saviour seed plots the target-class probability against a signed
epsilon of ``x + eps * sign(grad CE(x, target))`` and keeps the epsilon at the curve's
maximum (negative epsilons move the image *towards* the target).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from chickensaviour.attacks.base import input_gradient, untargeted
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.labels import imagenet_classes
from chickensaviour.models.wrapper import Prediction, top_k
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report

#: Most pixels (per channel) in one batch of swept images: 2**24 is 200 MB of float RGB.
MAX_BATCH_PIXELS = 2**24


@dataclass(frozen=True)
class SweepResult:
    """The probability-vs-epsilon curve of one image for one target class.

    Attributes:
        epsilons: ``(N,)`` signed epsilons, ascending.
        target_probabilities: ``(N,)`` probability of the target at each epsilon.
        top_classes: the top-k prediction at each epsilon.
        best_index: index of the maximum of the curve (ties: smallest ``|eps|``).
    """

    target: int
    epsilons: torch.Tensor
    target_probabilities: torch.Tensor
    top_classes: tuple[Prediction, ...]
    best_index: int

    def __post_init__(self) -> None:
        n = self.epsilons.shape[0]
        if self.target_probabilities.shape != (n,) or len(self.top_classes) != n:
            raise ChickenSaviourError(
                "epsilons, probabilities and top classes must have one entry each")
        if not 0 <= self.best_index < n:
            raise ChickenSaviourError("best_index out of range")

    @property
    def best_eps(self) -> float:
        return float(self.epsilons[self.best_index])

    @property
    def best_probability(self) -> float:
        return float(self.target_probabilities[self.best_index])


def loss_gradient_sign(model: nn.Module, image: torch.Tensor, target: int) -> torch.Tensor:
    """``sign(grad_x CE(model(x), target))`` in eval mode, the seed's FGSM direction."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            goal = untargeted(target, image.shape[0], image.device)
            return input_gradient(model, image, goal).sign()
    finally:
        model.train(was_training)


def sweep_images(image: torch.Tensor, gradient_sign: torch.Tensor,
                 epsilons: torch.Tensor) -> torch.Tensor:
    """``clamp(x + eps * sign, 0, 1)`` for every eps: ``(1,3,H,W)`` -> ``(N,3,H,W)``."""
    scaled = epsilons.view(-1, 1, 1, 1).to(image) * gradient_sign
    return (image + scaled).clamp_(0.0, 1.0)


def epsilon_sweep(model: nn.Module, image: torch.Tensor, target: int,
                  epsilons: Sequence[float] | torch.Tensor, *, k: int = 3,
                  batch_size: int = 32, gradient_sign: torch.Tensor | None = None,
                  progress: ProgressFn | None = None,
                  should_stop: StopFn | None = None) -> SweepResult:
    """Target-class probability of ``x + eps * sign(grad CE(x, target))`` for each eps.

    Args:
        model: a classifier taking ``(B, 3, H, W)`` in ``[0, 1]`` (e.g. ``ImageClassifier``).
        image: ``(1, 3, H, W)`` in ``[0, 1]``.
        target: class index.
        epsilons: signed epsilons in ``[-1, 1]`` (negative = towards ``target``).
        k: how many top classes to keep per epsilon.
        batch_size: images per forward pass; fewer for large images, so that a batch holds
            at most :data:`MAX_BATCH_PIXELS` pixels (bounded memory).
        gradient_sign: the direction, if already computed (see :func:`loss_gradient_sign`).
        progress: ``progress(done, total, nan)`` after each batch of epsilons.
        should_stop: polled before each batch; cancels with ``OperationCancelled``.

    Example: ``epsilon_sweep(model, x, 341, torch.linspace(-0.15, 0.15, 61)).best_eps``
    """
    if image.ndim != 4 or image.shape[0] != 1:
        raise ChickenSaviourError(f"expected one image (1, 3, H, W), got {tuple(image.shape)}")
    eps = torch.as_tensor(epsilons, dtype=torch.float32).flatten().sort().values
    if eps.numel() == 0:
        raise ChickenSaviourError("epsilon sweep needs at least one epsilon")
    if float(eps.abs().max()) > 1.0:
        raise ChickenSaviourError("epsilons must lie in [-1, 1]")
    if batch_size < 1:
        raise ChickenSaviourError(f"batch_size must be >= 1, got {batch_size}")
    sign = gradient_sign if gradient_sign is not None else loss_gradient_sign(model, image, target)
    # A batch of 32 copies of a 48 MP photo is 18 GB: bound each batch's pixels too.
    pixels = image.shape[-2] * image.shape[-1]
    batch_size = max(1, min(batch_size, MAX_BATCH_PIXELS // pixels))
    chunks: list[torch.Tensor] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, eps.numel(), batch_size):
                check_stop(should_stop, "epsilon sweep")
                batch = sweep_images(image, sign, eps[start : start + batch_size])
                chunks.append(model(batch).softmax(dim=1))
                report(progress, min(start + batch_size, eps.numel()), eps.numel())
    finally:
        model.train(was_training)
    probabilities = torch.cat(chunks).float().cpu()
    curve = probabilities[:, target]
    classes = getattr(model, "classes", None) or imagenet_classes()
    return SweepResult(target, eps, curve, tuple(top_k(probabilities, k, classes)),
                       _best_index(curve, eps))


def _best_index(curve: torch.Tensor, eps: torch.Tensor) -> int:
    """Index of the curve's maximum; among ties, the smallest ``|eps|``."""
    candidates = torch.nonzero(curve >= curve.max(), as_tuple=False).flatten()
    return int(candidates[eps[candidates].abs().argmin()])
