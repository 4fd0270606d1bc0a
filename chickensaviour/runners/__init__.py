"""Runners: execute a list of lab jobs in-process or on a Ray cluster, in job order.

Both take ``fn(job, shared) -> result`` (a module-level, picklable function) and return
``[fn(job, shared) for job in jobs]``. :class:`RayRunner` ships ``shared`` (the images)
to the cluster once; Ray is imported by :mod:`.ray_runner` only, when it is used
(``pip install chickensaviour[cluster]``): ``from chickensaviour.runners.ray_runner
import RayRunner``.
"""

from __future__ import annotations

from chickensaviour.runners.local import LocalRunner, Runner

__all__ = ["LocalRunner", "Runner"]
