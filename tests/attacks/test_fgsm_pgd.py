from __future__ import annotations

import pytest
import torch

from chickensaviour.attacks import FGSM, PGD, NegativeEpsilonFGSM, targeted, untargeted
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.imaging import quantize
from chickensaviour.labels import CAT_CLASS_INDICES, imagenet_classes
from chickensaviour.models.wrapper import ImageClassifier


def _probability(model: ImageClassifier, images: torch.Tensor, index: int) -> torch.Tensor:
    return model.probabilities(images)[:, index]


def test_targeted_fgsm_raises_target_probability(tiny_model: ImageClassifier,
                                                 images: torch.Tensor) -> None:
    before = _probability(tiny_model, images, 7)
    after = _probability(tiny_model, FGSM(eps=2 / 255)(tiny_model, images, targeted(7, 4)), 7)
    assert bool((after > before).all())


def test_untargeted_fgsm_lowers_true_class_probability(tiny_model: ImageClassifier,
                                                       images: torch.Tensor) -> None:
    labels = tiny_model.probabilities(images).argmax(dim=1)
    before = tiny_model.probabilities(images).gather(1, labels[:, None])
    adversarial = FGSM(eps=2 / 255)(tiny_model, images, untargeted(labels, 4))
    after = tiny_model.probabilities(adversarial).gather(1, labels[:, None])
    assert bool((after < before).all())


def test_negative_epsilon_fgsm_is_targeted_fgsm(tiny_model: ImageClassifier,
                                                images: torch.Tensor) -> None:
    eps = 6 / 255
    seed_form = NegativeEpsilonFGSM(eps=-eps)(tiny_model, images, untargeted(2, 4))
    targeted_form = FGSM(eps=eps)(tiny_model, images, targeted(2, 4))
    assert torch.equal(seed_form, targeted_form)
    positive = NegativeEpsilonFGSM(eps=eps)(tiny_model, images, untargeted(2, 4))
    assert torch.equal(positive, FGSM(eps=eps)(tiny_model, images, untargeted(2, 4)))


def test_pgd_beats_fgsm_and_is_deterministic(tiny_model: ImageClassifier,
                                             images: torch.Tensor) -> None:
    fgsm = FGSM(eps=4 / 255)(tiny_model, images, targeted(5, 4))
    pgd_a = PGD(eps=4 / 255, steps=10, seed=7)(tiny_model, images, targeted(5, 4))
    pgd_b = PGD(eps=4 / 255, steps=10, seed=7)(tiny_model, images, targeted(5, 4))
    assert torch.equal(pgd_a, pgd_b)
    assert float(_probability(tiny_model, pgd_a, 5).mean()) > float(
        _probability(tiny_model, fgsm, 5).mean())


def test_pgd_leaves_pixels_the_model_never_sees_unchanged() -> None:
    from tests.conftest import make_tiny_classifier

    model = make_tiny_classifier(fit="crop")
    model.crop_pct = 0.5
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(1, 3, 32, 32, generator=generator)
    adversarial = PGD(eps=0.1, steps=3, seed=0)(model, images, targeted(1))
    changed = (adversarial != images).any(dim=1)[0]
    assert not bool(changed[:8].any()) and not bool(changed[:, :8].any())
    assert bool(changed[8:24, 8:24].any())


@pytest.mark.pretrained
def test_cat_becomes_reflex_camera_at_eps_8_and_survives_8_bit_rounding(
        pretrained: ImageClassifier, chelsea: torch.Tensor) -> None:
    camera = imagenet_classes().resolve("reflex camera")
    before = pretrained.predict(chelsea, 1)[0]
    assert before.indices[0] in CAT_CLASS_INDICES
    adversarial = PGD(eps=8 / 255, steps=20, seed=0, quantize=True)(
        pretrained, chelsea, targeted(camera))
    assert float((adversarial - chelsea).abs().max()) <= 8 / 255 + 1e-6
    assert adversarial.shape == chelsea.shape
    assert torch.equal(quantize(adversarial), quantize(quantize(adversarial)))
    assert float(_probability(pretrained, quantize(adversarial), camera)) >= 0.9


@pytest.mark.parametrize("distance", ["linf", "l2"])
def test_pgd_from_a_start_outside_the_ball_keeps_the_budget(tiny_model: ImageClassifier,
                                                            images: torch.Tensor,
                                                            distance: str) -> None:
    """A warm start (the previous video frame's adversarial) is projected into this
    frame's ball first; one step from it goes on where the last frame stopped."""
    eps = 4 / 255 if distance == "linf" else 0.5
    far = (images + 0.3).clamp(0, 1)  # well outside the ball
    attack = PGD(eps=eps, steps=1, random_start=False, distance=distance, start=far,
                 step_size=eps / 4 if distance == "linf" else 0.1)
    adversarial = attack(tiny_model, images, targeted(7, 4))
    change = (adversarial - images).flatten(1)
    norm = change.abs().amax(dim=1) if distance == "linf" else change.norm(dim=1)
    assert bool((norm <= eps + 1e-5).all())
    # One small step from the clean images cannot go as far as one from the start.
    cold = PGD(eps=eps, steps=1, random_start=False, distance=distance,
               step_size=eps / 4 if distance == "linf" else 0.1)(tiny_model, images,
                                                                 targeted(7, 4))
    cold_norm = (cold - images).flatten(1)
    cold_norm = cold_norm.abs().amax(dim=1) if distance == "linf" else cold_norm.norm(dim=1)
    assert bool((norm > cold_norm).all())


def test_pgd_start_must_match_the_images(tiny_model: ImageClassifier,
                                         images: torch.Tensor) -> None:
    with pytest.raises(ChickenSaviourError, match="start has shape"):
        PGD(eps=4 / 255, start=images[:1])(tiny_model, images, targeted(7, 4))
    with pytest.raises(ChickenSaviourError, match="start must be"):
        PGD(eps=4 / 255, start=images[0])  # type: ignore[arg-type]
