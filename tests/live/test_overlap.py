"""The two-stage pipeline (prepare / judge) and the overlapped runner give the very
results of ``process``, and the detector off the calling thread gives the same boxes."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from chickensaviour.device import torch_threads
from chickensaviour.labels import CAT_CLASS_INDICES
from chickensaviour.live import FramePipeline, FrameResult, PatchStore, PipelineSettings
from chickensaviour.live.overlap import process_overlapped
from chickensaviour.live.pipeline import find_regions
from tests.conftest import SAMPLES, make_tiny_classifier
from tests.live.scripted import ScriptedDetector, random_frames


def _same(a: list[FrameResult], b: list[FrameResult]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.index == y.index
        np.testing.assert_array_equal(x.after, y.after)
        assert [(t.track_id, t.box, t.before, t.after) for t in x.tracks] == \
            [(t.track_id, t.box, t.before, t.after) for t in y.tracks]
        assert x.hunter_saw == y.hunter_saw and x.hide == y.hide


@pytest.mark.parametrize("mode", ["off", "block", "ghost"])
def test_overlapped_runner_equals_process_with_a_detector_of_its_own(mode: str) -> None:
    """A localiser that is not NanoDet runs inside ``prepare`` (on the calling thread)."""
    settings = PipelineSettings(protected=(1,), target=3, mode=mode, detect_every=2,
                                eps=8 / 255)
    runs = []
    for overlapped in (False, True):
        model = make_tiny_classifier()
        pipeline = FramePipeline(model, store=PatchStore(False), engine="torch",
                                 detector_factory=lambda m, p: ScriptedDetector())
        frames = random_frames(7)
        runs.append(list(process_overlapped(pipeline, frames, settings)) if overlapped
                    else [pipeline.process(f, settings) for f in frames])
    _same(*runs)


def test_prepare_then_judge_is_process_and_judge_may_run_on_another_thread() -> None:
    settings = PipelineSettings(protected=(1,), target=3, mode="block", detect_every=1)
    a = FramePipeline(make_tiny_classifier(), store=PatchStore(False), engine="torch",
                      detector_factory=lambda m, p: ScriptedDetector())
    b = FramePipeline(make_tiny_classifier(), store=PatchStore(False), engine="torch",
                      detector_factory=lambda m, p: ScriptedDetector())
    frames = random_frames(4)
    judged: list[FrameResult] = []
    for frame in frames:
        prepared = b.prepare(frame, settings)
        worker = threading.Thread(target=lambda p=prepared: judged.append(b.judge(p)))
        worker.start()
        worker.join()
    _same([a.process(f, settings) for f in frames], judged)
    assert judged[-1].timings.classify > 0 and judged[-1].engines == (
        ("classify", "pytorch"), ("localise", "pytorch"))


def test_regions_found_on_another_thread_are_used_for_that_frame_only_once() -> None:
    """``found`` from an older detector is ignored; found regions enter the recent
    regions with the frame they were found on (what refinement trains on)."""
    settings = PipelineSettings(protected=(1,), target=3, mode="off", detect_every=50)
    detector = ScriptedDetector()
    pipeline = FramePipeline(make_tiny_classifier(), store=PatchStore(False), engine="torch",
                             detector_factory=lambda m, p: detector)
    frames = random_frames(3)
    pipeline.prepare(frames[0], settings, detect=False)  # nothing yet: no region
    assert pipeline.recent_regions == ()
    found = find_regions(detector, frames[0], torch.device("cpu"))
    prepared = pipeline.prepare(frames[1], settings, detect=False, found=found)
    assert len(prepared.regions) == 1 and len(pipeline.recent_regions) == 1
    assert torch.equal(pipeline.recent_regions[0].frame, found.image)  # frame 0's pixels
    stale = find_regions(ScriptedDetector(), frames[1], torch.device("cpu"))
    pipeline.prepare(frames[2], settings, detect=False, found=stale)
    assert len(pipeline.recent_regions) == 1  # another detector's boxes: ignored


@pytest.mark.pretrained
@pytest.mark.parametrize("mode", ["block", "hide"])
def test_overlapped_runner_equals_process_with_nanodet_on_the_clip(pretrained, mode: str) -> None:
    """NanoDet one frame ahead on its own thread: the same boxes, verdicts and frames."""
    import cv2

    clip = cv2.VideoCapture(str(SAMPLES / "chelsea_clip.mp4"))
    frames = [clip.read()[1] for _ in range(6)]
    clip.release()
    settings = PipelineSettings(protected=tuple(CAT_CLASS_INDICES), target=341, mode=mode)
    store = PatchStore(False)
    runs = []
    for overlapped in (False, True):
        pipeline = FramePipeline(pretrained, store=store)
        with torch_threads(1):  # as the runner's first stage: the same float rounding
            runs.append(list(process_overlapped(pipeline, frames, settings)) if overlapped
                        else [pipeline.process(f, settings) for f in frames])
    _same(*runs)
    assert all(r.tracks for r in runs[1][1:])
    assert dict(runs[1][-1].engines)["localise"] == "onnxruntime"
