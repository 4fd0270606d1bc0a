"""``PatchStore``: the thread-safe hand-off of blocks and hide patches.

Owner: nobody - it *is* the hand-off. The inference thread reads the best patch for
its settings on every frame; refinement and training jobs (their own threads) put
finished patches; both go through one lock, and a stored tensor is never modified
afterwards (readers may keep using it). Refined blocks and trained hide patches are
also kept in a user cache on disk (PNG, one file per key), so the next run, and the
next switch back to a model, start from a good patch at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.files import cache_dir

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class PatchKey:
    """What a patch is made for.

    ``kind`` is "block" (for ``model`` and decoy class ``target``) or "hide" (for the
    COCO ``classes`` of the NanoDet detector; ``model`` is "nanodet"); ``size`` is the
    patch side in pixels.
    """

    kind: str
    model: str
    target: tuple[int, ...]
    size: int

    def __post_init__(self) -> None:
        if self.kind not in ("block", "hide"):
            raise ChickenSaviourError(f"patch kind must be block or hide, got {self.kind!r}")
        if self.size < 1:
            raise ChickenSaviourError(f"patch size must be >= 1, got {self.size}")

    @property
    def file_name(self) -> str:
        target = "-".join(str(t) for t in self.target)
        safe_model = "".join(c if c.isalnum() or c in "._" else "_" for c in self.model)
        return f"{self.kind}_{safe_model}_{target}_{self.size}.png"


@dataclass(frozen=True)
class StoredPatch:
    """A patch ``(1, 3, S, S)`` in ``[0, 1]``, whether it is refined/trained, where it
    came from ("pgd", "seed", "refined", "trained", "cache", "grey", "file") and a version
    number that grows with every put (frames can tell a new patch from the old one)."""

    image: torch.Tensor
    ready: bool
    origin: str
    version: int = 0


def default_cache_dir() -> Path:
    """The ``patches/`` folder of the user cache (:func:`chickensaviour.files.cache_dir`)."""
    return cache_dir("patches")


class PatchStore:
    """Patches by :class:`PatchKey`, shared by the inference thread and jobs.

    Args:
        cache_dir: where ready patches are kept between runs (``None``: the default
            user cache; ``False``: memory only).
    """

    def __init__(self, cache_dir: Path | str | bool | None = None) -> None:
        self._lock = threading.Lock()
        self._patches: dict[PatchKey, StoredPatch] = {}
        self._version = 0
        if cache_dir is False:
            self.cache_dir: Path | None = None
        elif cache_dir is None or cache_dir is True:
            self.cache_dir = default_cache_dir()
        else:
            self.cache_dir = Path(cache_dir)
        self._missing_on_disk: set[PatchKey] = set()

    def get(self, key: PatchKey) -> StoredPatch | None:
        """The patch for ``key``: from memory, else from the disk cache, else ``None``."""
        with self._lock:
            found = self._patches.get(key)
            if found is not None or key in self._missing_on_disk:
                return found
        loaded = self._load(key)
        with self._lock:
            if key in self._patches:  # another thread put one meanwhile: it is newer
                return self._patches[key]
            if loaded is None:
                self._missing_on_disk.add(key)
                return None
            self._version += 1
            stored = StoredPatch(loaded, True, "cache", self._version)
            self._patches[key] = stored
            return stored

    def put(self, key: PatchKey, image: torch.Tensor, *, ready: bool, origin: str,
            save: bool = True) -> StoredPatch:
        """Store ``image`` (copied, detached) for ``key``; ready patches are also saved
        to the disk cache unless ``save`` is False. Returns what was stored."""
        if image.dim() != 4 or image.shape[:2] != (1, 3):
            raise ChickenSaviourError(f"a patch must be (1, 3, S, S), got {tuple(image.shape)}")
        image = image.detach().clone()
        with self._lock:
            self._version += 1
            stored = StoredPatch(image, ready, origin, self._version)
            self._patches[key] = stored
        if ready and save:
            self._save(key, image)
        return stored

    def get_or_start(self, key: PatchKey, make: Callable[[], torch.Tensor], *,
                     origin: str) -> StoredPatch:
        """The patch for ``key``; when there is none, ``make()`` a starting (not ready)
        one. ``make`` runs outside the lock (a quick block takes seconds), and a patch
        put meanwhile - a refinement job finishing - wins over the starting one."""
        found = self.get(key)
        if found is not None:
            return found
        image = make()
        if image.dim() != 4 or image.shape[:2] != (1, 3):
            raise ChickenSaviourError(f"a patch must be (1, 3, S, S), got {tuple(image.shape)}")
        with self._lock:
            found = self._patches.get(key)
            if found is not None:
                return found
            self._version += 1
            stored = StoredPatch(image.detach().clone(), False, origin, self._version)
            self._patches[key] = stored
            return stored

    # -- the disk cache ---------------------------------------------------------------
    def _load(self, key: PatchKey) -> torch.Tensor | None:
        if self.cache_dir is None:
            return None
        path = self.cache_dir / key.file_name
        if not path.is_file():
            return None
        from chickensaviour.imaging import read_image

        try:
            image = read_image(path)
        except ChickenSaviourError as exc:
            logger.warning("ignoring the cached patch %s: %s", path, exc)
            return None
        if image.shape != (1, 3, key.size, key.size):
            logger.warning("ignoring the cached patch %s: size %s", path, tuple(image.shape))
            return None
        logger.info("using the cached %s patch %s", key.kind, path)
        return image

    def _save(self, key: PatchKey, image: torch.Tensor) -> None:
        if self.cache_dir is None:
            return
        from chickensaviour.files import atomic_write_bytes
        from chickensaviour.imaging import encode_image

        path = self.cache_dir / key.file_name
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, encode_image(image.cpu(), ".png"))
        except (OSError, ChickenSaviourError) as exc:  # a cache, not an output: warn only
            logger.warning("could not cache the patch in %s: %s", path, exc)
            return
        with self._lock:
            self._missing_on_disk.discard(key)
        logger.info("cached the %s patch in %s", key.kind, path)
