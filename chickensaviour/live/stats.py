"""``RunStats``: the live window's rates over a run, for ``main.py --stats FILE``.

The window reports every frame it shows (when it was captured, when it was shown, the
pipeline's stage times and engines); :meth:`RunStats.summary` turns that into the JSON
the issue tracker and ``benchmarks/bench_live.py`` read::

    {"mode": "block", "fps": {"median": 30.1, "p95": 27.0},
     "latency_ms": {"median": 61.0, "p95": 84.0},
     "stages_ms": {"localise": 4.1, "track": 0.1, "patch": 1.2, "classify": 13.0,
                   "pipeline": 21.0, "show": 1.0},
     "engines": {"localise": "onnxruntime", "classify": "onnxruntime", "patch": "pytorch"},
     "frames": 900, "dropped": 12}

Definitions (all over the frames shown since counting began: the first frame with a
tracked region, i.e. in block mode once the first block is in place):

- ``fps``: the frames shown in each whole second since counting began (consecutive
  one-second windows from the first frame; the last, partial one is left out):
  ``median`` of those counts, and ``p95`` the rate that 95 % of the seconds reached
  (their 5th percentile: a low-side figure, like a game's "1 % low"). Counting per
  second, not from single intervals, keeps the window's timer from skewing it.
- ``latency_ms``: from the moment the capture thread read the frame to the moment the
  window showed its result.
- ``stages_ms``: median milliseconds of each pipeline stage (with the stages
  overlapped, ``localise`` is the first stage's share: the detector's own time on its
  thread is not in it), of the whole pipeline from the start of a frame to its result
  (``pipeline``, waits included) and of the window's showing the result (``show``).
- ``dropped``: frames the source delivered in that time that were never shown (a live
  source keeps only the newest frame: the ones replaced before they were processed,
  results replaced before the window took them, and frames a file played as a camera
  skipped because they were already late).
- ``without_jobs``: ``fps`` and ``latency_ms`` over the longest unbroken stretch of
  frames shown while no refinement or hide-training job ran, and ``jobs_s``: how long
  jobs ran (the first block's refinement, say) while frames were counted.

Owner: the GUI thread (it alone calls :meth:`add`, :meth:`record_job` and
:meth:`summary` and sets :attr:`RunStats.source_skipped`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from chickensaviour.errors import ChickenSaviourError


@dataclass(frozen=True)
class ShownFrame:
    """One frame the window showed: capture index and times (``time.monotonic()``)."""

    capture_index: int
    captured_at: float
    shown_at: float
    stages: Mapping[str, float]  # seconds per stage
    engines: Mapping[str, str] = field(default_factory=dict)
    job_running: bool = False  # a refinement / hide-training job shared the CPU


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` (linear interpolation)."""
    if not values:
        raise ChickenSaviourError("no values to take a percentile of")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


class RunStats:
    """Collects the frames a window shows and summarises them (see the module doc)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._frames: list[ShownFrame] = []
        self.source_skipped = 0  # set by the window from the source's own count
        self._jobs: dict[str, float] = {}

    @property
    def frames(self) -> int:
        return len(self._frames)

    def add(self, frame: ShownFrame) -> None:
        if self._frames and frame.shown_at < self._frames[-1].shown_at:
            raise ChickenSaviourError("frames must be added in the order they were shown")
        self._frames.append(frame)

    def record_job(self, what: str, seconds: float) -> None:
        """A refinement or hide-training job finished in ``seconds`` (the first of each
        kind is kept: ``refine_s`` in the summary)."""
        self._jobs.setdefault(what, round(seconds, 1))

    def summary(self) -> dict[str, object]:
        """The JSON-ready summary; ``fps`` is ``null`` until a whole second was counted,
        ``latency_ms`` until a frame was."""
        frames = self._frames
        rates = _rates(frames)
        stretch = _longest_run([f for f in frames if not f.job_running])
        quiet = _rates(stretch)
        jobs = sum(b.shown_at - a.shown_at for a, b in pairwise(frames)
                   if b.job_running)
        stage_names = sorted({name for f in frames for name in f.stages})
        stages = {name: _round(percentile([f.stages[name] * 1000 for f in frames
                                           if name in f.stages], 50))
                  for name in stage_names}
        engines: dict[str, str] = {}
        for f in frames:
            engines.update(f.engines)
        gaps = sum(max(0, b.capture_index - a.capture_index - 1)
                   for a, b in pairwise(frames))
        return {
            "mode": self.mode,
            **rates,
            "stages_ms": stages,
            "engines": engines,
            "frames": len(frames),
            "dropped": gaps + self.source_skipped,
            "without_jobs": {**quiet, "frames": len(stretch)},
            "jobs_s": _round(jobs),
            "refine_s": dict(self._jobs),
        }


def per_second(times: list[float]) -> list[int]:
    """How many of ``times`` (sorted seconds) fall in each whole second from the first
    one on; the last, partial second is left out."""
    if not times:
        return []
    seconds = int(times[-1] - times[0])
    counts = [0] * seconds
    for t in times:
        window = int(t - times[0])
        if window < seconds:
            counts[window] += 1
    return counts


def _rates(frames: list[ShownFrame]) -> dict[str, object]:
    """``fps`` and ``latency_ms`` (median, p95) of ``frames`` (see the module doc)."""
    counts = [float(c) for c in per_second([f.shown_at for f in frames])]
    latencies = [(f.shown_at - f.captured_at) * 1000 for f in frames]
    return {
        "fps": {"median": _round(percentile(counts, 50)) if counts else None,
                "p95": _round(percentile(counts, 5)) if counts else None},
        "latency_ms": {"median": _round(percentile(latencies, 50)) if latencies else None,
                       "p95": _round(percentile(latencies, 95)) if latencies else None},
    }


def _longest_run(frames: list[ShownFrame]) -> list[ShownFrame]:
    """The longest stretch of ``frames`` without a gap over a second (frames shown while
    a job ran were taken out: rates are counted on one unbroken stretch)."""
    best = (0, 0)  # [start, end) of the longest stretch
    start = 0
    for i in range(1, len(frames) + 1):
        if i == len(frames) or frames[i].shown_at - frames[i - 1].shown_at > 1.0:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = i
    return frames[best[0]:best[1]]


def _round(value: float) -> float:
    return round(value, 2)
