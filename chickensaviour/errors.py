"""Exceptions with messages meant for people, raised on bad input."""

from __future__ import annotations


class ChickenSaviourError(ValueError):
    """Base class: a clear, user-facing problem with an input or setting."""


class WeightsNotFoundError(ChickenSaviourError):
    """A model's weight file is missing; the message names the package to install."""


class WeightsChecksumError(ChickenSaviourError):
    """A weight file exists but its sha256 does not match the expected one."""


class UnknownModelError(ChickenSaviourError):
    """A model name that is neither in the offline zoo nor a usable torchvision model."""


class UnknownClassError(ChickenSaviourError):
    """A class query that matches no ImageNet class (the message holds suggestions)."""


class ImageReadError(ChickenSaviourError):
    """A file that is missing, unreadable or not an image."""


class OperationCancelled(ChickenSaviourError):
    """A long computation stopped early because its caller asked it to."""
