"""Weights trained on this machine once and kept in the user cache (``lenet5_mnist``).

``fetch`` runs the source's training recipe and writes ``<cache>/models/<file_name>``
(``.safetensors``) with a ``.json`` sidecar recording the file's sha256 and how it was
made (data and its sha256, seed, epochs, test accuracy, date), both atomically.
``require`` checks the file against that sidecar, so a damaged or replaced file is
refused. Nothing is downloaded: the data comes from an installed package.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from chickensaviour.models.sources import CachedFile
from chickensaviour.progress import ProgressFn, StopFn

logger = logging.getLogger(__name__)

#: ``(progress, should_stop) -> (state dict, record)``: trains the model and says how.
Trainer = Callable[[ProgressFn | None, StopFn | None],
                   tuple[dict[str, torch.Tensor], dict[str, Any]]]


@dataclass(frozen=True)
class TrainedLocally(CachedFile):
    """A model's weights made by training here (a
    :class:`~chickensaviour.models.sources.WeightSource` with a ``fetch``)."""

    file_name: str  # the ``.safetensors`` file in ``cache_dir("models")``
    fetch_name: str  # the name given to ``chickensaviour models --fetch``
    recipe: str  # how it is trained, for ``description`` ("LeNet-5 on MNIST, 3 epochs")
    train: Trainer
    directory: Path | None = None  # where the file lives; None: the user cache
    # (weights file name, record) -> files written beside it: the model card
    card: Callable[[str, dict[str, Any]], dict[str, bytes]] | None = None

    @property
    def card_path(self) -> Path | None:
        """The model card written beside the weights (``None`` when there is none)."""
        return None if self.card is None else self.path.with_suffix(".card.json")

    @property
    def description(self) -> str:
        return f"trained here: {self.recipe}"

    @property
    def install_hint(self) -> str:
        return f"chickensaviour models --fetch {self.fetch_name} (or bash scripts/setup.sh)"

    @property
    def fetch_note(self) -> str:
        """What ``models --fetch`` says before it starts."""
        return f"training {self.recipe} (once; a minute or so on a few CPU cores) ..."

    def fetch(self, *, progress: ProgressFn | None = None,
              should_stop: StopFn | None = None) -> Path:
        """Train, then write the weights and their sidecar (both or neither); returns
        the path. ``progress``/``should_stop`` follow :mod:`chickensaviour.progress`."""
        from chickensaviour.training.checkpoints import state_dict_bytes

        state, how = self.train(progress, should_stop)
        data = state_dict_bytes(state)
        record = {"recipe": self.recipe, **how}
        beside = {} if self.card is None else self.card(self.file_name, record)
        self.publish(data, record, made="trained", beside=beside)
        logger.info("wrote %s", self.path)
        return self.path
