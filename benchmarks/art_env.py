"""IBM ART for the benchmarks only: installed into a side folder, never into ``.venv``.

ART (``adversarial-robustness-toolbox``) is a reference to compare against, not a
dependency of ``chickensaviour``. :func:`ensure_art` pip-installs the pinned release with
``--no-deps`` into ``benchmarks/.art-site`` (git-ignored), adds whichever of its own
dependencies the running interpreter lacks to the same folder, and puts the folder at the
front of ``sys.path``. torch and numpy are never installed there: ART must run against the
ones ``.venv`` already has, or the comparison would not be with the same model.

Example::

    from art_env import ensure_art
    ensure_art()
    from art.estimators.classification import PyTorchClassifier
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

logger = logging.getLogger(__name__)

ART_REQUIREMENT = "adversarial-robustness-toolbox==1.20.1"
#: Must come from the interpreter: another copy would change the model under test.
PINNED_FROM_INTERPRETER = ("numpy", "torch", "torchvision")
DEFAULT_SITE = Path(__file__).resolve().parent / ".art-site"
#: Rounds of "install what the new packages require": ART -> scikit-learn -> joblib ...
MAX_ROUNDS = 6


class ArtEnvironmentError(RuntimeError):
    """ART could not be made importable (pip failed, or a pinned package is missing)."""


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _prepend(directory: Path) -> None:
    entry = str(directory)
    if entry not in sys.path:
        sys.path.insert(0, entry)
    importlib.invalidate_caches()


def _installed(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def _unmet(directory: Path) -> list[Requirement]:
    """Requirements of the distributions in ``directory`` that nothing on ``sys.path``
    satisfies (extras skipped, environment markers evaluated)."""
    unmet: dict[str, Requirement] = {}
    for dist in metadata.distributions(path=[str(directory)]):
        for line in dist.requires or ():
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            found = _installed(requirement.name)
            if found is None or not requirement.specifier.contains(found.version,
                                                                   prereleases=True):
                unmet[canonicalize_name(requirement.name)] = requirement
    return list(unmet.values())


def _pip_install(directory: Path, requirements: list[str]) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--target", str(directory), "--no-deps", *requirements]
    logger.info("installing into %s: %s", directory, " ".join(requirements))
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ArtEnvironmentError(
            f"pip could not install {' '.join(requirements)} into {directory} "
            f"(exit {result.returncode}): {result.stderr.strip()[-2000:]}")


def _install_closure(directory: Path) -> None:
    """ART with ``--no-deps``, then, round by round, whatever the packages now in
    ``directory`` require and the interpreter lacks (ART needs scikit-learn, six, tqdm,
    scipy, setuptools, numpy; scikit-learn needs joblib, threadpoolctl, narwhals ...)."""
    pending = [ART_REQUIREMENT]
    for _ in range(MAX_ROUNDS):
        _pip_install(directory, pending)
        _prepend(directory)
        unmet = _unmet(directory)
        pinned = [str(r) for r in unmet
                  if canonicalize_name(r.name) in PINNED_FROM_INTERPRETER]
        if pinned:
            raise ArtEnvironmentError(
                f"ART's dependencies need {', '.join(pinned)}, which must come from the "
                f"interpreter's environment and do not match it; not installing another copy")
        if not unmet:
            return
        pending = [str(r) for r in unmet]
    raise ArtEnvironmentError(f"dependencies of ART still unmet after {MAX_ROUNDS} rounds: "
                              f"{', '.join(pending)}")


def ensure_art(directory: Path = DEFAULT_SITE) -> None:
    """Make ``import art`` work in this interpreter, installing ART into ``directory``.

    When ``art`` is importable (from ``directory``, already on ``sys.path`` or not),
    only ``sys.path`` changes. Otherwise pip installs :data:`ART_REQUIREMENT` with
    ``--no-deps`` into ``directory``, then, into the same folder, those of its
    (transitive) requirements this interpreter does not already satisfy; numpy, torch and
    torchvision must already be present and satisfy them
    (:data:`PINNED_FROM_INTERPRETER`). ``directory`` is then first on ``sys.path``.
    Raises :class:`ArtEnvironmentError` when pip fails or ``art`` still cannot be imported.
    The default is ``benchmarks/.art-site`` next to this file, whatever the working folder.
    """
    directory = Path(directory).resolve()
    missing_pinned = [name for name in PINNED_FROM_INTERPRETER if not _importable(name)]
    if missing_pinned:
        raise ArtEnvironmentError(
            f"{', '.join(missing_pinned)} must come from the interpreter's environment, "
            f"not from {directory}: install the project first")
    if directory.is_dir():
        _prepend(directory)
    if not _importable("art"):
        directory.mkdir(parents=True, exist_ok=True)
        _install_closure(directory)
    try:
        art = importlib.import_module("art")
    except ImportError as exc:
        raise ArtEnvironmentError(f"ART installed in {directory} but cannot be imported: "
                                  f"{exc}") from exc
    logger.info("ART %s from %s", getattr(art, "__version__", "?"),
                Path(art.__file__ or "?").parent)
