from __future__ import annotations

import pytest
import torch
from torch import nn

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.wrapper import ImageClassifier, Prediction, top_k
from tests.conftest import make_tiny_classifier


class _Spy(nn.Module):
    """Records what the wrapped network receives."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x
        return x.mean(dim=(2, 3)).repeat(1, 2)[:, :4]


def _spy_model(fit: str, crop_pct: float = 0.5) -> tuple[ImageClassifier, _Spy]:
    spy = _Spy()
    from chickensaviour.labels import LabelSet

    model = ImageClassifier(spy, name="spy", input_size=8, mean=(0.5, 0.5, 0.5),
                            std=(0.5, 0.5, 0.5), crop_pct=crop_pct, fit=fit,  # type: ignore[arg-type]
                            classes=LabelSet(("a", "b", "c", "d")))
    return model, spy


@pytest.mark.parametrize("size", [(1, 1), (7, 300), (224, 224), (480, 640)])
def test_any_input_size_reaches_the_network_at_input_size(size: tuple[int, int]) -> None:
    model, spy = _spy_model("crop")
    model(torch.rand(2, 3, *size))
    assert spy.seen is not None and spy.seen.shape == (2, 3, 8, 8)


def test_normalisation_happens_inside() -> None:
    model, spy = _spy_model("stretch")
    model(torch.ones(1, 3, 8, 8))
    assert spy.seen is not None and torch.allclose(spy.seen, torch.ones(1, 3, 8, 8))
    model(torch.zeros(1, 3, 8, 8))
    assert torch.allclose(spy.seen, -torch.ones(1, 3, 8, 8))


def test_crop_keeps_the_centre_and_stretch_keeps_everything() -> None:
    image = torch.zeros(1, 3, 16, 16)
    image[:, :, 4:12, 4:12] = 1.0  # bright centre square, dark border
    cropped, spy_c = _spy_model("crop", crop_pct=0.5)
    cropped(image)
    assert spy_c.seen is not None and torch.allclose(spy_c.seen, torch.ones(1, 3, 8, 8))
    stretched, spy_s = _spy_model("stretch")
    stretched(image)
    assert spy_s.seen is not None and float(spy_s.seen.min()) < 0


def test_gradients_flow_to_the_pixels(tiny_model: ImageClassifier) -> None:
    images = torch.rand(2, 3, 33, 47, requires_grad=True)
    tiny_model(images).sum().backward()
    assert images.grad is not None and float(images.grad.abs().sum()) > 0


def test_with_fit_shares_weights() -> None:
    model = make_tiny_classifier(fit="crop")
    view = model.with_fit("stretch")
    assert view.fit == "stretch" and model.fit == "crop"
    assert view.net is model.net
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert torch.equal(next(view.parameters()), next(model.parameters()))


def test_predict_returns_sorted_top_k(tiny_model: ImageClassifier, images: torch.Tensor) -> None:
    predictions = tiny_model.predict(images, k=3)
    assert len(predictions) == 4
    for prediction in predictions:
        assert len(prediction.indices) == 3
        assert list(prediction.probabilities) == sorted(prediction.probabilities, reverse=True)
        assert prediction.names[0] == f"class {prediction.indices[0]}"
    assert tiny_model.probabilities(images).sum(dim=1).allclose(torch.ones(4))


def test_top_k_and_prediction_validation(tiny_model: ImageClassifier) -> None:
    probabilities = torch.tensor([[0.1, 0.7, 0.2]])
    from chickensaviour.labels import LabelSet

    (prediction,) = top_k(probabilities, 2, LabelSet(("x", "y", "z")))
    assert prediction.top1 == (1, "y", pytest.approx(0.7))
    assert prediction.probability(2) == pytest.approx(0.2)
    assert prediction.probability(0) == 0.0  # not among the top 2
    with pytest.raises(ValueError):
        Prediction((1,), ("a", "b"), (0.5,))


@pytest.mark.parametrize(
    "bad", [torch.rand(3, 8, 8), torch.rand(1, 1, 8, 8), torch.zeros(1, 3, 8, 8, dtype=torch.uint8),
            torch.rand(0, 3, 8, 8)],
)
def test_bad_images_are_rejected(tiny_model: ImageClassifier, bad: torch.Tensor) -> None:
    with pytest.raises(ChickenSaviourError):
        tiny_model(bad)


def test_to_input_size_and_normalize_compose_to_preprocess() -> None:
    model, _ = _spy_model("crop")
    images = torch.rand(2, 3, 30, 50)
    resized = model.to_input_size(images)
    assert resized.shape == (2, 3, 8, 8) and float(resized.min()) >= 0
    assert torch.equal(model.normalize(resized), model.preprocess(images))


def test_grey_and_bgr_networks_see_what_they_were_trained_on() -> None:
    """RGB [0, 1] in; a 1-channel net gets BT.601 luma, a Caffe-style net BGR, each then
    normalised with its own mean/std, and gradients still reach the RGB pixels."""
    from torch import nn

    from chickensaviour.labels import LabelSet

    seen: list[torch.Tensor] = []

    class Spy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return x.mean(dim=(2, 3))[:, :1].repeat(1, 2)

    labels = LabelSet(("a", "b"))
    rgb = torch.zeros(1, 3, 8, 8)
    rgb[:, 0] = 1.0  # pure red
    grey = ImageClassifier(Spy(), name="grey", input_size=8, mean=(0.5,), std=(0.25,),
                           fit="stretch", classes=labels, channels=1)
    grey(rgb)
    assert seen[-1].shape == (1, 1, 8, 8)
    assert torch.allclose(seen[-1], torch.full_like(seen[-1], (0.299 - 0.5) / 0.25))
    bgr = ImageClassifier(Spy(), name="bgr", input_size=8, mean=(0.1, 0.2, 0.3),
                          std=(1 / 255,) * 3, fit="stretch", classes=labels,
                          channel_order="BGR")
    bgr(rgb)
    assert torch.allclose(seen[-1][0, :, 0, 0], torch.tensor([-0.1, -0.2, 0.7]) * 255)
    pixels = rgb.clone().requires_grad_(True)
    grey(pixels).sum().backward()
    assert pixels.grad is not None and pixels.grad[0, :, 0, 0].tolist() == pytest.approx(
        [2 * 0.299 / 0.25 / 64, 2 * 0.587 / 0.25 / 64, 2 * 0.114 / 0.25 / 64], rel=1e-4)
    with pytest.raises(ChickenSaviourError, match="mean and std need 1 value"):
        ImageClassifier(Spy(), name="x", input_size=8, mean=(0.5, 0.5, 0.5),
                        std=(0.2, 0.2, 0.2), classes=labels, channels=1)
