"""The ``chickensaviour`` command line."""

from __future__ import annotations

from chickensaviour.cli.main import main

__all__ = ["main"]
