from __future__ import annotations

import pytest
import torch

from chickensaviour.attacks import epsilon_sweep, loss_gradient_sign, make_patch
from chickensaviour.attacks.sweep import sweep_images
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.labels import imagenet_classes
from chickensaviour.models.wrapper import ImageClassifier


def test_sweep_curve_matches_one_by_one_evaluation(tiny_model: ImageClassifier,
                                                   images: torch.Tensor) -> None:
    image = images[:1]
    epsilons = torch.linspace(-0.2, 0.2, 9)
    result = epsilon_sweep(tiny_model, image, 4, epsilons, batch_size=4)
    sign = loss_gradient_sign(tiny_model, image, 4)
    for eps, probability in zip(epsilons, result.target_probabilities, strict=True):
        single = (image + eps * sign).clamp(0, 1)
        assert float(tiny_model.probabilities(single)[0, 4]) == pytest.approx(
            float(probability), abs=1e-5)
    zero = int((epsilons == 0).nonzero())
    clean = float(tiny_model.probabilities(image)[0, 4])
    assert float(result.target_probabilities[zero]) == pytest.approx(clean, abs=1e-6)
    assert result.best_probability == pytest.approx(float(result.target_probabilities.max()))
    assert result.best_eps <= 0.0  # negative eps moves towards the target (seed's finding)


def test_sweep_batches_do_not_change_results(tiny_model: ImageClassifier,
                                             images: torch.Tensor) -> None:
    epsilons = torch.linspace(-0.1, 0.1, 7)
    a = epsilon_sweep(tiny_model, images[:1], 2, epsilons, batch_size=1)
    b = epsilon_sweep(tiny_model, images[:1], 2, epsilons, batch_size=100)
    assert torch.allclose(a.target_probabilities, b.target_probabilities, atol=1e-6)
    assert a.best_index == b.best_index


def test_sweep_images_are_clamped() -> None:
    out = sweep_images(torch.full((1, 3, 2, 2), 0.9), torch.ones(1, 3, 2, 2),
                       torch.tensor([-0.5, 0.5]))
    assert torch.allclose(out[0], torch.full((3, 2, 2), 0.4)) and float(out[1].max()) == 1.0


def test_sweep_rejects_bad_input(tiny_model: ImageClassifier, images: torch.Tensor) -> None:
    with pytest.raises(ChickenSaviourError, match="one image"):
        epsilon_sweep(tiny_model, images, 1, [0.1])
    with pytest.raises(ChickenSaviourError, match=r"\[-1, 1\]"):
        epsilon_sweep(tiny_model, images[:1], 1, [2.0])
    with pytest.raises(ChickenSaviourError, match="at least one"):
        epsilon_sweep(tiny_model, images[:1], 1, [])


@pytest.mark.parametrize("method", ["pgd", "fgsm-sweep"])
@pytest.mark.parametrize("start", ["black", "grey", "noise"])
def test_patch_raises_target_probability_and_is_deterministic(
        tiny_model: ImageClassifier, method: str, start: str) -> None:
    from chickensaviour.attacks.patch import start_image

    base = float(tiny_model.with_fit("stretch").probabilities(start_image(16, start, 0))[0, 6])
    first = make_patch(tiny_model, 6, 16, start=start, method=method, steps=20, rounds=4)
    second = make_patch(tiny_model, 6, 16, start=start, method=method, steps=20, rounds=4)
    assert torch.equal(first.patch, second.patch)
    assert first.patch.shape == (1, 3, 16, 16)
    assert 0.0 <= float(first.patch.min()) and float(first.patch.max()) <= 1.0
    assert first.probability > base


def test_patch_rejects_bad_arguments(tiny_model: ImageClassifier) -> None:
    with pytest.raises(ChickenSaviourError, match=r"8\.\.1024"):
        make_patch(tiny_model, 1, 4)
    with pytest.raises(ChickenSaviourError, match="out of range"):
        make_patch(tiny_model, 99, 16)
    with pytest.raises(ChickenSaviourError, match="method"):
        make_patch(tiny_model, 1, 16, method="magic")  # type: ignore[arg-type]


@pytest.mark.pretrained
def test_black_block_becomes_hog_on_the_real_model(pretrained: ImageClassifier) -> None:
    hog = imagenet_classes().resolve("hog")
    result = make_patch(pretrained, hog, 48, start="black", method="pgd", steps=40)
    assert result.probability >= 0.9


class _PixelMeanModel(torch.nn.Module):
    """Logits from the mean colour: cheap at any size, and it records the batch shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.linspace(-1, 1, 30).view(3, 10))
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(images.shape))
        return images.mean(dim=(2, 3)) @ self.weight


def test_sweep_of_a_large_photo_runs_in_batches_of_bounded_pixels() -> None:
    """A 48 MP photo in batches of 32 asked for 18 GB; batches now hold <= 2**24 pixels."""
    model = _PixelMeanModel()
    image = torch.rand(1, 3, 1000, 1100, generator=torch.Generator().manual_seed(0))
    result = epsilon_sweep(model, image, 3, torch.linspace(-0.1, 0.1, 41))
    batches = model.shapes[1:]  # the first is the gradient's
    assert sum(shape[0] for shape in batches) == 41
    assert max(b * h * w for b, _, h, w in batches) <= 2 ** 24
    assert result.target_probabilities.shape == (41,)


def test_make_patch_step_size_sets_each_pgd_step(tiny_model: ImageClassifier) -> None:
    for step_size in (4 / 255, 8 / 255):
        patch = make_patch(tiny_model, 3, 16, start="black", steps=1, step_size=step_size).patch
        assert float(patch.max()) == pytest.approx(step_size, abs=1e-6)
    with pytest.raises(ChickenSaviourError, match="step_size"):
        make_patch(tiny_model, 3, 16, steps=1, step_size=0.0)
