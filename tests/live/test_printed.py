"""Printed mode: nothing pasted, the hunter's top-5 of every region and of the whole frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.imaging import bgr_to_tensor
from chickensaviour.live import (
    FramePipeline,
    FrameResult,
    PatchStore,
    PipelineSettings,
    TrackResult,
    mode_class,
    mode_names,
)
from chickensaviour.live.draw import draw_pane, draw_tracks, side_by_side
from chickensaviour.models.detections import Detections
from chickensaviour.models.wrapper import Prediction, top_k
from tests.conftest import make_tiny_classifier
from tests.live.scripted import ScriptedDetector, random_frames

SETTINGS = PipelineSettings(protected=(1,), target=3, mode="printed")


@pytest.fixture
def pipeline() -> FramePipeline:
    detector = ScriptedDetector()
    # fit="crop": the whole frame is judged at the hunter's own fit, the regions stretched.
    return FramePipeline(make_tiny_classifier(fit="crop"), store=PatchStore(False),
                         detector_factory=lambda m, p: detector)


def _ranked(prediction: Prediction) -> None:
    assert len(prediction.names) == 5
    assert all(0.0 <= p <= 1.0 for p in prediction.probabilities)
    assert list(prediction.probabilities) == sorted(prediction.probabilities, reverse=True)


def test_printed_is_a_registered_mode_with_no_controls_and_nothing_to_refine() -> None:
    names = mode_names()
    assert names.index("printed") == names.index("off") + 1  # after the built-in ones
    mode = mode_class("printed")
    assert mode.controls == frozenset() and mode.trains is None
    assert "printed" in (mode.__doc__ or "").lower()
    assert not mode.detect_every_frame and not mode.gradients_every_frame


def test_printed_mode_pastes_nothing(pipeline: FramePipeline) -> None:
    settings = SETTINGS.with_changes(manual_boxes=((0.0, 0.0, 30.0, 30.0),))
    for frame in random_frames(3):
        result = pipeline.process(frame, settings)
        assert len(result.tracks) == 2
        assert np.array_equal(result.after, frame) and np.array_equal(result.before, frame)
        assert result.after is not frame  # a copy: the captured frame is never shared


def test_the_result_has_the_top5_of_each_region_and_of_the_whole_frame(
        pipeline: FramePipeline) -> None:
    model = pipeline.model
    for frame in random_frames(2):
        result = pipeline.process(frame, SETTINGS)
        (track,) = result.tracks
        _ranked(track.before)
        assert track.after == track.before  # the same frame: judged once
        assert result.whole_frame is not None
        _ranked(result.whole_frame)
        # The whole frame at the hunter's usual fit (centre crop), as it classifies photos.
        expected = top_k(model.probabilities(bgr_to_tensor(frame)), 5, model.classes)[0]
        assert result.whole_frame.indices == expected.indices
        assert result.whole_frame.probabilities == pytest.approx(expected.probabilities,
                                                                 abs=1e-4)


def test_regions_and_the_whole_frame_go_through_one_forward(
        pipeline: FramePipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[int] = []
    classify = pipeline.tools.classify

    def counting(crops: torch.Tensor) -> torch.Tensor:
        batches.append(len(crops))
        return classify(crops)

    monkeypatch.setattr(pipeline.tools, "classify", counting)
    settings = SETTINGS.with_changes(manual_boxes=((0.0, 0.0, 30.0, 30.0),))
    pipeline.process(random_frames(1)[0], settings)
    assert batches == [3]  # two regions once each, then the whole frame


def test_the_whole_frame_is_judged_without_any_region() -> None:
    class _Nothing:
        def detect(self, frame: torch.Tensor) -> Detections:
            return Detections.empty()

    pipeline = FramePipeline(make_tiny_classifier(), detector_factory=lambda m, p: _Nothing())
    result = pipeline.process(random_frames(1)[0], SETTINGS)
    assert result.tracks == () and result.whole_frame is not None
    assert dict(result.engines)["classify"] == pipeline.tools.judge_engine.name


def test_other_modes_leave_the_whole_frame_out(pipeline: FramePipeline) -> None:
    result = pipeline.process(random_frames(1)[0], SETTINGS.with_changes(mode="off"))
    assert result.whole_frame is None


def test_a_whole_frame_verdict_must_be_sorted_best_first() -> None:
    frame = np.zeros((8, 8, 3), np.uint8)
    worse_first = Prediction((1, 2), ("a", "b"), (0.2, 0.7))
    with pytest.raises(ChickenSaviourError, match="best first"):
        FrameResult(0, frame, frame.copy(), (), SETTINGS, whole_frame=worse_first)
    with pytest.raises(ChickenSaviourError, match="empty"):
        FrameResult(0, frame, frame.copy(), (), SETTINGS, whole_frame=Prediction((), (), ()))


def _five(first: str, p: float) -> Prediction:
    rest = (1 - p) / 4
    return Prediction((1, 2, 3, 4, 5), (first, "b", "c", "d", "e"), (p, rest, rest, rest, rest))


def test_the_after_pane_lists_the_top5_beside_the_region_and_leaves_the_patch_clear() -> None:
    frame = np.full((480, 640, 3), 90, np.uint8)
    box = (220.0, 140.0, 420.0, 340.0)
    track = TrackResult(1, box, _five("tabby", 0.6), _five("tabby", 0.6))
    result = FrameResult(0, frame, frame.copy(), (track,), SETTINGS,
                         whole_frame=_five("window screen", 0.4))
    after = draw_pane(result, after=True)
    inside = after[150:330, 230:410]  # within the box, off its outline
    assert np.array_equal(inside, frame[150:330, 230:410])
    changed = (after != frame).any(axis=2)
    assert changed[:120, :200].any()  # the whole frame's panel, in a free corner
    assert changed[140:340, 420:].any()  # the region's list, beside the box
    # The before pane keeps the usual top-1 label: the patch is plain to see there.
    before = draw_pane(result, after=False)
    assert np.array_equal(before, draw_tracks(frame, (track,), after=False, protected=(1,)))


def test_snapshots_show_the_whole_frame_and_region_bars_at_a_fixed_size() -> None:
    frame = np.zeros((120, 160, 3), np.uint8)
    track = TrackResult(1, (10.0, 10.0, 80.0, 90.0), _five("a", 0.9), _five("a", 0.9))
    results = [FrameResult(0, frame, frame.copy(), tracks, SETTINGS,
                           whole_frame=_five("a", 0.5)) for tracks in ((), (track,))]
    shapes = {side_by_side(r, 640, bars=True).shape for r in results}
    assert len(shapes) == 1, shapes
