from __future__ import annotations

import pytest
import torch
import torchattacks

from chickensaviour.attacks import DIFGSM, FGSM, MIFGSM, PGD, targeted, untargeted
from chickensaviour.models.wrapper import ImageClassifier


def _probability(model: ImageClassifier, images: torch.Tensor, index: int) -> torch.Tensor:
    return model.probabilities(images)[:, index]


@pytest.mark.parametrize("make_attack", [
    lambda: MIFGSM(eps=4 / 255, steps=10),
    lambda: DIFGSM(eps=4 / 255, steps=10),
    lambda: DIFGSM(eps=4 / 255, steps=10, decay=1.0, diversity_prob=1.0),
])
def test_transfer_attacks_raise_the_target_probability(tiny_model: ImageClassifier,
                                                       images: torch.Tensor,
                                                       make_attack) -> None:
    before = _probability(tiny_model, images, 7)
    after = _probability(tiny_model, make_attack()(tiny_model, images, targeted(7, 4)), 7)
    assert bool((after > before).all())


def test_mifgsm_beats_fgsm_at_the_same_budget(tiny_model: ImageClassifier,
                                              images: torch.Tensor) -> None:
    fgsm = FGSM(eps=4 / 255)(tiny_model, images, targeted(5, 4))
    mifgsm = MIFGSM(eps=4 / 255, steps=10)(tiny_model, images, targeted(5, 4))
    assert float(_probability(tiny_model, mifgsm, 5).mean()) > float(
        _probability(tiny_model, fgsm, 5).mean())


def test_difgsm_is_deterministic_for_a_seed(tiny_model: ImageClassifier,
                                            images: torch.Tensor) -> None:
    def attack(seed: int) -> torch.Tensor:
        return DIFGSM(eps=8 / 255, steps=6, diversity_prob=0.7, seed=seed)(
            tiny_model, images, targeted(2, 4))

    torch.manual_seed(123)  # the global generator must not matter
    first = attack(0)
    torch.manual_seed(456)
    assert torch.equal(first, attack(0))
    assert not torch.equal(first, attack(1))


def test_difgsm_without_diversity_is_mifgsm(tiny_model: ImageClassifier,
                                            images: torch.Tensor) -> None:
    goal = untargeted(1, 4)
    plain = DIFGSM(eps=8 / 255, steps=5, decay=0.5, diversity_prob=0.0)(tiny_model, images, goal)
    assert torch.equal(plain, MIFGSM(eps=8 / 255, steps=5, decay=0.5)(tiny_model, images, goal))


def test_difgsm_diversity_keeps_the_shape_and_range() -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 20, 24)
    for rate in (0.5, 0.9, 1.2):
        attack = DIFGSM(eps=0.1, resize_rate=rate, diversity_prob=1.0)
        for _ in range(20):
            out = attack.diversify(images, generator)
            expected = (20, 24) if rate < 1 else (int(20 * rate), round(24 * int(20 * rate) / 20))
            assert tuple(out.shape[-2:]) == expected
            assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


# torchattacks (a dev dependency, imported at the top: these comparisons never skip)
# attacks [0, 1] models directly, as our wrapper does: same model, same batch.


@pytest.mark.parametrize("goal_kind", ["untargeted", "targeted"])
def test_mifgsm_matches_torchattacks(tiny_model: ImageClassifier, images: torch.Tensor,
                                     goal_kind: str) -> None:
    eps, alpha = 8 / 255, 2 / 255
    labels = torch.tensor([1, 2, 3, 4])
    theirs_attack = torchattacks.MIFGSM(tiny_model, eps=eps, alpha=alpha, steps=10, decay=1.0)
    if goal_kind == "targeted":
        theirs_attack.set_mode_targeted_by_label(quiet=True)
        goal = targeted(labels)
    else:
        goal = untargeted(labels)
    theirs = theirs_attack(images, labels)
    ours = MIFGSM(eps=eps, steps=10, step_size=alpha, decay=1.0)(tiny_model, images, goal)
    assert float((ours - theirs).abs().max()) <= 1e-6


def test_difgsm_without_diversity_matches_torchattacks(tiny_model: ImageClassifier,
                                                       images: torch.Tensor) -> None:
    labels = torch.tensor([0, 5, 5, 9])
    theirs = torchattacks.DIFGSM(tiny_model, eps=6 / 255, alpha=1 / 255, steps=8, decay=0.5,
                                 diversity_prob=0.0)(images, labels)
    ours = DIFGSM(eps=6 / 255, steps=8, step_size=1 / 255, decay=0.5, diversity_prob=0.0)(
        tiny_model, images, untargeted(labels))
    assert float((ours - theirs).abs().max()) <= 1e-6


def test_pgd_l2_without_random_start_matches_torchattacks(tiny_model: ImageClassifier,
                                                          images: torch.Tensor) -> None:
    labels = torch.tensor([3, 3, 1, 0])
    theirs = torchattacks.PGDL2(tiny_model, eps=0.5, alpha=0.1, steps=10,
                                random_start=False)(images, labels)
    ours = PGD(eps=0.5, steps=10, step_size=0.1, random_start=False, distance="l2")(
        tiny_model, images, untargeted(labels))
    assert float((ours - theirs).abs().max()) <= 1e-5
