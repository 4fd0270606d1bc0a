"""Stopping a command on SIGINT, SIGTERM or SIGHUP: nothing left behind, and fast.

Without this, SIGTERM and SIGHUP killed the process on the spot, leaving the writers'
``.NAME.*.part.*`` files behind, and SIGINT took a second or more (several on a GPU
machine) *after* the command had stopped: Python's interpreter finalisation with torch
loaded (unloading its libraries, tearing down its thread pools) costs about 1 s here,
which ``os._exit`` skips once the output is cleaned up and flushed.

:class:`SignalGuard` turns each of the three signals into :class:`Interrupted` (a
``KeyboardInterrupt``, so every ``except KeyboardInterrupt`` / ``finally`` clean-up in
the library runs as for Ctrl-C). A watcher thread also hears the signal through
:func:`signal.set_wakeup_fd` at once, even while the main thread is inside a long C call
(a torch operation, an encoder) where Python cannot run the handler: if the main thread
has not finished unwinding within ``grace_s``, the watcher removes the registered
temporary files itself and ends the process with the same exit code. A second signal
while unwinding does the same at once. Signals that were ignored when the guard was
installed (``nohup``'s SIGHUP, SIGINT in a background job) stay ignored.

Owner: the main thread installs and removes the guard and runs its handler; the
watcher thread only reads the wake-up socket and, if the main thread is stuck, ends
the process (it touches nothing but the temporary-file registry, which is thread-safe).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from types import FrameType, TracebackType

from chickensaviour import files

#: The signals that stop a command: Ctrl-C, ``kill``, a closed terminal.
HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: How long the main thread may take to unwind before the watcher ends the process.
GRACE_S = 1.0


class Interrupted(KeyboardInterrupt):
    """The command was stopped by ``signum``; exit code ``128 + signum`` (130 for SIGINT)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def stopped_message(command: str, signum: int) -> str:
    """The one line the CLI prints when a signal stopped ``command`` ("" if not known yet)."""
    prog = f"chickensaviour {command}" if command else "chickensaviour"
    return f"{prog}: stopped by {signal.Signals(signum).name}"


class SignalGuard:
    """Install the handlers (main thread only; elsewhere it does nothing).

    Owner: the main thread; it sets ``command`` before work starts, and the handler
    (which runs on the main thread) records ``signum`` and starts the watcher. The
    watcher thread only waits on the ``_unwound`` event for ``grace_s`` and reads what
    was set before it started; if the main thread has not unwound by then it ends the
    process. The main thread sets ``_unwound`` on its way out.

    Args:
        command: the command's name for the one-line message (may be set later).
        end_process: if true, a main thread that does not unwind within ``grace_s`` (or
            a second signal) ends the process with ``os._exit``; only for a process that
            is the command (the console script), never inside a test runner or the app.
        grace_s: see :data:`GRACE_S`.
    """

    def __init__(self, command: str = "", *, end_process: bool = False,
                 grace_s: float = GRACE_S) -> None:
        self.command = command
        self.end_process = end_process
        self.grace_s = grace_s
        self.signum: int | None = None
        self._previous: dict[int, object] = {}
        self._previous_fd = -1
        self._sockets: tuple[socket.socket, socket.socket] | None = None
        self._unwound = threading.Event()
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in HANDLED:
            current = signal.getsignal(signum)
            if current is signal.SIG_IGN:
                continue
            self._previous[signum] = current
            signal.signal(signum, self._handle)
        if self.end_process and self._previous:
            reader, writer = socket.socketpair()
            reader.setblocking(True)
            writer.setblocking(False)
            self._sockets = (reader, writer)
            self._previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
            self._watcher = threading.Thread(target=self._watch, name="signal-watcher",
                                             daemon=True)
            self._watcher.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._unwound.set()
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)  # type: ignore[arg-type]
        self._previous.clear()
        if self._sockets is not None:
            signal.set_wakeup_fd(self._previous_fd)
            reader, writer = self._sockets
            writer.close()  # the watcher's recv() returns b"" and it ends
            if self._watcher is not None:
                self._watcher.join(timeout=1.0)
            reader.close()
            self._sockets = None

    def finish(self, code: int) -> int:
        """After the command stopped on a signal: flush and, for a process that is the
        command, end it now (skipping the interpreter's slow finalisation)."""
        self._unwound.set()
        if self.end_process:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os._exit(code)
        return code

    # -- internals --------------------------------------------------------------------
    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and self.end_process:
            self._end_now(self.signum)  # a second signal while unwinding: go now
        if self.signum is None:
            self.signum = signum
        raise Interrupted(signum)

    def _watch(self) -> None:
        assert self._sockets is not None
        reader = self._sockets[0]
        while True:
            try:
                data = reader.recv(64)
            except OSError:
                return
            if not data:
                return
            received = [b for b in data if b in HANDLED]
            if not received:
                continue
            if self._unwound.wait(self.grace_s):
                return
            self._end_now(received[0])

    def _end_now(self, signum: int) -> None:
        """Remove the temporary files, say why, and end the process (any thread)."""
        files.remove_registered_temporaries()
        line = f"\n{stopped_message(self.command, signum)}\n"
        with contextlib.suppress(OSError):
            os.write(2, line.encode())
        os._exit(128 + signum)
