"""Feature visualisation: objectives, parameterisations, render_vis, dream, filters."""

from __future__ import annotations

import pytest
import torch

from chickensaviour.errors import ChickenSaviourError, OperationCancelled, UnknownLayerError
from chickensaviour.models.wrapper import ImageClassifier
from chickensaviour.visualize import objectives as obj
from chickensaviour.visualize import transforms as tf
from chickensaviour.visualize.dream import DreamSettings, deep_dream
from chickensaviour.visualize.filters import (
    activation_grid,
    kernel_grid,
    layer_output,
    parse_channels,
)
from chickensaviour.visualize.layers import describe_layers, find_layer
from chickensaviour.visualize.params import fourier_image, pixel_image
from chickensaviour.visualize.render import (
    Regulariser,
    forward_activations,
    gaussian_blur,
    render_vis,
)

# The tiny conftest model: net = Sequential(conv 3->8 "0", relu "1", conv 8->16 "2", ...)


def value(model: ImageClassifier, objective: obj.Objective, image: torch.Tensor) -> float:
    with torch.no_grad():
        return float(objective(forward_activations(model, image, objective.layers)).mean())


@pytest.mark.parametrize("make", [
    lambda: obj.class_logit(3),
    lambda: obj.channel("2", 5),
    lambda: obj.neuron("0", 1),
    lambda: obj.layer_activation("2"),
    lambda: obj.channel("2", 5) + 0.5 * obj.class_logit(1) - 0.1 * obj.image_l2(),
])
def test_objectives_rise_over_a_few_steps(tiny_model: ImageClassifier, make):
    objective = make()
    param = pixel_image(16, seed=1)
    start = value(tiny_model, objective, param[1]().detach().clone())
    image = render_vis(tiny_model, objective, param, steps=15, lr=0.05)
    assert value(tiny_model, objective, image) > start + 0.4  # measured rises: 0.55-5.8


def test_objective_arithmetic_composes_values_and_layers(tiny_model: ImageClassifier):
    image = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    a, b = obj.channel("2", 1), obj.class_logit(2)
    acts = forward_activations(tiny_model, image, ("2",))
    combined = 2 * a - b / 4 + 1.0
    assert torch.allclose(combined(acts), 2 * a(acts) - b(acts) / 4 + 1.0)
    assert set(combined.layers) == {"2", "logits"}
    with pytest.raises(TypeError):
        a * b  # type: ignore[operator]


def test_bad_channel_and_neuron_give_clear_errors(tiny_model: ImageClassifier):
    image = torch.rand(1, 3, 16, 16)
    acts = forward_activations(tiny_model, image, ("2",))
    with pytest.raises(ChickenSaviourError, match="16 channels"):
        obj.channel("2", 99)(acts)
    with pytest.raises(ChickenSaviourError, match="outside"):
        obj.neuron("2", 0, x=50)(acts)


def test_unknown_layers_list_the_valid_ones(tiny_model: ImageClassifier):
    with pytest.raises(UnknownLayerError, match=r"valid layers: 0, 1, 2"):
        find_layer(tiny_model.net, "conv9")
    infos = describe_layers(tiny_model)
    assert [i.name for i in infos][:3] == ["0", "1", "2"]
    assert infos[2].shape == (16, 8, 8) and infos[0].kind == "Conv2d"


def test_parameterisations_give_valid_deterministic_images():
    for make in (pixel_image, fourier_image):
        a, b = make(32, seed=3)[1](), make(32, seed=3)[1]()
        a, b = a.detach(), b.detach()
        assert a.shape == (1, 3, 32, 32) and 0 <= float(a.min()) and float(a.max()) <= 1
        assert torch.equal(a, b)
    assert not torch.equal(fourier_image(32, seed=1)[1](), fourier_image(32, seed=2)[1]())
    with pytest.raises(ChickenSaviourError, match="size"):
        pixel_image(4)


