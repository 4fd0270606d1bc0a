"""Objectives: what an optimisation maximises, composable with arithmetic (lucent style).

An :class:`Objective` maps the captured activations - a dict from layer name (and
``"logits"``, ``"input"``) to tensors - to one value per image ``(B,)``. They add,
subtract, scale and negate::

    class_logit(368) + 0.5 * channel("features.14", 7) - 1e-3 * image_l2()
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.visualize.layers import LOGITS

INPUT = "input"
Activations = Mapping[str, torch.Tensor]


class Objective:
    """A function of activations to maximise, and the layers it needs captured."""

    def __init__(self, fn: Callable[[Activations], torch.Tensor], name: str,
                 layers: tuple[str, ...] = ()) -> None:
        self.fn = fn
        self.name = name
        self.layers = layers

    def __call__(self, activations: Activations) -> torch.Tensor:
        return self.fn(activations)

    def __repr__(self) -> str:
        return f"Objective({self.name})"

    def __add__(self, other: Objective | float) -> Objective:
        if isinstance(other, (int, float)):
            return Objective(lambda a: self(a) + other, f"{self.name} + {other:g}", self.layers)
        return Objective(lambda a: self(a) + other(a), f"{self.name} + {other.name}",
                         self.layers + other.layers)

    __radd__ = __add__

    def __neg__(self) -> Objective:
        return Objective(lambda a: -self(a), f"-({self.name})", self.layers)

    def __sub__(self, other: Objective | float) -> Objective:
        return self + (-other)

    def __rsub__(self, other: float) -> Objective:
        return (-self) + other

    def __mul__(self, weight: float) -> Objective:
        if not isinstance(weight, (int, float)):
            raise TypeError("objectives are weighted by numbers, not multiplied together")
        return Objective(lambda a: weight * self(a), f"{weight:g} * {self.name}", self.layers)

    __rmul__ = __mul__

    def __truediv__(self, divisor: float) -> Objective:
        return self * (1.0 / divisor)


def _layer(activations: Activations, layer: str) -> torch.Tensor:
    return activations[layer]


def _check_channel(activation: torch.Tensor, layer: str, index: int) -> None:
    if activation.dim() < 2 or not 0 <= index < activation.shape[1]:
        count = activation.shape[1] if activation.dim() >= 2 else 0
        raise ChickenSaviourError(f"layer {layer!r} has {count} channels; "
                                  f"channel {index} does not exist")


def class_logit(index: int) -> Objective:
    """The class's logit (before softmax: maximising it does not just shrink the others)."""
    return Objective(lambda a: a[LOGITS][:, index], f"class_logit({index})", (LOGITS,))


def class_log_probability(index: int | Sequence[int]) -> Objective:
    """The log softmax probability of the class (one index, or one per batch image).

    Unlike the logit it can only rise by taking probability from every other class, so
    it is the objective for images meant to be classified with near certainty.
    """
    indices = torch.as_tensor(index, dtype=torch.long).reshape(-1)

    def fn(a: Activations) -> torch.Tensor:
        log_probabilities = a[LOGITS].log_softmax(dim=1)
        targets = indices.to(log_probabilities.device)
        if len(targets) not in (1, len(log_probabilities)):
            raise ChickenSaviourError(f"{len(targets)} classes for a batch of "
                                      f"{len(log_probabilities)} images")
        targets = targets.expand(len(log_probabilities))
        return log_probabilities.gather(1, targets[:, None])[:, 0]

    return Objective(fn, f"class_log_probability({indices.tolist()})", (LOGITS,))


def channel(layer: str, index: int) -> Objective:
    """Mean activation of one channel of a layer over all positions."""
    def fn(a: Activations) -> torch.Tensor:
        x = _layer(a, layer)
        _check_channel(x, layer, index)
        return x[:, index].reshape(len(x), -1).mean(dim=1)

    return Objective(fn, f"channel({layer!r}, {index})", (layer,))


def neuron(layer: str, index: int, x: int | None = None, y: int | None = None) -> Objective:
    """One unit: channel ``index`` at position ``(x, y)`` (default: the centre)."""
    def fn(a: Activations) -> torch.Tensor:
        act = _layer(a, layer)
        _check_channel(act, layer, index)
        if act.dim() == 2:
            return act[:, index]
        height, width = act.shape[-2:]
        row = height // 2 if y is None else y
        col = width // 2 if x is None else x
        if not (0 <= row < height and 0 <= col < width):
            raise ChickenSaviourError(f"neuron ({col}, {row}) is outside {layer!r} "
                                      f"({width}x{height})")
        return act[:, index, row, col]

    return Objective(fn, f"neuron({layer!r}, {index}, {x}, {y})", (layer,))


def layer_activation(layer: str) -> Objective:
    """Mean squared activation of a whole layer: Deep Dream's "more of whatever is there"."""
    return Objective(lambda a: _layer(a, layer).pow(2).flatten(1).mean(dim=1),
                     f"layer_activation({layer!r})", (layer,))


def image_l2() -> Objective:
    """Mean squared distance of the image from mid grey (subtract it to regularise)."""
    return Objective(lambda a: (a[INPUT] - 0.5).pow(2).flatten(1).mean(dim=1), "image_l2()")


def total_variation() -> Objective:
    """Mean absolute difference of neighbouring pixels (subtract it for smooth images)."""
    def fn(a: Activations) -> torch.Tensor:
        x = a[INPUT]
        return ((x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(dim=1)
                + (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(dim=1))

    return Objective(fn, "total_variation()")
