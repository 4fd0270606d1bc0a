"""Exceptions with messages meant for people, raised on bad input."""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """An exception from torch, OpenCV or the OS as one short line for a person.

    OpenCV puts its message on the last line, Python on the first; ``strerror`` wins.
    """
    strerror = getattr(exc, "strerror", None)
    if strerror:
        return str(strerror)
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    line = lines[-1] if "OpenCV" in lines[0] or len(lines[0]) < 3 else lines[0]
    return line[:200]


class ChickenSaviourError(ValueError):
    """Base class: a clear, user-facing problem with an input or setting."""


class WeightsNotFoundError(ChickenSaviourError):
    """A model's weight file is missing; the message names the package to install."""


class WeightsChecksumError(ChickenSaviourError):
    """A weight file exists but its sha256 does not match the expected one."""


class CachedWeightsError(ChickenSaviourError):
    """A file in the torch hub cache that cannot be loaded as the model's weights."""


class UnknownModelError(ChickenSaviourError):
    """A model reference that is neither registered, nor a usable torchvision model, nor
    a model card."""


class UnknownClassError(ChickenSaviourError):
    """A class query that matches no ImageNet class (the message holds suggestions)."""


class UnknownLayerError(ChickenSaviourError):
    """A layer name that the network does not have."""


class ImageReadError(ChickenSaviourError):
    """A file that is missing, unreadable or not an image."""


class OperationCancelled(ChickenSaviourError):
    """A long computation stopped early because its caller asked it to."""
