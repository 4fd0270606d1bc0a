"""``LiveThreads``: how many CPU threads each thread of the live app lets its work use.

PyTorch's intra-op thread count is per calling thread (OpenMP's setting is a per-thread
variable; a thread started later inherits the starting thread's), and each ONNX Runtime
session has its own pool. On two cores a GUI, a capture thread, the two pipeline
stages and a refinement job share the machine, and teams of two threads in each of
them only wait for one another. The measured policy (``benchmarks/bench_live.py``,
``benchmarks/README.md``): one torch thread for each pipeline stage, ghost mode's
gradients included (6 fps in the window against 5 with two threads, which fought the
judge and detector threads), one intra-op thread for each ONNX Runtime session, no
spinning while an engine waits (ONNX Runtime spins by default, see
:func:`chickensaviour.models.engines.session_options`), every core for a refinement
job, and the live view capped while one runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from chickensaviour.device import cpu_count
from chickensaviour.errors import ChickenSaviourError


@dataclass(frozen=True)
class LiveThreads:
    """Thread counts for the live app (see the module doc).

    Attributes:
        prepare: torch threads of the first pipeline stage (detect, track, paste).
        prepare_gradients: the same for a mode that back-propagates every frame (ghost).
        judge: torch threads of the second stage (softmax, drawing the panes) and of
            the detector's thread.
        engine: intra-op threads of each ONNX Runtime session.
        jobs: torch threads of a refinement or hide-training job.
        share_during_jobs: the share of the time the live view may use while such a
            job runs (``None``: all it needs), so that the job gets the rest of the CPU:
            next to a full-rate live view the first block's refinement took 32 s
            (``bench_live.py`` before this limit) against 7 s alone
            (``benchmarks/bench_live_parts.py``).
    """

    prepare: int = 1
    prepare_gradients: int = 1  # 0: every CPU
    judge: int = 1
    engine: int = 1
    jobs: int = 0  # 0: every CPU
    share_during_jobs: float | None = 0.25

    def __post_init__(self) -> None:
        for name in ("prepare", "judge", "engine"):
            if getattr(self, name) < 1:
                raise ChickenSaviourError(f"{name} threads must be at least 1")
        for name in ("prepare_gradients", "jobs"):
            if getattr(self, name) < 0:
                raise ChickenSaviourError(f"{name} threads must be 0 (every CPU) or more")
        if self.share_during_jobs is not None and not 0 < self.share_during_jobs <= 1:
            raise ChickenSaviourError("the live view's share during jobs must be in (0, 1]")

    def for_prepare(self, gradients: bool) -> int:
        """Torch threads for the first stage of a frame (``gradients``: ghost mode)."""
        return (self.prepare_gradients or cpu_count()) if gradients else self.prepare

    @property
    def for_jobs(self) -> int:
        """Torch threads of a refinement or hide-training job."""
        return self.jobs or cpu_count()
