"""Hand-offs between the live window's threads: a newest-item mailbox, a message log and
a background task that publishes one finished value. None of these import Qt.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Holds the newest item only: ``put`` replaces, ``take`` empties. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: T | None = None

    def put(self, item: T) -> None:
        with self._lock:
            self._item = item

    def take(self) -> T | None:
        with self._lock:
            item, self._item = self._item, None
            return item

    def peek(self) -> T | None:
        with self._lock:
            return self._item


class MessageLog:
    """Messages for the status bar, collected from any thread."""

    def __init__(self, size: int = 32) -> None:
        self._lock = threading.Lock()
        self._messages: deque[str] = deque(maxlen=size)

    def add(self, message: str) -> None:
        with self._lock:
            self._messages.append(message)

    def pop_all(self) -> list[str]:
        with self._lock:
            messages = list(self._messages)
            self._messages.clear()
        return messages


class BackgroundTask(threading.Thread, Generic[T]):
    """Runs ``work()`` once off the GUI thread (loading a model, opening a source).

    Owner: its thread writes ``value`` or ``error`` once, then sets ``done``; the GUI
    reads them only after ``done`` is set. ``discard`` (called by the GUI when the result
    is no longer wanted) clears ``value`` and calls ``cleanup`` on it, also on a value
    that arrives later.
    """

    def __init__(self, name: str, work: Callable[[], T], *,
                 cleanup: Callable[[T], None] | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self._work = work
        self._cleanup = cleanup
        self.value: T | None = None
        self.error = ""
        self.done = threading.Event()
        self._discarded = threading.Event()
        self._release_lock = threading.Lock()

    def run(self) -> None:
        try:
            self.value = self._work()
        except Exception as exc:
            logger.warning("%s failed: %s", self.name, exc)
            self.error = str(exc) or type(exc).__name__
        finally:
            self.done.set()
            if self._discarded.is_set():
                self._release()

    def discard(self) -> None:
        """The result is no longer wanted: release it if it arrives (or has arrived)."""
        self._discarded.set()
        if self.done.is_set():
            self._release()

    def _release(self) -> None:
        with self._release_lock:  # run() and discard() may both get here
            value, self.value = self.value, None
        if value is not None and self._cleanup is not None:
            try:
                self._cleanup(value)
            except Exception:  # releasing must never raise into the GUI
                logger.debug("cleanup of %s failed", self.name, exc_info=True)
