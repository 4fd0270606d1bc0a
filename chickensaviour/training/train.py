"""Training and scoring small digit classifiers (LeNet-5 on MNIST).

Both functions take the raw ``LeNet5``-style network (normalised ``(B, 1, 28, 28)`` in,
logits out) and digit images ``(N, 1, 28, 28)`` in ``[0, 1]``; the MNIST mean/std
normalisation happens inside, so data never leaves the ``[0, 1]`` contract. (Training
the wrapped ``ImageClassifier`` would also work but pays for an RGB->grey and a resize
check on every batch of images that are already grey 28x28.)

Example::

    net = LeNet5()
    train_classifier(net, data.train.images, data.train.labels, epochs=3)
    accuracy(net, data.test.images, data.test.labels)  # ~0.99
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report
from chickensaviour.training.lenet import MNIST_MEAN, MNIST_STD
from chickensaviour.training.mnist import check_digits

logger = logging.getLogger(__name__)

#: ``"cosine"``: the learning rate falls from ``lr`` to 0 along half a cosine over the
#: whole run; ``"constant"``: it stays at ``lr``.
Schedule = Literal["cosine", "constant"]


@dataclass(frozen=True)
class TrainingReport:
    """What :func:`train_classifier` did: epochs and optimiser steps run, the mean loss of
    the last epoch and the wall-clock seconds."""

    epochs: int
    steps: int
    final_loss: float
    seconds: float


def normalize_digits(images: torch.Tensor) -> torch.Tensor:
    """``[0, 1]`` digits -> the network's input (MNIST mean/std)."""
    return (images - MNIST_MEAN[0]) / MNIST_STD[0]


def train_classifier(
    net: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    schedule: Schedule = "cosine",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    device: torch.device | str | None = None,
) -> TrainingReport:
    """Train ``net`` in place with Adam and cross-entropy; returns a :class:`TrainingReport`.

    Args:
        net: takes normalised ``(B, 1, 28, 28)``, returns ``(B, num_classes)`` logits.
            Its initial weights are the caller's: seed torch before building it
            (``torch.manual_seed(seed); LeNet5()``) for a reproducible run.
        images: ``(N, 1, 28, 28)`` float32 in ``[0, 1]``.
        labels: ``(N,)`` int64 in ``0..9`` (and below the network's class count).
        epochs: passes over the data, >= 1.
        lr: Adam's (initial) learning rate.
        schedule: ``"cosine"`` (default) decays it to 0 over the run, ``"constant"``
            keeps it.
        seed: orders the batches (a private ``torch.Generator``); the same seed, data
            and initial weights give the same weights on the same machine.
        progress, should_stop: the library's convention (one step = one batch).
        device: where to train (default: where ``net`` is); ``net`` stays there.

    The network is left in eval mode.
    """
    check_digits(images, labels, num_classes=None)  # the network's size is checked below
    if epochs < 1:
        raise ChickenSaviourError(f"epochs must be >= 1, got {epochs}")
    if batch_size < 1:
        raise ChickenSaviourError(f"batch_size must be >= 1, got {batch_size}")
    if schedule not in ("cosine", "constant"):
        raise ChickenSaviourError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    if not lr > 0:
        raise ChickenSaviourError(f"learning rate must be positive, got {lr}")
    parameters = [p for p in net.parameters() if p.requires_grad]
    if not parameters:
        raise ChickenSaviourError("the network has no trainable parameters")
    device = torch.device(device) if device is not None else parameters[0].device
    net.to(device)
    count = int(labels.shape[0])
    batches = (count + batch_size - 1) // batch_size
    total = epochs * batches
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(parameters, lr=lr)
    if schedule == "cosine":  # most of the accuracy of a long run in two or three epochs
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda done: 0.5 * (1.0 + math.cos(math.pi * done / total)))
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda done: 1.0)
    start = time.perf_counter()
    step, epoch_loss = 0, float("nan")
    net.train()
    try:
        for epoch in range(epochs):
            order = torch.randperm(count, generator=generator)
            loss_sum = 0.0
            for first in range(0, count, batch_size):
                check_stop(should_stop, "training")
                index = order[first:first + batch_size]
                x = normalize_digits(images[index].to(device))
                y = labels[index].to(device)
                logits = net(x)
                if first == 0 and epoch == 0 and int(labels.max()) >= logits.shape[1]:
                    raise ChickenSaviourError(f"label {int(labels.max())} is out of range "
                                              f"for a network with {logits.shape[1]} classes")
                loss = F.cross_entropy(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                step += 1
                loss_value = float(loss.detach())
                loss_sum += loss_value * len(index)
                report(progress, step, total, loss_value)
            epoch_loss = loss_sum / count
            logger.info("epoch %d/%d: loss %.4f", epoch + 1, epochs, epoch_loss)
    finally:
        net.eval()
    return TrainingReport(epochs=epochs, steps=step, final_loss=epoch_loss,
                          seconds=time.perf_counter() - start)


@torch.no_grad()
def predict_digits(net: nn.Module, images: torch.Tensor, batch_size: int = 1000,
                   ) -> torch.Tensor:
    """Predicted classes ``(N,)`` int64 of ``[0, 1]`` digits, in eval mode."""
    if images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ChickenSaviourError(f"digit images must be (N, 1, 28, 28), "
                                  f"got {tuple(images.shape)}")
    if batch_size < 1:
        raise ChickenSaviourError(f"batch_size must be >= 1, got {batch_size}")
    parameters = list(net.parameters())
    device = parameters[0].device if parameters else torch.device("cpu")
    was_training = net.training
    net.eval()
    try:
        return torch.cat([
            net(normalize_digits(images[first:first + batch_size].to(device))).argmax(1).cpu()
            for first in range(0, images.shape[0], batch_size)
        ])
    finally:
        net.train(was_training)


def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             batch_size: int = 1000) -> float:
    """Fraction of ``images`` (``(N, 1, 28, 28)`` in ``[0, 1]``) that ``net`` classifies
    as ``labels``."""
    check_digits(images, labels)
    return float((predict_digits(net, images, batch_size) == labels).double().mean())
