"""``RefineJob``: block refinement or hide-patch training on a thread of its own.

A job takes an immutable snapshot of regions (frames and boxes, from a
:class:`FrameResult`) and the settings of the moment, runs the mode's ``refine`` and
puts the finished patch into the shared :class:`PatchStore`; the inference thread uses
it from its next frame on. Nothing else is shared: the job never touches the pipeline.

Owner: the job's own thread runs the work and writes ``state``/``message``/``done``/
``total`` (single attribute assignments, read by the GUI's timer); other threads only
call :meth:`RefineJob.cancel` and read those attributes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
import threading
import time
from functools import cache

from chickensaviour.device import use_threads
from chickensaviour.errors import OperationCancelled
from chickensaviour.live.modes import LiveTools, Mode
from chickensaviour.live.settings import PipelineSettings
from chickensaviour.overlay.blocks import Context

logger = logging.getLogger(__name__)


class RefineJob(threading.Thread):
    """Runs ``mode.refine(regions, settings, tools)`` once, seconds to minutes.

    ``state`` is "running", then "done", "cancelled" or "failed" (with ``message``);
    ``done``/``total`` count the optimisation steps and ``value`` is the last loss.
    :meth:`cancel` stops it at the next step.
    """

    def __init__(self, mode: Mode, regions: tuple[Context, ...], settings: PipelineSettings,
                 tools: LiveTools, *, threads: int | None = None) -> None:
        super().__init__(name=f"refine-{mode.name}", daemon=True)
        self.mode = mode
        self.regions = regions
        self.settings = settings
        self.tools = tools
        self.threads = threads  # torch threads of this job (None: as inherited)
        self.what = mode.trains or mode.name
        self.state = "running"
        self.message = ""
        self.started_at = time.monotonic()
        self.finished_at: float | None = None
        self.done = 0
        self.total = 0
        self._cancel = threading.Event()

    @property
    def elapsed(self) -> float:
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return end - self.started_at

    def cancel(self) -> None:
        self._cancel.set()

    def _progress(self, done: int, total: int, value: float) -> None:
        self.done, self.total = done, total

    def run(self) -> None:
        if self.threads is not None:
            use_threads(self.threads)
        try:
            self.mode.refine(self.regions, self.settings, self.tools, progress=self._progress,
                             should_stop=self._cancel.is_set)
        except OperationCancelled:
            self.state = "cancelled"
        except Exception as exc:  # reported in the window; the live view goes on
            logger.exception("%s refinement failed", self.what)
            self.message = str(exc)
            self.state = "failed"
        else:
            self.state = "done"
        finally:
            release_freed_memory()
            self.finished_at = time.monotonic()


@cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return None


def release_freed_memory() -> bool:
    """Give the heap memory a finished job freed back to the system (glibc).

    Each job runs on a new thread, which glibc serves from its own malloc arena; the
    autograd buffers it frees stay mapped there, so without this every refinement raised
    the resident size for good (the soak measured +350 MB at the second refinement).
    Returns whether it could ask.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
