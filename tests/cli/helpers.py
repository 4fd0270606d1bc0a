"""Shared checks for command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from chickensaviour.cli import main


def files_under(folder: Path) -> list[str]:
    """Every file below ``folder``, hidden temporaries included ([] if it does not exist)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def assert_fails_cleanly(args: list[str], folder: Path, capsys: pytest.CaptureFixture[str],
                         message: str) -> None:
    """``chickensaviour ARGS`` (run inside ``folder``) exits 2 with one stderr line that
    contains ``message``, and writes nothing under ``folder``."""
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err, err
    assert files_under(folder) == []
