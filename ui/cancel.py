"""Interrupting long model calls (block refinement, seed blocks) when their thread stops.

The library's long computations (``refine_block``, ``seed_block``, iterative ghosts) have
no cancel argument. Forward pre-hooks on the model's leaf modules raise
:class:`Cancelled` in a thread whose stop event is set, so such a call ends at its next
layer instead of running on after the window closed (a thread still inside torch when
the interpreter exits aborts the process).

Hooks are installed once per model, before any worker uses it, and never removed:
changing a module's hooks while another thread runs it is not safe.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

_stop_events: dict[int, threading.Event] = {}  # thread ident -> that thread's stop event
_installed: weakref.WeakSet[nn.Module] = weakref.WeakSet()
_install_lock = threading.Lock()


class Cancelled(Exception):
    """A model call was interrupted because its thread was asked to stop."""


def _check(module: nn.Module, args: object) -> None:
    event = _stop_events.get(threading.get_ident())
    if event is not None and event.is_set():
        raise Cancelled


def install(model: nn.Module) -> None:
    """Make ``model``'s forward passes interruptible by :func:`stop_on` (idempotent)."""
    with _install_lock:
        if model in _installed:
            return
        for module in model.modules():
            if next(module.children(), None) is None:
                module.register_forward_pre_hook(_check)
        _installed.add(model)


@contextmanager
def stop_on(event: threading.Event) -> Iterator[None]:
    """Within this block, model calls of the current thread raise once ``event`` is set."""
    ident = threading.get_ident()
    _stop_events[ident] = event
    try:
        yield
    finally:
        _stop_events.pop(ident, None)
