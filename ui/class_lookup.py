"""Class-name lookup for the window: the library's parsing, re-exported for ui modules."""

from __future__ import annotations

from chickensaviour.labels import classes_for, parse_class_list

__all__ = ["classes_for", "parse_class_list"]
