from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from chickensaviour.attacks import (
    ATTACK_NAMES,
    DIFGSM,
    FGSM,
    L2,
    LINF,
    MIFGSM,
    PGD,
    Attack,
    AttackResult,
    Goal,
    distance,
    make_attack,
    targeted,
    untargeted,
)
from chickensaviour.attacks.base import Misclassification, TargetedMisclassification
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.wrapper import ImageClassifier

LINF_EPS = [0.0, 2 / 255, 8 / 255]
L2_EPS = [0.0, 0.25, 1.0]
MAKERS = {
    "fgsm": lambda eps, d: FGSM(eps=eps, distance=d),
    "pgd": lambda eps, d: PGD(eps=eps, steps=3, seed=1, distance=d),
    "mi-fgsm": lambda eps, d: MIFGSM(eps=eps, steps=3, distance=d),
    "di-fgsm": lambda eps, d: DIFGSM(eps=eps, steps=3, decay=1.0, diversity_prob=1.0,
                                     distance=d),
}


class Garbage(Attack):
    """Returns wild candidates: NaN, infinities and huge values."""

    def run(self, model, images, goal, *, progress=None, should_stop=None):  # type: ignore[override]
        wild = images + 50.0 * torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
        wild[:, 0, 0, 0] = float("nan")
        wild[:, 1, 0, 0] = float("inf")
        wild[:, 2, 0, 0] = -float("inf")
        return wild


@pytest.mark.parametrize("name", sorted(MAKERS))
@pytest.mark.parametrize("dist", ["linf", "l2"])
@pytest.mark.parametrize("goal_kind", ["targeted", "untargeted"])
def test_budget_and_range_hold_for_every_attack_and_distance(
        tiny_model: ImageClassifier, images: torch.Tensor, name: str, dist: str,
        goal_kind: str) -> None:
    goal = (targeted if goal_kind == "targeted" else untargeted)(3, images.shape[0])
    for eps in LINF_EPS if dist == "linf" else L2_EPS:
        adversarial = MAKERS[name](eps, dist)(tiny_model, images, goal)
        assert adversarial.shape == images.shape and not adversarial.requires_grad
        assert bool(torch.isfinite(adversarial).all())
        assert float(adversarial.min()) >= 0.0 and float(adversarial.max()) <= 1.0
        assert float(distance(dist).norm(adversarial - images).max()) <= eps + 1e-5


@pytest.mark.parametrize("dist", ["linf", "l2"])
@pytest.mark.parametrize("quantize", [False, True])
def test_budget_holds_even_when_run_returns_garbage(tiny_model: ImageClassifier,
                                                    images: torch.Tensor, dist: str,
                                                    quantize: bool) -> None:
    originals = torch.round(images * 255) / 255  # on the 8-bit grid, as read from a PNG
    eps = 4 / 255 if dist == "linf" else 0.5
    adversarial = Garbage(eps=eps, distance=dist, quantize=quantize)(
        tiny_model, originals, untargeted(0, 4))
    assert bool(torch.isfinite(adversarial).all())
    assert float(adversarial.min()) >= 0.0 and float(adversarial.max()) <= 1.0
    assert float(distance(dist).norm(adversarial - originals).max()) <= eps + 1e-5
    if quantize:
        levels = adversarial * 255
        assert float((levels - levels.round()).abs().max()) < 1e-3


def test_l2_clamp_after_projection_never_lengthens_the_perturbation() -> None:
    generator = torch.Generator().manual_seed(0)
    originals = torch.rand(16, 3, 8, 8, generator=generator)
    originals[:, :, :4] = 1.0  # saturated pixels, where the clamp cuts hardest
    candidates = originals + 3.0 * torch.randn(16, 3, 8, 8, generator=generator)
    for eps in (0.1, 1.0, 5.0, 30.0):
        clipped = L2.clip(candidates, originals, eps)
        assert float(L2.norm(clipped - originals).max()) <= eps + 1e-5
        assert float(clipped.min()) >= 0.0 and float(clipped.max()) <= 1.0


def test_l2_projection_is_the_nearest_point_of_the_ball() -> None:
    originals = torch.full((2, 3, 1, 1), 0.5)
    candidates = originals.clone()
    candidates[0, 0] += 3.0  # norm 3 -> scaled to 1
    candidates[1, 1] += 0.5  # already inside
    projected = L2.project(candidates, originals, 1.0)
    assert torch.allclose(projected[0, :, 0, 0], torch.tensor([1.5, 0.5, 0.5]))
    assert torch.equal(projected[1], candidates[1])
    assert torch.allclose(LINF.norm(candidates - originals), torch.tensor([3.0, 0.5]))


