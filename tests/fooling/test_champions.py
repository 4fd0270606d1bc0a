"""Gradient fooling from noise, champions and the gallery."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.fooling import Champion, gradient_champions
from chickensaviour.fooling.evolution import score_images
from chickensaviour.fooling.gallery import confidence_text, gallery_image
from tests.conftest import make_tiny_classifier


def test_gradient_ascent_from_noise_makes_confident_images() -> None:
    model = make_tiny_classifier(seed=1, num_classes=10, input_size=16)
    champions = gradient_champions(model, [1, 7, 3], steps=60, lr=0.2, seed=0, batch_size=2)
    assert sorted(c.index for c in champions) == [1, 3, 7]
    noise = score_images(model, torch.rand(64, 3, 16, 16,
                                            generator=torch.Generator().manual_seed(0)))
    for champion in champions:
        assert champion.image.shape == (3, 16, 16)
        assert torch.equal((champion.image * 255).round() / 255, champion.image)
        # a random tiny network's logits barely move; its noise average is about 0.1
        assert champion.confidence > 1.4 * float(noise[:, champion.index].mean())
        again = score_images(model, champion.image[None])[0, champion.index]
        assert float(again) == pytest.approx(champion.confidence, abs=1e-5)
    same = gradient_champions(model, [1, 7, 3], steps=60, lr=0.2, seed=0, batch_size=2)
    assert [c.confidence for c in same] == [c.confidence for c in champions]


def test_gradient_on_a_grey_model_makes_grey_images() -> None:
    model = make_tiny_classifier(seed=1, num_classes=4, input_size=16)
    model.channels = 1  # the wrapper's own word: what ``grey=None`` follows
    champions = gradient_champions(model, [0], steps=3)
    assert champions[0].image.shape == (1, 16, 16)
    assert champions[0].rgb.shape == (3, 16, 16)
    rgb = gradient_champions(make_tiny_classifier(seed=1, num_classes=4, input_size=16), [0],
                             steps=3)
    assert rgb[0].image.shape == (3, 16, 16)


def test_gradient_refuses_bad_classes_and_steps() -> None:
    model = make_tiny_classifier(num_classes=4)
    with pytest.raises(ChickenSaviourError, match="outside"):
        gradient_champions(model, [4])
    with pytest.raises(ChickenSaviourError, match="no classes"):
        gradient_champions(model, [])
    with pytest.raises(ChickenSaviourError, match="steps"):
        gradient_champions(model, [0], steps=0)


def test_champion_checks_its_image_and_confidence() -> None:
    with pytest.raises(ChickenSaviourError, match="image"):
        Champion(0, "a", 0.5, 0, torch.zeros(2, 4, 4))
    with pytest.raises(ChickenSaviourError, match="confidence"):
        Champion(0, "a", 1.5, 0, torch.zeros(1, 4, 4))


def test_gallery_shows_every_champion_with_its_confidence() -> None:
    champions = [Champion(i, f"class {i}", 0.5 + i / 20, i, torch.full((1, 28, 28), i / 9))
                 for i in range(10)]
    image = gallery_image(champions, title="ten", cell=64, columns=5)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[1] == 5 * (64 + 6) + 6
    assert image.shape[0] == 30 + 2 * (64 + 34 + 6) + 6
    # the last champion (white) is drawn enlarged in its cell
    assert (image[30 + 6 + 64 + 34 + 6 + 10, 6 + 4 * 70 + 10] == 255).all()
    with pytest.raises(ChickenSaviourError, match="no champions"):
        gallery_image([])


def test_confidence_text_keeps_the_nines() -> None:
    assert confidence_text(0.5) == "50.00%"
    assert confidence_text(0.99994) == "99.9940%"
    assert confidence_text(0.999999) == "99.9999%"
    assert confidence_text(0.99989) == "99.98%"
