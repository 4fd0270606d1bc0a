from __future__ import annotations

import pytest
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.labels import IMAGENET, LabelSet
from chickensaviour.models.ensemble import EnsembleClassifier, combine_outputs
from chickensaviour.models.wrapper import ImageClassifier
from tests.conftest import SAMPLES, make_tiny_classifier


def _pair(sizes: tuple[int, int] = (16, 24)) -> list[ImageClassifier]:
    first = make_tiny_classifier(seed=0, input_size=sizes[0])
    second = make_tiny_classifier(seed=1, input_size=sizes[1])
    second.name = second.identity = "tiny_b"
    return [first, second]


def test_logits_are_the_mean_of_the_members_logits(images: torch.Tensor) -> None:
    members = _pair()
    ensemble = EnsembleClassifier(members)
    expected = (members[0](images) + members[1](images)) / 2
    torch.testing.assert_close(ensemble(images), expected)
    assert ensemble(images).shape == (4, 10)


def test_weights_and_probability_combination(images: torch.Tensor) -> None:
    members = _pair()
    ensemble = EnsembleClassifier(members, combine="probabilities", weights=[3.0, 1.0])
    mixed = 0.75 * members[0](images).softmax(1) + 0.25 * members[1](images).softmax(1)
    torch.testing.assert_close(ensemble(images), mixed.log())
    torch.testing.assert_close(ensemble.probabilities(images), mixed)
    weighted = EnsembleClassifier(members, weights=[3.0, 1.0])(images)
    torch.testing.assert_close(weighted, 0.75 * members[0](images) + 0.25 * members[1](images))


def test_combine_outputs_checks_shapes() -> None:
    with pytest.raises(ChickenSaviourError, match="expected 2 weights"):
        combine_outputs(torch.zeros(2, 1, 3), torch.ones(3) / 3)
    with pytest.raises(ChickenSaviourError, match="combine must be"):
        combine_outputs(torch.zeros(2, 1, 3), torch.ones(2) / 2, "mean")  # type: ignore[arg-type]


def test_members_keep_their_input_sizes_and_attributes(images: torch.Tensor) -> None:
    members = _pair((16, 40))
    ensemble = EnsembleClassifier(members)
    assert ensemble.input_size == 40
    assert ensemble.name == "tiny+tiny_b" and ensemble.identity == "tiny+tiny_b"
    assert ensemble.classes is members[0].classes
    assert ensemble.device == members[0].device and ensemble.fit == "stretch"
    assert len(ensemble.members) == 2
    assert EnsembleClassifier(members, weights=[1, 2]).identity.startswith("tiny+tiny_b[logits;")
    predictions = ensemble.predict(images, k=3)
    assert len(predictions) == 4 and len(predictions[0].indices) == 3
    per_member = ensemble.member_predictions(images, k=2)
    assert [len(p) for p in per_member] == [4, 4]
    assert per_member[1] == members[1].predict(images, 2)


def test_with_fit_views_every_member(images: torch.Tensor) -> None:
    members = _pair()
    ensemble = EnsembleClassifier(members)
    assert ensemble.with_fit("stretch") is ensemble
    cropped = ensemble.with_fit("crop")
    assert cropped.fit == "crop" and all(m.fit == "crop" for m in cropped.members)
    assert all(m.fit == "stretch" for m in ensemble.members)  # the original is untouched
    assert cropped.members[0].net is members[0].net
    expected = (members[0].with_fit("crop")(images) + members[1].with_fit("crop")(images)) / 2
    torch.testing.assert_close(cropped(images), expected)


def test_train_and_eval_propagate() -> None:
    ensemble = EnsembleClassifier(_pair())
    ensemble.train()
    assert all(m.training for m in ensemble.members)
    ensemble.eval()
    assert not any(m.training for m in ensemble.members)


def test_mismatched_labels_are_refused() -> None:
    first = make_tiny_classifier(seed=0, num_classes=10)
    other = make_tiny_classifier(seed=1, num_classes=10)
    other.name = "renamed"
    other.classes = LabelSet(tuple(f"other {i}" for i in range(10)), kind=IMAGENET)
    with pytest.raises(ChickenSaviourError, match=r"^tiny and renamed have different labels") \
            as raised:
        EnsembleClassifier([first, other])
    assert "\n" not in str(raised.value)
    with pytest.raises(ChickenSaviourError, match="different labels"):
        EnsembleClassifier([first, make_tiny_classifier(seed=1, num_classes=5)])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"weights": [1.0]}, "expected 2 ensemble weights"),
    ({"weights": [1.0, 0.0]}, "must be positive"),
    ({"combine": "votes"}, "combine must be"),
])
def test_bad_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ChickenSaviourError, match=message):
        EnsembleClassifier(_pair(), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ChickenSaviourError, match="at least one model"):
        EnsembleClassifier([])


def test_gradients_flow_to_the_input(images: torch.Tensor) -> None:
    ensemble = EnsembleClassifier(_pair((16, 24)), combine="probabilities")
    x = images.clone().requires_grad_(True)
    ensemble(x)[:, 3].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_visualisations_refuse_an_ensemble_clearly(images: torch.Tensor) -> None:
    from chickensaviour.visualize.filters import kernel_grid, layer_output

    ensemble = EnsembleClassifier(_pair())
    with pytest.raises(ChickenSaviourError, match="one model, not an ensemble"):
        kernel_grid(ensemble)  # type: ignore[arg-type]
    with pytest.raises(ChickenSaviourError, match="one model, not an ensemble"):
        layer_output(ensemble, images, "0")  # type: ignore[arg-type]
    with pytest.raises(ChickenSaviourError, match="one model, not an ensemble"):
        _ = ensemble.net
    with pytest.raises(ChickenSaviourError, match="one model, not an ensemble"):
        ensemble.normalize(images)


@pytest.mark.pretrained
def test_load_model_joins_references_into_an_ensemble() -> None:
    from chickensaviour.imaging import read_image
    from chickensaviour.labels import CAT_CLASS_INDICES
    from chickensaviour.models import load_model
    from tests.conftest import require_weights

    require_weights("mobilenet_v2")
    require_weights("efficientnet_lite0")
    model = load_model("mobilenet_v2+efficientnet_lite0", device="cpu")
    assert isinstance(model, EnsembleClassifier)
    assert model.name == "mobilenet_v2+efficientnet_lite0"
    assert model.input_size == 224 and not model.training
    cat = model.predict(read_image(SAMPLES / "chelsea.png"), 1)[0]
    assert cat.indices[0] in CAT_CLASS_INDICES, cat
    members = model.member_predictions(read_image(SAMPLES / "chelsea.png"), 1)
    assert all(p[0].indices[0] in CAT_CLASS_INDICES for p in members), members


def test_load_model_refuses_an_empty_ensemble_part() -> None:
    from chickensaviour.errors import UnknownModelError
    from chickensaviour.models import load_model

    with pytest.raises(UnknownModelError, match="bad ensemble 'mobilenet_v2\\+'"):
        load_model("mobilenet_v2+")
