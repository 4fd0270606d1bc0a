from __future__ import annotations

import pytest
import torch

from chickensaviour.attacks import (
    FGSM,
    PGD,
    Misclassification,
    NegativeEpsilonFGSM,
    TargetedMisclassification,
    project,
    targeted,
    untargeted,
)
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.wrapper import ImageClassifier

ATTACKS = [
    lambda eps: FGSM(eps=eps),
    lambda eps: PGD(eps=eps, steps=5, seed=3),
    lambda eps: PGD(eps=eps, steps=3, step_size=0.5, random_start=False),
    lambda eps: NegativeEpsilonFGSM(eps=-eps),
]


@pytest.mark.parametrize("make_attack", ATTACKS)
@pytest.mark.parametrize("eps", [0.0, 1 / 255, 8 / 255, 0.3])
@pytest.mark.parametrize("goal_kind", ["targeted", "untargeted"])
def test_budget_and_range_hold_by_construction(tiny_model: ImageClassifier, images: torch.Tensor,
                                               make_attack, eps: float, goal_kind: str) -> None:
    goal = (targeted if goal_kind == "targeted" else untargeted)(3, images.shape[0])
    adversarial = make_attack(eps)(tiny_model, images, goal)
    assert adversarial.shape == images.shape and adversarial.dtype == images.dtype
    assert float((adversarial - images).abs().max()) <= eps + 1e-6
    assert float(adversarial.min()) >= 0.0 and float(adversarial.max()) <= 1.0
    assert not adversarial.requires_grad


def test_project_clips_wild_candidates_into_the_ball() -> None:
    originals = torch.tensor([[[[0.0, 0.5, 1.0]]]]).expand(1, 3, 1, 3)
    wild = torch.tensor([[[[5.0, -5.0, 0.2]]]]).expand(1, 3, 1, 3)
    projected = project(wild, originals, 0.1)
    assert torch.allclose(projected[0, 0, 0], torch.tensor([0.1, 0.4, 0.9]))


def test_quantized_projection_lands_on_8_bit_levels_inside_the_ball() -> None:
    generator = torch.Generator().manual_seed(0)
    originals = torch.randint(0, 256, (2, 3, 8, 8), generator=generator).float() / 255
    candidates = (originals + (torch.rand(2, 3, 8, 8, generator=generator) - 0.5)).clamp(0, 1)
    projected = project(candidates, originals, 4 / 255, quantize=True)
    levels = projected * 255
    assert float((levels - levels.round()).abs().max()) < 1e-3
    assert float((projected - originals).abs().max()) <= 4 / 255 + 1e-6


def test_model_mode_is_restored(tiny_model: ImageClassifier, images: torch.Tensor) -> None:
    tiny_model.train()
    FGSM(eps=0.1)(tiny_model, images, untargeted(0, images.shape[0]))
    assert tiny_model.training
    tiny_model.eval()
    FGSM(eps=0.1)(tiny_model, images, untargeted(0, images.shape[0]))
    assert not tiny_model.training


@pytest.mark.parametrize("eps", [-0.1, 1.5, float("nan"), float("inf")])
def test_bad_eps_is_rejected(eps: float) -> None:
    with pytest.raises(ChickenSaviourError, match="eps"):
        FGSM(eps=eps)


def test_bad_inputs_are_rejected(tiny_model: ImageClassifier, images: torch.Tensor) -> None:
    attack = FGSM(eps=0.1)
    with pytest.raises(ChickenSaviourError, match="classes for a batch"):
        attack(tiny_model, images, targeted(1, 2))
    with pytest.raises(ChickenSaviourError, match=r"\[0, 1\]"):
        attack(tiny_model, images * 3, targeted(1, 4))
    with pytest.raises(ChickenSaviourError, match=r"\(B, 3, H, W\)"):
        attack(tiny_model, images[:, :1], targeted(1, 4))
    with pytest.raises(ChickenSaviourError, match="goal"):
        attack(tiny_model, images, torch.tensor([1, 1, 1, 1]))  # type: ignore[arg-type]
    with pytest.raises(ChickenSaviourError, match="steps"):
        PGD(eps=0.1, steps=0)


def test_goals_are_data() -> None:
    goal = targeted([1, 2])
    assert isinstance(goal, TargetedMisclassification)
    assert goal.target_classes.tolist() == [1, 2]
    assert isinstance(untargeted(5, 3), Misclassification)
    assert untargeted(5, 3).labels.tolist() == [5, 5, 5]
    with pytest.raises(ChickenSaviourError):
        targeted([1, 2, 3], 2)
