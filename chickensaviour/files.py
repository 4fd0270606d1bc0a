"""Writing outputs so that nothing half-written is ever left behind."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from chickensaviour.errors import ChickenSaviourError

logger = logging.getLogger(__name__)


def ensure_writable_dir(directory: str | Path) -> Path:
    """Create ``directory`` if needed and check that files can be written in it."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ChickenSaviourError(f"output path exists and is not a directory: {directory}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ChickenSaviourError(
            f"cannot create output directory {directory}: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ChickenSaviourError(f"output directory is not writable: {directory}")
    return directory


def check_creatable_dir(directory: str | Path) -> Path:
    """Check, without creating anything, that ``directory`` exists writable or can be made."""
    directory = Path(directory)
    if directory.exists():
        if not directory.is_dir():
            raise ChickenSaviourError(f"output path exists and is not a directory: {directory}")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise ChickenSaviourError(f"output directory is not writable: {directory}")
        return directory
    ancestor = directory.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise ChickenSaviourError(f"cannot create output directory {directory}: "
                                  f"{ancestor} is not a writable directory")
    return directory


def check_creatable_file(path: str | Path) -> Path:
    """Check, without creating anything, that the file ``path`` could be written."""
    path = Path(path)
    if path.is_dir():
        raise ChickenSaviourError(f"output path is a directory, expected a file: {path}")
    if path.exists() and not os.access(path, os.W_OK):
        raise ChickenSaviourError(f"output file is not writable: {path}")
    check_creatable_dir(path.parent)
    return path


def check_writable_file(path: str | Path) -> Path:
    """Check that ``path`` can be created, making its folder if needed."""
    path = Path(path)
    if path.is_dir():
        raise ChickenSaviourError(f"output path is a directory, expected a file: {path}")
    ensure_writable_dir(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    return write_all({Path(path): data})[0]


def write_all(files: dict[Path, bytes]) -> list[Path]:
    """Write several files all-or-nothing.

    Every file is first written to a temporary sibling; only when all of them are
    complete are they renamed into place. On any error the temporaries are removed and
    no destination is touched.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for destination, data in files.items():
            check_writable_file(destination)
            fd, temp_name = tempfile.mkstemp(
                prefix=f".{destination.name}.", suffix=".part", dir=destination.parent
            )
            temp_path = Path(temp_name)
            staged.append((temp_path, destination))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as exc:
        _remove_all(temp for temp, _ in staged)
        raise ChickenSaviourError(f"cannot write output: {exc.strerror or exc}") from None
    except BaseException:
        _remove_all(temp for temp, _ in staged)
        raise
    for temp, destination in staged:
        publish(temp, destination)
    return [destination for _, destination in staged]


def publish(temp: Path, destination: Path) -> None:
    """Give a finished temporary file the usual permissions and rename it into place.

    ``mkstemp`` creates files readable by their owner only; the result should look like
    any file the user writes (``0o666`` less the umask).
    """
    os.chmod(temp, 0o666 & ~_current_umask())
    os.replace(temp, destination)
    logger.debug("wrote %s", destination)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_all(paths: object) -> None:
    for path in paths:  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            Path(path).unlink()
