from __future__ import annotations

from pathlib import Path

import pytest

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.files import check_creatable_dir, write_all


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
