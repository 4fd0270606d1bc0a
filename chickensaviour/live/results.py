"""What one frame of the live pipeline produces: small immutable dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.live.settings import Box, PipelineSettings
from chickensaviour.models.detections import Detections
from chickensaviour.models.wrapper import Prediction
from chickensaviour.overlay.blocks import Context


@dataclass(frozen=True)
class TrackResult:
    """One protected region: its box and the hunter's top-5 before and after."""

    track_id: int  # negative for hand-drawn regions
    box: Box
    before: Prediction
    after: Prediction


@dataclass(frozen=True)
class StageTimings:
    """Seconds spent in each stage of one frame: ``localise`` (frame to tensor and the
    detector), ``track``, ``patch`` (the mode, and the crops the hunter judges) and
    ``classify`` (the hunter's forward and top-k)."""

    localise: float = 0.0
    track: float = 0.0
    patch: float = 0.0
    classify: float = 0.0

    @property
    def total(self) -> float:
        return self.localise + self.track + self.patch + self.classify


@dataclass(frozen=True)
class Tally:
    """How often something happened out of how many frames (``hits`` of ``frames``)."""

    hits: int = 0
    frames: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.hits <= self.frames:
            raise ChickenSaviourError(f"a tally needs 0 <= hits <= frames, got {self}")

    def add(self, hit: bool) -> Tally:
        return Tally(self.hits + int(hit), self.frames + 1)

    @property
    def rate(self) -> float | None:
        return self.hits / self.frames if self.frames else None

    def describe(self) -> str:
        rate = self.rate
        return "n/a" if rate is None else f"{self.hits}/{self.frames} ({rate:.0%})"


@dataclass(frozen=True)
class HideTally:
    """Hide mode's honest score: frames in which the detector missed every protected
    object, with the trained patch and with a same-size plain (grey/noise) patch in the
    same place. Both count since the current patch version arrived."""

    patch: Tally = Tally()
    baseline: Tally = Tally()
    baseline_kind: str = "grey"
    patch_trained: bool = False

    def describe(self) -> str:
        kind = "trained patch" if self.patch_trained else "untrained patch"
        return (f"hidden: {kind} {self.patch.describe()}, "
                f"{self.baseline_kind} square {self.baseline.describe()}")


@dataclass(frozen=True)
class FrameResult:
    """The output of :meth:`FramePipeline.process` for one frame.

    Attributes:
        index: frame number within the pipeline's stream.
        before, after: BGR ``uint8`` frames, as captured and with the mode applied.
        tracks: per protected region, the hunter's top-5 before and after.
        settings: the snapshot the frame was processed with.
        timings: seconds per stage.
        patch_ready: whether the mode's patch is refined/trained (block, hide).
        patch_origin: where the patch in use came from ("pgd", "refined", "cache", ...).
        before_detections, after_detections: hide mode - what the detector finds
            (protected classes only) as captured and on the after frame.
        hide: hide mode's tally of frames hidden, trained patch versus baseline.
        hunter_saw: frames with regions in which the hunter's top-1 (before) was a
            protected class; ``frames == 0`` when no region was tracked yet.
        regions: the recent regions (frames and boxes): an immutable snapshot that a
            refinement job trains on while the pipeline goes on (frames are never
            modified after capture).
        engines: ``(stage, engine)`` pairs: what ran each stage's network
            (``("classify", "onnxruntime")``, ``("patch", "pytorch")``...).
        whole_frame: printed mode - the hunter's top-5 of the whole captured frame, at
            its usual fit (centre crop for the zoo's models), best first; ``None`` in
            the other modes. Each region's top-5 is its track's ``before`` (the same as
            ``after``: nothing is pasted).
    """

    index: int
    before: np.ndarray
    after: np.ndarray
    tracks: tuple[TrackResult, ...]
    settings: PipelineSettings
    timings: StageTimings = field(default_factory=StageTimings)
    patch_ready: bool = False
    patch_origin: str = ""
    before_detections: Detections | None = None
    after_detections: Detections | None = None
    hide: HideTally | None = None
    hunter_saw: Tally = Tally()
    regions: tuple[Context, ...] = ()
    engines: tuple[tuple[str, str], ...] = ()
    whole_frame: Prediction | None = None

    def __post_init__(self) -> None:
        if self.before.shape != self.after.shape:
            raise ChickenSaviourError("before and after frames must have the same shape")
        if self.whole_frame is not None:
            check_ranked(self.whole_frame, "the whole frame's classes")


def check_ranked(prediction: Prediction, what: str) -> None:
    """Raise unless ``prediction`` has at least one class, best first (probabilities in
    ``[0, 1]`` are :class:`Prediction`'s own check)."""
    probabilities = prediction.probabilities
    if not probabilities:
        raise ChickenSaviourError(f"{what} are empty")
    if any(a < b for a, b in pairwise(probabilities)):
        raise ChickenSaviourError(f"{what} must be sorted best first, got {probabilities}")
