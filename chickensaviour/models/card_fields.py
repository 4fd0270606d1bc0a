"""Reading a model card's JSON: known keys only, typed values, one-line complaints.

:class:`CardFields` wraps the parsed object; :mod:`chickensaviour.models.cards` turns it
into a checked :class:`~chickensaviour.models.cards.ModelCard`.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, NoReturn

from chickensaviour.errors import ChickenSaviourError

REQUIRED_KEYS = ("architecture", "labels", "input_size", "mean", "std", "channels")
OPTIONAL_KEYS = ("weights", "resize", "name", "channel_order", "description", "extra")
#: Every key a card may have.
CARD_KEYS = REQUIRED_KEYS + OPTIONAL_KEYS
#: The architecture prefixes: ``torchvision:NAME``, ``timm:NAME``, ``onnx:FILE.onnx`` and
#: ``chickensaviour:NAME`` (:data:`chickensaviour.training.architectures.ARCHITECTURES`).
FAMILIES = ("torchvision", "timm", "onnx", "chickensaviour")

class ModelCardError(ChickenSaviourError):
    """A model card that cannot be read or loaded; the message is one line."""


class CardFields:
    """Typed access to a card's JSON object; every complaint names the card."""

    def __init__(self, path: Path, data: Any) -> None:
        self.path = path
        if not isinstance(data, dict):
            self.fail(f"expected a JSON object, got {json_type(data)}")
        unknown = [key for key in data if key not in CARD_KEYS]
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(str(key), CARD_KEYS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
            self.fail(f"unknown key {key!r}{hint}{more}; keys are {', '.join(CARD_KEYS)}")
        missing = [key for key in REQUIRED_KEYS if key not in data]
        if missing:
            self.fail(f"missing key(s): {', '.join(missing)}")
        self.data: dict[str, Any] = data

    def fail(self, message: str) -> NoReturn:
        raise ModelCardError(f"model card {self.path}: {message}")

    def _wrong(self, key: str, wanted: str) -> NoReturn:
        self.fail(f"{key} must be {wanted}, got {json_type(self.data[key])} "
                  f"{json.dumps(self.data[key])[:40]}")

    def string(self, key: str) -> str:
        value = self.data[key]
        if not isinstance(value, str) or not value.strip():
            self._wrong(key, "a non-empty string")
        return str(value).strip()

    def optional_str(self, key: str) -> str | None:
        return None if self.data.get(key) is None else self.string(key)

    def integer(self, key: str) -> int:
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong(key, "an integer")
        return int(value)

    def optional_int(self, key: str) -> int | None:
        return None if self.data.get(key) is None else self.integer(key)

    def numbers(self, key: str) -> tuple[float, ...]:
        value = self.data[key]
        if not isinstance(value, list) or not value or any(
                isinstance(v, bool) or not isinstance(v, int | float) for v in value):
            self._wrong(key, "a list of numbers")
        return tuple(float(v) for v in value)

    def optional_object(self, key: str) -> dict[str, Any]:
        """A JSON object (empty when the key is missing or null)."""
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self._wrong(key, "an object")
        return value

    def architecture(self) -> tuple[str, str]:
        text = self.string("architecture")
        family, _, name = text.partition(":")
        if family not in FAMILIES or not name.strip():
            self.fail(f"architecture must be torchvision:NAME, timm:NAME, chickensaviour:NAME "
                      f"or onnx:FILE.onnx, "
                      f"got {text!r}")
        if family == "onnx" and not name.lower().endswith(".onnx"):
            self.fail(f"an onnx architecture names a .onnx file, got {name!r}")
        return family, name.strip()


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