def test_render_is_deterministic_for_a_seed_and_regularisers_need_pixels(tiny_model):
    run = lambda seed: render_vis(  # noqa: E731
        tiny_model, obj.class_logit(0), pixel_image(16, seed=seed), steps=5, seed=seed,
        transforms=[tf.jitter(2), tf.random_scale([0.9, 1.1])],
        regularisers=[Regulariser("l2", 0.01), Regulariser("blur", 0.5, every=2),
                      Regulariser("clip", 0.2, every=3)])
    assert torch.equal(run(4), run(4))
    with pytest.raises(ChickenSaviourError, match="pixel"):
        render_vis(tiny_model, obj.class_logit(0), fourier_image(16), steps=2,
                   regularisers=[Regulariser("blur", 1.0)])
    with pytest.raises(OperationCancelled):
        render_vis(tiny_model, obj.class_logit(0), pixel_image(16), steps=2,
                   should_stop=lambda: True)


def test_regularisers_do_what_they_say():
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    decayed = image.clone()
    Regulariser("l2", 0.5)(0, decayed)
    assert torch.allclose(decayed - 0.5, (image - 0.5) * 0.5, atol=1e-6)
    clipped = image.clone()
    Regulariser("clip", 0.5)(0, clipped)
    assert (clipped == 0.5).all(dim=1).float().mean() == pytest.approx(0.5, abs=0.05)
    blurred = gaussian_blur(image, 1.0)
    assert blurred.shape == image.shape and blurred.std() < image.std()


def test_dream_keeps_size_and_raises_the_layer_activation(tiny_model: ImageClassifier):
    image = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    objective = obj.layer_activation("2")
    settings = DreamSettings(steps=4, octaves=2, jitter=2, step_size=0.05, frame_every=2)
    dreamed, frames = deep_dream(tiny_model, image, objective, settings)
    assert dreamed.shape == image.shape and len(frames) == 1 + 4 + 1
    assert value(tiny_model, objective, dreamed) > value(tiny_model, objective, image)
    with pytest.raises(ChickenSaviourError, match="octave scale"):
        DreamSettings(octave_scale=0.5)


def test_filter_grids_have_the_expected_shapes(tiny_model: ImageClassifier):
    image = torch.rand(1, 3, 20, 24)
    acts = layer_output(tiny_model, image, "2")
    assert acts.shape == (16, 8, 8)
    grid = activation_grid(acts, parse_channels("0:9", 16), tile=10)
    assert grid.shape == (1, 3, 3 * 12 + 2, 3 * 12 + 2)
    kernels = kernel_grid(tiny_model, tile=6)
    assert kernels.shape == (1, 3, 3 * 8 + 2, 3 * 8 + 2)  # 8 kernels -> 3 x 3 grid
    assert parse_channels(None, 100) == range(64) and parse_channels("5", 16) == range(5, 6)
    with pytest.raises(ChickenSaviourError, match="channels"):
        parse_channels("20:30", 16)
    with pytest.raises(ChickenSaviourError, match="not channel maps"):
        layer_output(tiny_model, image, "6")  # the Linear layer


def test_channel_of_a_linear_layer_and_hooks_after_errors(tiny_model: ImageClassifier):
    image = torch.rand(2, 3, 16, 16)
    acts = forward_activations(tiny_model, image, ("6",))
    assert obj.channel("6", 3)(acts).shape == (2,)  # (B, features) layers work too
    with pytest.raises(UnknownLayerError):
        forward_activations(tiny_model, image, ("0", "nope"))
    assert all(not m._forward_hooks for m in tiny_model.net.modules())


def test_transforms_change_what_the_network_sees(tiny_model: ImageClassifier):
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(0)
    scaled = tf.apply([tf.pad(4), tf.random_scale([1.5])], image, generator)
    assert scaled.shape[-1] == 36
    a = forward_activations(tiny_model, image, ())["logits"]
    b = forward_activations(tiny_model, scaled, ())["logits"]
    assert not torch.allclose(a, b)


def test_dream_is_deterministic_per_seed_and_keeps_small_images_whole(tiny_model):
    image = torch.rand(1, 3, 20, 50, generator=torch.Generator().manual_seed(0))
    settings = DreamSettings(steps=2, octaves=6, jitter=3, frame_every=0)
    run = lambda seed: deep_dream(tiny_model, image, obj.layer_activation("2"),  # noqa: E731
                                  settings, seed=seed)
    (a, frames), (b, _), (c, _) = run(1), run(1), run(2)
    assert torch.equal(a, b) and not torch.equal(a, c) and frames == []
    assert a.shape == image.shape
