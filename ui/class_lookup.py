"""Class names in the window: the library's parsing, and completion in the class fields."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QCompleter, QWidget

from chickensaviour.labels import LabelSet, classes_for, parse_class_list

__all__ = ["class_completer", "classes_for", "parse_class_list"]


def class_completer(classes: LabelSet, parent: QWidget) -> QCompleter:
    """Case-insensitive, substring completion over the class names."""
    completer = QCompleter(sorted(classes.names, key=str.lower), parent)
    completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    completer.setFilterMode(Qt.MatchFlag.MatchContains)
    completer.setMaxVisibleItems(12)
    return completer

