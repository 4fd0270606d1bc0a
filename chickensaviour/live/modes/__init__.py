"""The registry of live modes: one module per mode behind the :class:`Mode` protocol.

``create_mode("ghost")`` makes a fresh mode object (each pipeline owns its own);
``mode_names()`` lists them in menu order; ``mode_class(name)`` gives the class, whose
class attributes (``controls``, ``trains``, ...) the GUI reads.
"""

from __future__ import annotations

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.live.modes.base import LiveTools, Mode, ModeInput, ModeOutput

_REGISTRY: dict[str, type[Mode]] = {}
_builtin_loaded = False


def register(mode: type[Mode]) -> type[Mode]:
    """Add a mode class to the registry (usable as a class decorator)."""
    if mode.name in _REGISTRY and _REGISTRY[mode.name] is not mode:
        raise ChickenSaviourError(f"a mode named {mode.name!r} is already registered")
    _REGISTRY[mode.name] = mode
    return mode


def mode_names() -> tuple[str, ...]:
    _load_builtin()
    return tuple(_REGISTRY)


def mode_class(name: str) -> type[Mode]:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ChickenSaviourError(
            f"mode must be one of {', '.join(_REGISTRY)}, got {name!r}") from None


def create_mode(name: str) -> Mode:
    return mode_class(name)()


def _load_builtin() -> None:
    global _builtin_loaded
    if _builtin_loaded:
        return
    # Imported here: the mode modules import the settings, which validate mode names.
    from chickensaviour.live.modes import block, ghost, hide, off, printed

    modules = (block, ghost, hide, off, printed)
    builtin = {module.MODE.name: module.MODE for module in modules}
    others = {name: mode for name, mode in _REGISTRY.items() if name not in builtin}
    _REGISTRY.clear()
    _REGISTRY.update(builtin)  # menu order: the built-in modes first
    _REGISTRY.update(others)
    _builtin_loaded = True


__all__ = ["LiveTools", "Mode", "ModeInput", "ModeOutput", "create_mode", "mode_class",
           "mode_names", "register"]
