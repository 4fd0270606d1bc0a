"""Ghost mode's warm start: each track goes on from its previous frame's perturbation."""

from __future__ import annotations

import numpy as np
import torch

from chickensaviour.live import FramePipeline, PatchStore, PipelineSettings
from chickensaviour.live.modes import LiveTools, ModeInput
from chickensaviour.live.modes.ghost import GhostMode
from chickensaviour.models.detections import Detections
from tests.conftest import make_tiny_classifier
from tests.live.scripted import random_frames

BOX = (8.0, 8.0, 40.0, 40.0)


def _tools() -> LiveTools:
    return LiveTools(make_tiny_classifier(), PatchStore(False), engine="torch")


def _frame(seed: int) -> torch.Tensor:
    return torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(seed))


def _apply(mode: GhostMode, tools: LiveTools, image: torch.Tensor, settings: PipelineSettings,
           regions: tuple = ((1, BOX),), advance: bool = True) -> torch.Tensor:  # type: ignore[type-arg]
    return mode.apply(ModeInput(image, regions, settings, None, advance), tools).after


def test_the_budget_holds_from_a_warm_start_and_only_the_region_changes() -> None:
    tools, mode = _tools(), GhostMode()
    settings = PipelineSettings(protected=(1,), target=3, mode="ghost", eps=4 / 255,
                                ghost_steps=1)
    for seed in range(4):  # frames that differ: each is a new ball
        image = _frame(seed)
        after = _apply(mode, tools, image, settings)
        assert float((after - image).abs().max()) <= 4 / 255 + 1e-6
        outside = torch.ones_like(image, dtype=torch.bool)
        outside[..., 8:40, 8:40] = False
        assert torch.equal(after[outside], image[outside])


def test_one_step_from_the_last_frame_goes_further_than_the_seeds_fgsm() -> None:
    """The first frame is the seed's FGSM; the next starts from its perturbation."""
    tools = _tools()
    settings = PipelineSettings(protected=(1,), target=3, mode="ghost", eps=8 / 255,
                                ghost_steps=2)
    image = _frame(0)
    warm, cold = GhostMode(), GhostMode(warm_start=False)
    for mode in (warm, cold):
        _apply(mode, tools, image, settings)
    afters = [_apply(mode, tools, image, settings) for mode in (warm, cold)]
    with torch.no_grad():
        logits = [float(tools.judge(after)[0, 3]) for after in afters]
    assert logits[0] > logits[1]


def test_paused_frames_hand_drawn_boxes_and_new_budgets_start_afresh() -> None:
    tools, mode = _tools(), GhostMode()
    settings = PipelineSettings(protected=(1,), target=3, mode="ghost", eps=8 / 255,
                                ghost_steps=1)
    image = _frame(0)
    first = _apply(mode, tools, image, settings)
    # A paused view re-applied (however often) does not change the memory: the next frame
    # goes on from the last frame that advanced, as for a mode that never paused.
    twin = GhostMode()
    _apply(twin, tools, image, settings)
    for _ in range(3):
        _apply(mode, tools, image, settings, advance=False)
    following = _frame(1)
    assert torch.equal(_apply(mode, tools, following, settings),
                       _apply(twin, tools, following, settings))
    # Hand-drawn regions (negative ids) are not remembered.
    fresh = GhostMode()
    _apply(fresh, tools, image, settings, regions=((-1, BOX),))
    assert torch.equal(_apply(fresh, tools, image, settings, regions=((-1, BOX),)), first)
    # Another eps or decoy: the old perturbation is not a start for it.
    other = settings.with_changes(target=5)
    assert torch.equal(_apply(mode, tools, image, other),
                       _apply(GhostMode(), tools, image, other))


def test_a_stream_that_starts_again_does_not_warm_start_from_its_end() -> None:
    """Review defect: after a looped file restarted, track 1 (a new object) went on from
    the perturbation of the old track 1."""

    class StillBox:
        def detect(self, frame: torch.Tensor) -> Detections:
            return Detections(np.array([[20.0, 10.0, 60.0, 50.0]]), np.array([0.9]),
                              np.array([1]))

    settings = PipelineSettings(protected=(1,), target=3, mode="ghost", eps=8 / 255,
                                ghost_steps=1, detect_every=1)
    frames = random_frames(3)

    def pipeline() -> FramePipeline:
        return FramePipeline(make_tiny_classifier(), store=PatchStore(False), engine="torch",
                             detector_factory=lambda m, p: StillBox())

    looped = pipeline()
    looped.process(frames[0], settings)
    looped.process(frames[1], settings)
    looped.reset()  # the file starts again
    again = looped.process(frames[2], settings)
    fresh = pipeline().process(frames[2], settings)
    assert [t.track_id for t in again.tracks] == [1]
    assert np.array_equal(again.after, fresh.after)
