"""The one convention for long library calls: ``progress`` and ``should_stop`` callbacks.

Every call that can take seconds or more (attacks, ``make_patch``, seed blocks, block
refinement, hide-patch training, visualisation, Deep Dream) takes two keyword arguments:

- ``progress(done, total, value)``: called after each step with the steps done, the
  steps planned and the current objective value (``nan`` when the call has none);
- ``should_stop()``: polled before each step; once it returns True the call raises
  :class:`~chickensaviour.errors.OperationCancelled` at the next step boundary, so a
  thread (the GUI's jobs) or a signal handler can stop it within one step.

Both default to ``None``. Use :func:`check_stop` and :func:`report` inside loops::

    for step in range(steps):
        check_stop(should_stop)
        ...
        report(progress, step + 1, steps, float(loss))
"""

from __future__ import annotations

import math
from collections.abc import Callable

from chickensaviour.errors import OperationCancelled

#: ``progress(done, total, value)``; ``value`` is ``nan`` when there is none.
ProgressFn = Callable[[int, int, float], None]
#: ``should_stop() -> bool``, polled before each step.
StopFn = Callable[[], bool]


def check_stop(should_stop: StopFn | None, what: str = "operation") -> None:
    """Raise :class:`OperationCancelled` when ``should_stop()`` says so."""
    if should_stop is not None and should_stop():
        raise OperationCancelled(f"{what} cancelled")


def report(progress: ProgressFn | None, done: int, total: int,
           value: float = math.nan) -> None:
    """Call ``progress(done, total, value)`` when there is a callback."""
    if progress is not None:
        progress(done, total, value)
