from __future__ import annotations

import torch

from chickensaviour.imaging import read_image
from chickensaviour.labels import imagenet_classes
from chickensaviour.models.wrapper import ImageClassifier
from chickensaviour.overlay.blocks import (
    Context,
    RefineSettings,
    flip_rate,
    refine_in_context,
    seed_block,
    square_crop,
)
from tests.conftest import SAMPLES


def test_square_crop_widens_to_a_square_inside_the_frame() -> None:
    frame = torch.rand(1, 3, 50, 80)
    crop, (left, top) = square_crop(frame, (70, 10, 80, 30))
    assert crop.shape == (1, 3, 20, 20) and (left, top) == (60, 10)
    assert torch.equal(crop, frame[:, :, 10:30, 60:80])


def test_refinement_raises_the_decoy_in_context_and_is_deterministic(
        tiny_model: ImageClassifier) -> None:
    frame = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    contexts = [Context(frame, (4.0, 4.0, 36.0, 36.0))]
    block = torch.full((1, 3, 16, 16), 0.5)
    settings = RefineSettings(steps=15, batch=4, fraction=(0.6, 0.8), noise=0.0)
    first = refine_in_context(tiny_model, block, 3, contexts, settings)
    second = refine_in_context(tiny_model, block, 3, contexts, settings)
    assert torch.equal(first, second)
    assert float(first.min()) >= 0 and float(first.max()) <= 1
    assert _mean_target_probability(tiny_model, first, 3, frame) > _mean_target_probability(
        tiny_model, block, 3, frame)


def _mean_target_probability(model: ImageClassifier, block: torch.Tensor, target: int,
                             frame: torch.Tensor) -> float:
    from chickensaviour.overlay.compositor import PatchCompositor, Placement

    placements = [Placement(left, top, 20) for left in (6, 10, 14) for top in (6, 10, 14)]
    frames = frame.expand(len(placements), -1, -1, -1)
    pasted = PatchCompositor()(frames, block, placements)  # type: ignore[arg-type]
    return float(model.with_fit("stretch").probabilities(pasted)[:, target].mean())


def test_seed_block_starts_black_and_moves_towards_the_decoy(pretrained: ImageClassifier) -> None:
    hog = imagenet_classes().resolve("hog")
    block = seed_block(pretrained, hog, 32)
    black = torch.zeros(1, 3, 32, 32)
    judge = pretrained.with_fit("stretch")
    assert float(judge.probabilities(block)[0, hog]) > float(judge.probabilities(black)[0, hog])
    assert float(block.min()) == 0.0  # clamped at black where the gradient wanted darker


def test_refined_block_flips_the_real_hunter_on_held_out_placements(
        pretrained: ImageClassifier) -> None:
    hog = imagenet_classes().resolve("hog")
    cat = read_image(SAMPLES / "chelsea.png")
    training = [Context(cat, (60.0, 0.0, 360.0, 300.0)), Context(cat, (100.0, 30.0, 340.0, 280.0))]
    held_out = [Context(cat, (80.0, 10.0, 380.0, 300.0))]
    block = seed_block(pretrained, hog, 64)
    refined = refine_in_context(pretrained, block, hog, training, RefineSettings())
    plain = flip_rate(pretrained, block, hog, held_out, trials=16)
    better = flip_rate(pretrained, refined, hog, held_out, trials=16)
    assert better.to_target >= 0.5
    assert better.flipped > plain.flipped


def test_refinement_reports_progress_and_stops_when_asked(tiny_model: ImageClassifier) -> None:
    import pytest

    from chickensaviour.errors import OperationCancelled

    frame = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    contexts = [Context(frame, (4.0, 4.0, 36.0, 36.0))]
    seen: list[tuple[int, int]] = []
    refine_in_context(tiny_model, torch.zeros(1, 3, 8, 8), 2, contexts,
                      RefineSettings(steps=3, batch=2),
                      progress=lambda d, t, v: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(OperationCancelled, match="block refinement cancelled"):
        refine_in_context(tiny_model, torch.zeros(1, 3, 8, 8), 2, contexts,
                          RefineSettings(steps=5, batch=2), should_stop=lambda: len(seen) >= 5,
                          progress=lambda d, t, v: seen.append((d, t)))
    assert seen[3:] == [(1, 5), (2, 5)]  # stopped before the third step
