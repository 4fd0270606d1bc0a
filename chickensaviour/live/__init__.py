"""The live pipeline: settings, modes, the frame pipeline, patches, jobs and drawing.

``FramePipeline.process(frame, settings) -> FrameResult`` is pure and synchronous; the
app's threads (capture, inference, refinement jobs) sit around it in ``ui/`` and
:mod:`chickensaviour.video`. Modes (block, ghost, hide, off, printed) are found by name through
:mod:`chickensaviour.live.modes`.
"""

from __future__ import annotations

from chickensaviour.live.modes import create_mode, mode_class, mode_names
from chickensaviour.live.patches import PatchKey, PatchStore, StoredPatch
from chickensaviour.live.pipeline import FramePipeline
from chickensaviour.live.results import FrameResult, HideTally, StageTimings, Tally, TrackResult
from chickensaviour.live.settings import (
    BASELINES,
    COCK,
    DETECTORS,
    HEN,
    HOG,
    Box,
    PipelineSettings,
    no_coco_class_error,
    not_imagenet_error,
)

__all__ = ["BASELINES", "COCK", "DETECTORS", "HEN", "HOG", "Box", "FramePipeline",
           "FrameResult", "HideTally", "PatchKey", "PatchStore", "PipelineSettings",
           "StageTimings", "StoredPatch", "Tally", "TrackResult", "create_mode", "mode_class",
           "mode_names", "no_coco_class_error",
           "not_imagenet_error"]
