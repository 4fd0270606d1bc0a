"""Writing outputs so that nothing half-written is ever left behind.

Every output is written to a hidden temporary sibling (``.NAME.XXXX.part``), checked
(every byte written, flushed to disk) and only then renamed over the destination, so a
failed write (full disk, I/O error, Ctrl-C) leaves the previous file untouched. Failures
become one-line :class:`~chickensaviour.errors.ChickenSaviourError`s naming the file.

Temporaries in flight are kept in a process-wide registry so that a signal handler can
remove them with :func:`remove_registered_temporaries` before the process exits.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from chickensaviour.errors import ChickenSaviourError, one_line

logger = logging.getLogger(__name__)

# A re-entrant lock: a signal handler runs on the main thread, possibly while that same
# thread is inside register_temporary(); a plain Lock would deadlock there.
_registry_lock = threading.RLock()
_registry: set[Path] = set()
_umask_lock = threading.Lock()


def register_temporary(path: str | Path) -> None:
    """Remember a temporary file in flight, to be removed if the process is stopped."""
    with _registry_lock:
        _registry.add(Path(path))


def unregister_temporary(path: str | Path) -> None:
    """Forget a temporary file (it was renamed into place or removed); unknown paths are ok."""
    with _registry_lock:
        _registry.discard(Path(path))


def remove_registered_temporaries() -> list[Path]:
    """Remove every registered temporary file; returns those that existed and were removed.

    Thread-safe and meant for signal handlers (SIGTERM, SIGHUP) and exit paths. A writer
    still running afterwards fails on its next write or rename; it never publishes.
    """
    with _registry_lock:
        paths = sorted(_registry)
        _registry.clear()
    removed = []
    for path in paths:
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    if removed:
        logger.info("removed %d unfinished temporary file(s)", len(removed))
    return removed


def make_temporary(destination: Path, suffix: str = "") -> Path:
    """Create an empty, registered temporary sibling ``.NAME.XXXXXXXX.part<suffix>`` of it.

    ``suffix`` keeps an extension that an encoder needs (``".mp4"``). The caller must end
    with :func:`publish` or :func:`discard_temporary`. The name is registered before the
    file is created, so a signal arriving in between cannot leave it behind.
    """
    for _ in range(100):
        path = destination.parent / f".{destination.name}.{secrets.token_hex(4)}.part{suffix}"
        register_temporary(path)
        with removed_on_failure(path, destination):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:  # someone else's file: forget the name, keep the file
                unregister_temporary(path)
                continue
        return path
    raise ChickenSaviourError(f"cannot write {destination}: no free temporary name")


def discard_temporary(path: Path) -> None:
    """Remove a temporary file (if it is still there) and forget it."""
    with contextlib.suppress(OSError):
        path.unlink()
    unregister_temporary(path)


@contextlib.contextmanager
def removed_on_failure(temp: Path, destination: Path) -> Iterator[None]:
    """Any failure inside removes ``temp``; an ``OSError`` becomes one line naming
    ``destination``, anything else (``KeyboardInterrupt`` included) goes on as it was."""
    try:
        yield
    except OSError as exc:
        discard_temporary(temp)
        raise ChickenSaviourError(f"cannot write {destination}: {one_line(exc)}") from None
    except BaseException:
        discard_temporary(temp)
        raise


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

    Every file is first written to a temporary sibling and checked (every byte accepted,
    size on disk as expected, flushed); only when all of them are complete are they
    renamed into place. On any error, ``KeyboardInterrupt`` included, the temporaries
    are removed and no destination is touched; errors become one line naming the file.
    (Only a rename itself failing, which needs no space, can leave the earlier files of
    the same call renamed.)

    Example::

        write_all({Path("out/a.png"): png_bytes, Path("out/a.json"): json_bytes})
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for destination, data in files.items():
            destination = Path(destination)
            check_writable_file(destination)
            temp = make_temporary(destination)
            staged.append((temp, destination))
            with removed_on_failure(temp, destination):
                _write_file(temp, data)
        for index, (temp, destination) in enumerate(staged):
            publish(temp, destination)
            staged[index] = (destination, destination)  # done: nothing left to remove
    except BaseException:
        for temp, destination in staged:
            if temp != destination:
                discard_temporary(temp)
        raise
    return [destination for _, destination in staged]


def publish(temp: Path, destination: Path) -> None:
    """Give a finished temporary file the usual permissions and rename it into place.

    ``mkstemp`` creates files readable by their owner only; the result should look like
    any file the user writes (``0o666`` less the umask). On failure the temporary file
    is removed, the destination is left as it was and a one-line error is raised.
    """
    with removed_on_failure(temp, destination):
        os.chmod(temp, 0o666 & ~_current_umask())
        os.replace(temp, destination)
    unregister_temporary(temp)
    _sync_directory(destination.parent)
    logger.debug("wrote %s", destination)


def _write_file(path: Path, data: bytes) -> None:
    """Write all of ``data`` to ``path`` and flush it; a short write raises ``OSError``."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            if written <= 0:  # a regular file accepts nothing more: the disk is full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            view = view[written:]
        os.fsync(fd)
        size = os.fstat(fd).st_size
        if size != len(data):
            raise OSError(errno.EIO, f"wrote {size} of {len(data)} bytes")
    finally:
        os.close(fd)


def _sync_directory(directory: Path) -> None:
    """Make a rename durable; best effort (not every system can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _current_umask() -> int:
    """The process umask, read without setting it where possible: ``os.umask(0)`` would
    briefly let files that other threads create meanwhile be world-writable."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _umask_lock:
        mask = os.umask(0)
        os.umask(mask)
    return mask


@lru_cache(maxsize=16)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file (cached per path, size and modification time)."""
    stat = path.stat()
    return _cached_sha256(str(path), stat.st_size, stat.st_mtime_ns)


CACHE_ENV = "CHICKENSAVIOUR_CACHE"


def cache_dir(kind: str) -> Path:
    """The user cache folder for ``kind`` ("models", "patches"): ``$CHICKENSAVIOUR_CACHE``,
    else ``$XDG_CACHE_HOME/chickensaviour``, else ``~/.cache/chickensaviour``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / kind
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chickensaviour" / kind
