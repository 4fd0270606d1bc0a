"""Ghost mode's warm start: each track goes on from its previous frame's perturbation."""

from __future__ import annotations

import torch

from chickensaviour.live import PatchStore, PipelineSettings
from chickensaviour.live.modes import LiveTools, ModeInput
from chickensaviour.live.modes.ghost import GhostMode
from tests.conftest import make_tiny_classifier

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
    # A paused view re-applied with other settings neither uses nor changes the memory.
    again = _apply(mode, tools, image, settings, advance=False)
    assert torch.equal(_apply(mode, tools, image, settings, advance=False), again)
    # Hand-drawn regions (negative ids) are not remembered.
    fresh = GhostMode()
    _apply(fresh, tools, image, settings, regions=((-1, BOX),))
    assert torch.equal(_apply(fresh, tools, image, settings, regions=((-1, BOX),)), first)
    # Another eps or decoy: the old perturbation is not a start for it.
    other = settings.with_changes(target=5)
    assert torch.equal(_apply(mode, tools, image, other),
                       _apply(GhostMode(), tools, image, other))