class LowerClassThree:
    """A user-defined goal: push the logit of class 3 down, succeed once it is not top-1."""

    def __init__(self, batch: int) -> None:
        self.classes = torch.full((batch,), 3)

    def objective(self, logits: torch.Tensor) -> torch.Tensor:
        return -logits[:, 3].sum()

    def is_success(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(dim=1) != 3


def test_user_defined_goal_is_accepted_and_lowers_its_logit(tiny_model: ImageClassifier,
                                                            images: torch.Tensor) -> None:
    goal = LowerClassThree(images.shape[0])
    assert isinstance(goal, Goal)
    for attack in (PGD(eps=4 / 255, steps=5), MIFGSM(eps=4 / 255), PGD(eps=0.5, distance="l2")):
        adversarial = attack(tiny_model, images, goal)
        with torch.no_grad():
            before, after = tiny_model(images)[:, 3], tiny_model(adversarial)[:, 3]
        assert bool((after < before).all())
    result = PGD(eps=0.3, steps=5).run_epsilons(tiny_model, images, goal, [0.0, 0.3])
    assert result.success.shape == (2, 4)


def test_non_goals_get_a_clear_error(tiny_model: ImageClassifier, images: torch.Tensor) -> None:
    class NoSuccess:
        classes = torch.zeros(4, dtype=torch.long)

        def objective(self, logits: torch.Tensor) -> torch.Tensor:
            return logits.sum()

    with pytest.raises(ChickenSaviourError, match="is_success"):
        FGSM(eps=0.1)(tiny_model, images, NoSuccess())  # type: ignore[arg-type]
    with pytest.raises(ChickenSaviourError, match="classes for a batch"):
        FGSM(eps=0.1)(tiny_model, images, LowerClassThree(3))


def test_built_in_goals_judge_success_and_move_to_devices() -> None:
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 1.0]])
    assert Misclassification(torch.tensor([1, 1])).is_success(logits).tolist() == [False, True]
    assert targeted([2, 0]).is_success(logits).tolist() == [False, True]
    moved = TargetedMisclassification(torch.tensor([1, 2], dtype=torch.int32)).to("cpu")
    assert moved.target_classes.dtype == torch.long


def test_run_epsilons_matches_a_manual_check_and_grows(tiny_model: ImageClassifier,
                                                       images: torch.Tensor) -> None:
    labels = tiny_model(images).argmax(dim=1)
    goal = untargeted(labels)
    epsilons = [0.0, 1 / 255, 4 / 255, 16 / 255, 64 / 255]
    attack = PGD(eps=0.5, steps=10, random_start=False)
    result = attack.run_epsilons(tiny_model, images, goal, epsilons)
    assert isinstance(result, AttackResult)
    assert result.epsilons == tuple(epsilons) and result.success.shape == (5, 4)
    for eps, raw, clipped, success in zip(epsilons, result.raw, result.clipped, result.success,
                                          strict=True):
        assert float((clipped - images).abs().max()) <= eps + 1e-6
        with torch.no_grad():
            assert torch.equal(success, tiny_model(clipped).argmax(dim=1) != labels)
        # The step size follows eps (2.5 * eps / steps): the same as a fresh attack.
        alone = PGD(eps=eps, steps=10, random_start=False)(tiny_model, images, goal)
        assert torch.equal(alone, clipped)
        assert raw.shape == images.shape
    assert not bool(result.success[0].any())  # eps 0 changes nothing
    counts = result.success.sum(dim=1).tolist()
    assert counts[-1] >= counts[1] and counts[-1] >= 1
    assert attack.eps == 0.5 and attack.step_size == pytest.approx(2.5 * 0.5 / 10)


def test_run_epsilons_reports_progress_over_all_budgets(tiny_model: ImageClassifier,
                                                        images: torch.Tensor) -> None:
    seen: list[tuple[int, int]] = []
    PGD(eps=0.1, steps=3, step_size=0.01).run_epsilons(
        tiny_model, images, targeted(1, 4), [0.01, 0.02],
        progress=lambda step, steps, _value: seen.append((step, steps)))
    assert seen == [(1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (6, 6)]


def test_distances_by_name_and_eps_validation() -> None:
    assert distance("linf") is LINF and distance("L2") is L2 and distance(L2) is L2
    with pytest.raises(ChickenSaviourError, match="distance"):
        distance("l1")
    with pytest.raises(ChickenSaviourError, match="eps"):
        PGD(eps=1.5)
    PGD(eps=1.5, distance="l2")  # L2 budgets may exceed 1
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ChickenSaviourError, match="eps"):
            PGD(eps=bad, distance="l2")
    with pytest.raises(ChickenSaviourError, match="eps"):
        PGD(eps=0.1).run_epsilons(nn.Identity(), torch.zeros(1, 3, 4, 4), untargeted(0), [2.0])


def test_registry_builds_every_named_attack() -> None:
    for name in ATTACK_NAMES:
        attack = make_attack(name, 8 / 255, steps=4, seed=2)
        assert isinstance(attack, Attack)
    assert make_attack("pgd-l2", 1.0).distance is L2
    assert make_attack("pgd", 0.1).steps == 10  # type: ignore[attr-defined]
    with pytest.raises(ChickenSaviourError, match="mi-fgsm"):
        make_attack("cw", 0.1)


@pytest.mark.parametrize("kwargs", [
    {"steps": 0}, {"steps": 2.5}, {"step_size": 0.0}, {"step_size": 2.0}, {"decay": -1.0},
    {"decay": math.nan}, {"resize_rate": 0.0}, {"diversity_prob": 1.5}, {"distance": "l3"},
])
def test_bad_arguments_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ChickenSaviourError):
        DIFGSM(eps=0.1, **kwargs)  # type: ignore[arg-type]
