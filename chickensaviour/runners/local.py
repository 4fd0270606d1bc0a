"""The in-process runner: jobs one after another, with a progress bar on stderr."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from chickensaviour.device import torch_threads
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.progress import StopFn, check_stop

J = TypeVar("J")
R = TypeVar("R")


class Runner(Protocol):
    """Anything that maps a job function over jobs, returning results in job order."""

    def map(self, fn: Callable[[Any, Any], Any], jobs: Sequence[Any],
            shared: Any = None) -> list[Any]: ...


class LocalRunner:
    """Run jobs in this process, in order.

    Args:
        threads: torch threads while the jobs run (restored afterwards); ``None`` keeps
            the current setting. With ``threads=1`` results equal :class:`RayRunner`'s
            bit for bit (its workers use one thread each); with more, multi-threaded
            convolutions may round differently, which can flip a borderline success.
        progress: show a tqdm bar on stderr.
        should_stop: polled before each job; once true, raises ``OperationCancelled``.

    Example: ``LocalRunner().map(run_job, jobs, images)``
    """

    def __init__(self, *, threads: int | None = None, progress: bool = True,
                 should_stop: StopFn | None = None, description: str = "jobs") -> None:
        if threads is not None and threads < 1:
            raise ChickenSaviourError(f"threads must be at least 1, got {threads}")
        self.threads = threads
        self.progress = progress
        self.should_stop = should_stop
        self.description = description

    def map(self, fn: Callable[[J, Any], R], jobs: Sequence[J], shared: Any = None) -> list[R]:
        from tqdm import tqdm

        with torch_threads(self.threads):
            results = []
            with tqdm(total=len(jobs), desc=self.description, disable=not self.progress,
                      leave=False) as bar:
                for job in jobs:
                    check_stop(self.should_stop, "lab run")
                    results.append(fn(job, shared))
                    bar.update(1)
            return results
