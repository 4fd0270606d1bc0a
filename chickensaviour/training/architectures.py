"""Architectures defined in this package, by the name a model card gives them.

A card's ``"architecture": "chickensaviour:lenet5"`` builds ``ARCHITECTURES["lenet5"]``
with ``num_classes=len(labels)``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from chickensaviour.training.lenet import LeNet5

#: name -> constructor taking ``num_classes``.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"lenet5": LeNet5}


def build_architecture(name: str, num_classes: int) -> nn.Module:
    """A new, randomly initialised ``ARCHITECTURES[name]`` with ``num_classes`` outputs;
    ``KeyError`` for an unknown name (callers say which names exist)."""
    return ARCHITECTURES[name](num_classes=num_classes)
