"""``files``: all-or-nothing writes, full disks, failed renames and the temporaries registry."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from chickensaviour import files
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.files import check_creatable_dir, write_all
from chickensaviour.imaging import encode_bgr
from tests.conftest import fill

GOOD = b"a good file that must survive\n" * 10


def everything_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())  # hidden temporaries included


@pytest.fixture(autouse=True)
def no_temporaries_left() -> Iterator[None]:
    yield
    assert files.remove_registered_temporaries() == []  # every test cleans up after itself


def test_write_all_writes_every_file(tmp_path: Path) -> None:
    written = write_all({tmp_path / "a.txt": b"a", tmp_path / "sub" / "b.txt": b"b"})
    assert [p.read_bytes() for p in written] == [b"a", b"b"]
    assert not list(tmp_path.rglob("*.part"))


def test_write_all_is_all_or_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(ChickenSaviourError):
        write_all({tmp_path / "first.txt": b"1", blocker / "second.txt": b"2"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_check_creatable_dir_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "x" / "y"
    assert check_creatable_dir(target) == target
    assert not (tmp_path / "x").exists()
    (tmp_path / "f").write_text("")
    with pytest.raises(ChickenSaviourError, match="not a directory"):
        check_creatable_dir(tmp_path / "f")
    with pytest.raises(ChickenSaviourError, match="not a writable directory"):
        check_creatable_dir(tmp_path / "f" / "inside")


@pytest.mark.parametrize(("leave", "size"), [(0, 10), (8192, 20_000), (65536, 2_000_000)])
def test_full_disk_raises_and_keeps_the_old_file(small_disk: Path, leave: int,
                                                 size: int) -> None:
    out = small_disk / "out.png"
    out.write_bytes(GOOD)
    fill(small_disk, leave)
    with pytest.raises(ChickenSaviourError, match=r"out\.png") as caught:
        write_all({out: os.urandom(size)})
    assert "\n" not in str(caught.value)
    assert out.read_bytes() == GOOD
    assert everything_in(small_disk) == ["filler", "out.png"]


def test_full_disk_on_the_second_file_publishes_neither(small_disk: Path) -> None:
    first, second = small_disk / "a.json", small_disk / "b.png"
    first.write_bytes(GOOD)
    with pytest.raises(ChickenSaviourError):
        write_all({first: b"{}", second: os.urandom(300_000)})
    assert first.read_bytes() == GOOD
    assert everything_in(small_disk) == ["a.json"]


@pytest.mark.parametrize("written", [0, 5])
def test_short_write_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 written: int) -> None:
    """``write`` may accept fewer bytes than offered; a 0 means the disk is full."""
    out = tmp_path / "out.json"
    out.write_bytes(GOOD)
    real_write = os.write

    def short_write(fd: int, data: bytes) -> int:
        if written == 0:
            return 0
        return real_write(fd, bytes(data)[:written])

    monkeypatch.setattr(os, "write", short_write)
    if written:  # a short but progressing write is simply continued
        write_all({out: b"x" * 23})
        assert out.read_bytes() == b"x" * 23
    else:
        with pytest.raises(ChickenSaviourError, match=r"out\.json"):
            write_all({out: b"x" * 23})
        assert out.read_bytes() == GOOD
    assert everything_in(tmp_path) == ["out.json"]


@pytest.mark.parametrize("broken", ["write", "fsync", "replace", "chmod"])
def test_failed_write_or_rename_raises_one_line_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(GOOD)

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, broken, fail)
    with pytest.raises(ChickenSaviourError) as caught:
        write_all({out: b"new"})
    monkeypatch.undo()
    assert "\n" not in str(caught.value) and "out.png" in str(caught.value)
    assert out.read_bytes() == GOOD
    assert everything_in(tmp_path) == ["out.png"]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_interrupt_while_writing_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupt: type[BaseException]) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(GOOD)

    def interrupted(*args: object) -> None:
        raise interrupt()

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(interrupt):
        write_all({out: b"new", tmp_path / "other.png": b"new"})
    monkeypatch.undo()
    assert out.read_bytes() == GOOD
    assert everything_in(tmp_path) == ["out.png"]


def test_temporaries_are_registered_while_in_flight(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """What a signal handler arriving mid-write would find and remove."""
    found: list[list[Path]] = []
    real_fsync = os.fsync

    def fsync_then_look(fd: int) -> None:
        real_fsync(fd)
        if not found:
            found.append(files.remove_registered_temporaries())

    monkeypatch.setattr(os, "fsync", fsync_then_look)
    with pytest.raises(ChickenSaviourError):  # its temporary vanished before the rename
        write_all({tmp_path / "out.png": b"new"})
    monkeypatch.undo()
    assert len(found[0]) == 1
    assert found[0][0].parent == tmp_path and found[0][0].name.startswith(".out.png.")
    assert ".part" in found[0][0].name
    assert everything_in(tmp_path) == []


def test_registry_register_unregister_remove(tmp_path: Path) -> None:
    kept, gone, missing = tmp_path / "kept", tmp_path / ".x.part", tmp_path / ".y.part"
    kept.write_text("")
    gone.write_text("")
    files.register_temporary(kept)
    files.register_temporary(gone)
    files.register_temporary(missing)  # never created: nothing to remove, no error
    files.unregister_temporary(kept)
    files.unregister_temporary(tmp_path / "never registered")
    assert files.remove_registered_temporaries() == [gone]
    assert everything_in(tmp_path) == ["kept"]
    assert files.remove_registered_temporaries() == []


def test_registry_is_thread_safe(tmp_path: Path) -> None:
    paths = [tmp_path / f".{i}.part" for i in range(400)]
    for path in paths:
        path.write_text("")

    def register(part: list[Path]) -> None:
        for path in part:
            files.register_temporary(path)
            files.unregister_temporary(path)
            files.register_temporary(path)

    threads = [threading.Thread(target=register, args=(paths[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(files.remove_registered_temporaries()) == sorted(paths)
    assert everything_in(tmp_path) == []


def test_atomic_write_bytes_replaces_with_usual_permissions(tmp_path: Path) -> None:
    out = tmp_path / "snap.png"
    out.write_bytes(GOOD)
    assert files.atomic_write_bytes(out, b"new") == out
    assert out.read_bytes() == b"new"
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert everything_in(tmp_path) == ["snap.png"]


@pytest.mark.parametrize(("shape", "dtype", "suffix", "message"), [
    ((10, 20000, 3), np.uint8, ".webp", "at most 16383"),
    ((10, 70000, 3), np.uint8, ".jpg", "at most 65535"),
    ((0, 5, 3), np.uint8, ".png", "shape"),
    ((5, 5, 2), np.uint8, ".png", "shape"),
    ((5, 5, 3), np.float32, ".png", "float32"),
])
def test_encoding_failures_are_one_line_before_anything_is_written(
        tmp_path: Path, shape: tuple[int, ...], dtype: type, suffix: str, message: str) -> None:
    """What the CLI does: encode, then ``write_all``; a frame that cannot be encoded is a
    one-line error (not an OpenCV traceback) and nothing is written."""
    out = tmp_path / f"out{suffix}"
    with pytest.raises(ChickenSaviourError, match=message) as caught:
        write_all({out: encode_bgr(np.zeros(shape, dtype), suffix)})
    assert "\n" not in str(caught.value)
    assert everything_in(tmp_path) == []
