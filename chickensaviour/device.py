"""Choosing the torch device: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import torch

from chickensaviour.errors import ChickenSaviourError

logger = logging.getLogger(__name__)


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """Return ``preferred`` if given and usable, else the best available device.

    Example: ``pick_device()`` -> ``device('cuda')`` on a GPU machine, ``device('cpu')`` here.
    """
    if preferred is not None and str(preferred) != "auto":
        try:
            device = torch.device(preferred)
        except RuntimeError as exc:
            raise ChickenSaviourError(f"unknown device {preferred!r}: {exc}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ChickenSaviourError("device 'cuda' requested but CUDA is not available")
        if device.type == "mps" and not _mps_available():
            raise ChickenSaviourError("device 'mps' requested but MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads (``None``: leave them), restoring
    the previous number afterwards however the block ends.

    One thread is faster than two for LeNet-sized work (28x28 batches): waking a second
    OpenMP thread costs more than the work it takes over.
    """
    previous = torch.get_num_threads()
    if count is not None:
        if count < 1:
            raise ChickenSaviourError(f"threads must be at least 1, got {count}")
        use_threads(count)
    try:
        yield
    finally:
        use_threads(previous)


def use_threads(count: int) -> None:
    """Let the calling thread's torch work use ``count`` threads (no-op if it already
    does: changing OpenMP's team size has a cost). The count is per thread: a pipeline
    stage setting its own leaves the other threads' as they are."""
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask where there is one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)

