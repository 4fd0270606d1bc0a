"""Parsing and checking command-line values (eps in 1/255 units, ranges, classes)."""

from __future__ import annotations

import math

from chickensaviour.errors import ChickenSaviourError

MAX_EPS_LEVELS = 255.0


def finite_float(text: str, name: str, what: str = "a number") -> float:
    """A finite float, or a one-line error naming the option."""
    try:
        value = float(text)
    except ValueError:
        raise ChickenSaviourError(f"{name} must be {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise ChickenSaviourError(f"{name} must be finite, got {text!r}")
    return value


def eps_levels(text: str, *, allow_negative: bool = False) -> float:
    """An epsilon given in 1/255 units ("8", "2.5"); checked for range."""
    value = finite_float(text, "eps", "a number of 1/255 steps")
    low = -MAX_EPS_LEVELS if allow_negative else 0.0
    if not (low <= value <= MAX_EPS_LEVELS) or (not allow_negative and value == 0.0):
        bounds = "-255..255" if allow_negative else "greater than 0 and at most 255"
        raise ChickenSaviourError(f"eps {value:g} out of range: must be {bounds} (units of 1/255)")
    return value


def eps_range(text: str) -> tuple[float, float]:
    """``"-40:40"`` -> ``(-40.0, 40.0)`` in 1/255 units."""
    parts = text.split(":")
    if len(parts) != 2:
        raise ChickenSaviourError(f"eps range must look like -40:40, got {text!r}")
    low, high = (eps_levels(part, allow_negative=True) for part in parts)
    if low >= high:
        raise ChickenSaviourError(f"eps range {text!r} is empty: the start must be below the end")
    return low, high


def positive_int(text: str, name: str, low: int = 1, high: int = 100_000) -> int:
    """An integer in ``[low, high]``."""
    try:
        value = int(text)
    except ValueError:
        raise ChickenSaviourError(f"{name} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise ChickenSaviourError(f"{name} must be in {low}..{high}, got {value}")
    return value
