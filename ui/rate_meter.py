"""Frame-rate and latency figures for the status bar (no Qt)."""

from __future__ import annotations

import time
from collections import deque

from ui.workers import ProcessedFrame


class RateMeter:
    """Events per second over a sliding window of ``span`` seconds."""

    def __init__(self, span: float = 2.0) -> None:
        self.span = span
        self._times: deque[float] = deque()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._times.append(now)
        while self._times and now - self._times[0] > self.span:
            self._times.popleft()

    @property
    def rate(self) -> float:
        if len(self._times) < 2:
            return 0.0
        elapsed = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / elapsed if elapsed > 0 else 0.0


def describe_performance(current: ProcessedFrame | None, fps: float,
                         source_fps: float = 0.0) -> tuple[str, str]:
    """Status-bar text (display fps, pipeline time per frame, and for live sources the
    capture-to-result latency) and a tooltip with the pipeline's stages."""
    if current is None:
        return "no frame yet", ""
    timings = current.result.timings
    text = f"{fps:4.1f} fps | pipeline {current.process_seconds * 1000:.0f} ms/frame"
    if current.live:
        text += f" | latency {current.latency * 1000:.0f} ms"
    elif source_fps > 0:
        text += f" | file at {source_fps:.0f} fps, every frame shown"
    engines = dict(current.result.engines)
    if engines:
        text += f" | {describe_engines(engines)}"
    details = (f"localise {timings.localise * 1000:.0f} ms, track {timings.track * 1000:.0f} "
               f"ms, patch {timings.patch * 1000:.0f} ms, classify "
               f"{timings.classify * 1000:.0f} ms")
    if engines:
        details += "\nengines: " + ", ".join(f"{stage} {name}"
                                             for stage, name in sorted(engines.items()))
    return text, details


def describe_engines(engines: dict[str, str]) -> str:
    """The engine in use, short: "onnxruntime" when every forward-only stage (localise,
    classify) runs on it, else each stage's (``"classify pytorch, localise none"``)."""
    forward = {stage: engines[stage] for stage in ("localise", "classify") if stage in engines}
    names = {name for name in forward.values() if name != "none"}
    if len(names) == 1:
        return f"engine {names.pop()}"
    return ", ".join(f"{stage} {name}" for stage, name in forward.items())
