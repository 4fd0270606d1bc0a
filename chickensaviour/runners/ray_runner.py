"""The Ray runner: lab jobs as Ray tasks on a local cluster or an existing one.

The only module of chickensaviour that imports ray, and only when a run starts. Each
task runs the same pure job function as :class:`~chickensaviour.runners.LocalRunner`
with one torch thread (no oversubscription, and the same rounding as a one-thread local
run); the shared images are ``ray.put`` once; models are loaded once per worker process
(``chickensaviour.lab.jobs.cached_model``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.progress import StopFn, check_stop

J = TypeVar("J")
R = TypeVar("R")

logger = logging.getLogger(__name__)

INSTALL_HINT = "the Ray runner needs ray: pip install chickensaviour[cluster]"


def import_ray() -> Any:
    """``ray``, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ChickenSaviourError(INSTALL_HINT) from None
    return ray


def _call_in_worker(fn: Callable[[Any, Any], Any], job: Any, shared: Any, threads: int,
                    paths: list[str]) -> Any:
    """Body of every Ray task: the driver's import paths, ``threads`` torch threads, fn."""
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return fn(job, shared)


class RayRunner:
    """Run jobs as Ray tasks; results come back in job order.

    Args:
        address: an existing cluster (``"ray://host:10001"``, ``"auto"``); ``None`` starts
            a local cluster of ``num_workers`` CPUs for the call and shuts it down after.
        num_workers: CPUs (one task each) of the local cluster.
        threads: torch threads inside each task (1: reproducible, no oversubscription).
        progress: show a tqdm bar on stderr.
        should_stop: polled while waiting; once true, cancels the tasks left and raises
            ``OperationCancelled``.

    Example: ``RayRunner(num_workers=2).map(run_job, jobs, images)``
    """

    def __init__(self, address: str | None = None, num_workers: int = 2, *, threads: int = 1,
                 progress: bool = True, should_stop: StopFn | None = None,
                 description: str = "jobs") -> None:
        if num_workers < 1:
            raise ChickenSaviourError(f"--workers must be at least 1, got {num_workers}")
        self.address = address
        self.num_workers = num_workers
        self.threads = threads
        self.progress = progress
        self.should_stop = should_stop
        self.description = description

    def _start(self, ray: Any) -> bool:
        """Connect or start a cluster; True when this call started it (and must stop it)."""
        if ray.is_initialized():
            return False
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        common = {"log_to_driver": False, "configure_logging": False,
                  "logging_level": logging.WARNING}
        try:
            if self.address is None:
                ray.init(num_cpus=self.num_workers, include_dashboard=False, **common)
            else:
                ray.init(address=self.address, **common)
        except Exception as exc:  # ConnectionError, RuntimeError, ray's own errors
            where = self.address or "a local cluster"
            raise ChickenSaviourError(f"cannot start Ray on {where}: "
                                      f"{str(exc).splitlines()[0][:200]}") from None
        return True

    def map(self, fn: Callable[[J, Any], R], jobs: Sequence[J], shared: Any = None) -> list[R]:
        ray = import_ray()
        from tqdm import tqdm

        started = self._start(ray)
        try:
            task = ray.remote(num_cpus=1, max_retries=0)(_call_in_worker)
            shared_ref = ray.put(shared)
            paths = [str(Path.cwd()), str(Path(__file__).resolve().parents[2])]
            refs = [task.remote(fn, job, shared_ref, self.threads, paths) for job in jobs]
            pending = list(refs)
            with tqdm(total=len(refs), desc=self.description, disable=not self.progress,
                      leave=False) as bar:
                while pending:
                    if self.should_stop is not None and self.should_stop():
                        for ref in pending:
                            ray.cancel(ref, force=True)
                        check_stop(self.should_stop, "lab run")
                    done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
                    bar.update(len(done))
            try:
                return ray.get(refs)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                if isinstance(cause, ChickenSaviourError):
                    raise ChickenSaviourError(str(cause)) from None
                raise RuntimeError(str(cause).splitlines()[-1][:200]) from None
        finally:
            if started:
                ray.shutdown()


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in one line, within ``timeout_s``, when nothing listens at ``HOST:PORT``
    (``ray.init`` would otherwise keep retrying a bad address for minutes). ``auto``
    and ``ray://`` addresses are left to Ray."""
    import socket

    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ChickenSaviourError(f"Ray address must be HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ChickenSaviourError(f"cannot reach Ray at {address}: "
                                  f"{exc.strerror or type(exc).__name__}") from None

