"""torchvision classifiers from the torch hub cache, checked against their file names.

torchvision names every checkpoint ``NAME-HASH.pth`` where ``HASH`` starts the file's
sha256 (``resnet50-11ad3fa6.pth``). A file in the cache is used only when its sha256
starts with that prefix, so a partial download, a proxy's HTML page or another model's
checkpoint saved under the name is one clear line, not a traceback or wrong weights.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from chickensaviour.errors import CachedWeightsError, UnknownModelError, WeightsNotFoundError
from chickensaviour.files import file_sha256

logger = logging.getLogger(__name__)

#: torch.hub's own pattern for the hash in a checkpoint's file name.
HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")
DOWNLOAD_TIMEOUT_S = 15.0


def checkpoints_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (torch's default hub cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def torchvision_classifiers() -> list[str]:
    """The classification architectures torchvision knows (``resnet50``, ``vgg16``, ...)."""
    from torchvision import models

    return sorted(models.list_models(module=models))


@dataclass(frozen=True)
class HubCacheWeights:
    """A torchvision checkpoint in the hub cache (a :class:`WeightSource`)."""

    architecture: str  # torchvision's name
    file_name: str  # the checkpoint's name in the cache, hash prefix included

    @classmethod
    def for_torchvision(cls, architecture: str) -> HubCacheWeights:
        from torchvision import models

        url = models.get_model_weights(architecture).DEFAULT.url
        return cls(architecture, Path(url).name)

    @property
    def description(self) -> str:
        return f"torchvision {self.architecture}, torch hub cache"

    @property
    def install_hint(self) -> str:
        return (f"put {self.file_name} into {checkpoints_dir()} (torchvision downloads it "
                "there when a network is available)")

    @property
    def expected_prefix(self) -> str | None:
        found = HASH_IN_NAME.search(self.file_name)
        return found.group(1) if found else None

    def locate(self) -> Path | None:
        path = checkpoints_dir() / self.file_name
        return path if path.is_file() else None

    def require(self) -> Path:
        path = self.locate()
        if path is None:
            raise WeightsNotFoundError(f"weights for {self.architecture!r} are not in the torch "
                                    f"cache ({checkpoints_dir() / self.file_name})")
        prefix = self.expected_prefix
        if prefix and not file_sha256(path).startswith(prefix):
            raise bad_cache_file(self.architecture, path,
                                 f"its name promises a sha256 starting {prefix}, the "
                                 "file's does not")
        return path

    def download(self) -> dict[str, torch.Tensor]:
        """Fetch the state dict through torchvision (hash checked), or a clear error."""
        from torchvision import models

        weights = models.get_model_weights(self.architecture).DEFAULT
        try:
            with _network_timeout(DOWNLOAD_TIMEOUT_S):
                return weights.get_state_dict(progress=False, check_hash=True)
        except Exception as exc:  # any network or hub failure means "not available offline"
            raise UnknownModelError(
                f"weights for {self.architecture!r} are not in the torch cache "
                f"({checkpoints_dir() / self.file_name}) and could not be downloaded "
                f"({type(exc).__name__})") from None


def bad_cache_file(name: str, path: Path, reason: str) -> CachedWeightsError:
    return CachedWeightsError(
        f"cannot load the {name} weights from {path} ({reason}): the file is corrupt or "
        "not this model's checkpoint; delete it (it is downloaded again when a network is "
        "there)")


def cached_torchvision_models() -> Iterator[HubCacheWeights]:
    """The torchvision classifiers whose checkpoint file is in the hub cache."""
    try:
        if not checkpoints_dir().is_dir():
            return
        for name in torchvision_classifiers():
            source = HubCacheWeights.for_torchvision(name)
            if source.locate() is not None:
                yield source
    except Exception:  # listing the cache is best-effort
        logger.debug("could not list the torch hub cache", exc_info=True)


@contextlib.contextmanager
def _network_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)
