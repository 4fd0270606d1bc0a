from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.imaging import read_image
from chickensaviour.models.defence_ops import gaussian_blur, gaussian_kernel_size
from chickensaviour.models.defences import (
    BitDepth,
    Defence,
    DefendedClassifier,
    GaussianBlur,
    JpegCompression,
    MedianFilter,
    RandomResizePad,
    parse_defences,
)
from chickensaviour.models.ensemble import EnsembleClassifier
from tests.conftest import SAMPLES, make_tiny_classifier

ALL_SPECS = "blur:1.5,median:3,jpeg:75,bits:4,resize"


def _uint8_images(batch: int = 2, height: int = 21, width: int = 26) -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    levels = torch.randint(0, 256, (batch, 3, height, width), generator=generator)
    return levels.float() / 255.0


def _rgb_frame(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) on the 8-bit grid -> (H, W, 3) uint8 RGB (channel order is irrelevant
    for these per-channel filters)."""
    return (image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy().copy()


@pytest.mark.parametrize("spec", ALL_SPECS.split(","))
def test_every_defence_keeps_shape_range_and_dtype(spec: str) -> None:
    (defence,) = parse_defences(spec)
    for dtype in (torch.float32, torch.float64):
        images = _uint8_images().to(dtype)
        for out in (defence(images), defence.adaptive(images)):
            assert out.shape == images.shape and out.dtype == dtype
            assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_blur_matches_opencv() -> None:
    images = _uint8_images()
    for sigma in (0.6, 1.5):
        size = gaussian_kernel_size(sigma)
        ours = GaussianBlur(sigma)(images)
        for image, result in zip(images, ours, strict=True):
            frame = (image.permute(1, 2, 0).numpy()).astype(np.float32)
            reference = cv2.GaussianBlur(frame, (size, size), sigma,
                                         borderType=cv2.BORDER_REFLECT_101)
            np.testing.assert_allclose(result.permute(1, 2, 0).numpy(), reference, atol=1e-5)


def test_blur_is_exactly_differentiable() -> None:
    images = torch.rand(1, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: gaussian_blur(x, 0.8), (images,))
    defence = GaussianBlur(0.8)
    x = images.detach().requires_grad_(True)
    assert torch.equal(defence.adaptive(x), defence(x))


def test_blur_of_a_tiny_image_does_not_fail() -> None:
    assert GaussianBlur(2.0)(torch.rand(1, 3, 2, 3)).shape == (1, 3, 2, 3)


@pytest.mark.parametrize("size", [3, 5, 7])
def test_median_matches_opencv(size: int) -> None:
    images = _uint8_images()
    ours = MedianFilter(size)(images)
    for image, result in zip(images, ours, strict=True):
        reference = cv2.medianBlur(_rgb_frame(image), size)
        assert np.array_equal(_rgb_frame(result), reference)


def test_jpeg_equals_an_opencv_round_trip() -> None:
    images = _uint8_images(height=33, width=40)
    ours = JpegCompression(60)(images)
    for image, result in zip(images, ours, strict=True):
        bgr = np.ascontiguousarray(_rgb_frame(image)[:, :, ::-1])
        ok, data = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), 60])
        assert ok
        reference = cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1]
        assert np.array_equal(_rgb_frame(result), reference)
    assert not torch.equal(ours, images)  # it did compress


def test_bit_depth_matches_numpy_rounding() -> None:
    images = _uint8_images()
    for bits in (1, 4, 8):
        levels = 2**bits - 1
        expected = np.round(images.numpy() * levels) / levels
        np.testing.assert_allclose(BitDepth(bits)(images).numpy(), expected, atol=1e-7)
        assert len(torch.unique(BitDepth(bits)(images))) <= levels + 1
    torch.testing.assert_close(BitDepth(8)(images), images)


@pytest.mark.parametrize("spec", ["median:3", "jpeg:75", "bits:4"])
def test_bpda_gradients_are_the_identity(spec: str) -> None:
    (defence,) = parse_defences(spec)
    images = _uint8_images().requires_grad_(True)
    out = defence.adaptive(images)
    torch.testing.assert_close(out.detach(), defence(images.detach()))
    weights = torch.randn_like(images)
    (gradient,) = torch.autograd.grad((out * weights).sum(), images)
    assert torch.equal(gradient, weights)


def test_random_resize_pad_is_seeded_and_random_without_a_seed() -> None:
    images = _uint8_images(batch=3, height=40, width=40)
    first, second = RandomResizePad(seed=5), RandomResizePad(seed=5)
    a, b = first(images), second(images)
    assert torch.equal(a, b)
    assert not torch.equal(first(images), a)  # the next draw differs
    unseeded = RandomResizePad()
    assert not torch.equal(unseeded(images), unseeded(images))
    assert not torch.equal(RandomResizePad()(images), RandomResizePad()(images))
    # Zero padding somewhere (the scale is below 1 except by chance), content inside.
    assert bool((a == 0).any())
    fixed = RandomResizePad(1.0, 1.0, seed=0)
    assert torch.equal(fixed(images), images)
    x = images.clone().requires_grad_(True)
    RandomResizePad(0.5, 0.9, seed=1).adaptive(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_random_resize_pad_copies_continue_the_same_draws() -> None:
    import copy
    import pickle

    images = _uint8_images(batch=2, height=30, width=30)
    original = RandomResizePad(0.5, 0.9, seed=7)
    original(images)
    copies = [copy.deepcopy(original), pickle.loads(pickle.dumps(original))]
    expected = original(images)
    for duplicate in copies:
        assert torch.equal(duplicate(images), expected)


def test_parse_defences_defaults_and_round_trips() -> None:
    defences = parse_defences(ALL_SPECS)
    assert [type(d) for d in defences] == [GaussianBlur, MedianFilter, JpegCompression, BitDepth,
                                          RandomResizePad]
    assert ",".join(d.spec for d in defences) == ALL_SPECS
    defaults = parse_defences("blur, median ,jpeg,bits,resize")
    assert [d.spec for d in defaults] == ["blur:1", "median:3", "jpeg:75", "bits:4", "resize"]
    for spec in ["blur:0.75", "median:5", "jpeg:10", "bits:1", "resize:0.7", "resize:0.5-0.9"]:
        (defence,) = parse_defences(spec)
        assert defence.spec == spec
        assert parse_defences(defence.spec)[0].spec == spec
    (resize,) = parse_defences("resize:0.5-0.9")
    assert isinstance(resize, RandomResizePad)
    assert (resize.min_scale, resize.max_scale) == (0.5, 0.9)


@pytest.mark.parametrize(("text", "message"), [
    ("sharpen", r"unknown defence 'sharpen'; defences: blur\[:SIGMA\], median"),
    ("blur:x", r"bad defence 'blur:x': bad value 'x'"),
    ("blur:-1", r"bad defence 'blur:-1': blur sigma must be a positive number"),
    ("median:4", r"median size must be an odd integer >= 3, got 4"),
    ("jpeg:101", r"JPEG quality must be an integer in 1..100, got 101"),
    ("bits:0", r"bit depth must be an integer in 1..8, got 0"),
    ("resize:1.2", r"resize scales need 0 < min <= max <= 1"),
    ("resize:0.9-0.8", r"resize scales need"),
    ("", r"no defences given"),
])
def test_parse_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ChickenSaviourError, match=message) as raised:
        parse_defences(text)
    assert "\n" not in str(raised.value)


def test_defended_classifier_runs_the_defence_then_the_model(images: torch.Tensor) -> None:
    model = make_tiny_classifier()
    defence = GaussianBlur(1.0)
    defended = DefendedClassifier(model, defence)
    # The defence acts on what the network sees: the model's input-size view.
    seen = model.to_input_size(images)
    torch.testing.assert_close(defended(images), model.net(model.normalize(defence(seen))))
    assert not torch.allclose(defended(images), model(defence(images)))
    assert defended.name == "tiny[blur:1]" and defended.identity == "tiny[blur:1]"
    assert defended.classes is model.classes and defended.input_size == model.input_size
    assert defended.device == model.device and defended.fit == "stretch"
    assert not defended.training
    assert len(defended.predict(images, k=2)) == 4
    view = defended.attacker_view()
    assert view.adaptive and view.eot_samples == 1 and view.name == defended.name
    assert view.identity != defended.identity
    cropped = defended.with_fit("crop")
    assert cropped.fit == "crop" and defended.fit == "stretch"
    assert defended.with_fit("stretch") is defended
    with pytest.raises(ChickenSaviourError, match="not a defended one"):
        _ = defended.net


def test_the_naive_view_has_no_useful_gradient_but_the_adaptive_one_does(
        images: torch.Tensor) -> None:
    model = make_tiny_classifier()
    naive = DefendedClassifier(model, BitDepth(4))
    x = images.clone().requires_grad_(True)
    naive(x)[:, 0].sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) == 0.0
    adaptive = naive.attacker_view()
    x = images.clone().requires_grad_(True)
    adaptive(x)[:, 0].sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0.0


def test_eot_averages_the_logits_of_several_draws(images: torch.Tensor) -> None:
    model = make_tiny_classifier()
    defended = DefendedClassifier(model, RandomResizePad(0.5, 0.9, seed=2))
    view = defended.attacker_view()
    assert view.eot_samples == 8
    out = view(images)
    reference = RandomResizePad(0.5, 0.9, seed=2)
    draws = reference(model.to_input_size(images).repeat(8, 1, 1, 1))
    expected = model.net(model.normalize(draws)).view(8, 4, -1).mean(0)
    torch.testing.assert_close(out, expected)
    with pytest.raises(ChickenSaviourError, match="eot_samples must be a positive integer"):
        DefendedClassifier(model, GaussianBlur(), eot_samples=0)


def test_a_defended_ensemble(images: torch.Tensor) -> None:
    ensemble = EnsembleClassifier([make_tiny_classifier(0), make_tiny_classifier(1)])
    defended = DefendedClassifier(ensemble, JpegCompression(50))
    assert defended.name == "tiny+tiny[jpeg:50]"
    assert defended(images).shape == (4, 10)


def test_defence_base_is_abstract_enough() -> None:
    assert isinstance(GaussianBlur(), Defence)
    assert not GaussianBlur().random and RandomResizePad().random


@pytest.mark.pretrained
def test_blur_undoes_the_naive_attack_but_not_the_adaptive_one() -> None:
    """The seed's finding (blur counters PGD made on the bare model) and Athalye et al.'s
    answer (an attacker who differentiates through the blur wins again)."""
    from chickensaviour.attacks import PGD, untargeted
    from chickensaviour.models import load_model
    from tests.conftest import require_weights

    require_weights("mobilenet_v2")
    model = load_model("mobilenet_v2", device="cpu")
    names = ["chelsea", "coffee", "astronaut", "camera"]
    photos = [read_image(SAMPLES / f"{name}.png") for name in names]
    # 256 so the model's 0.875 centre crop is its 224 input: the blur then acts at the
    # network's resolution. (At the photos' own 300-600 px the downscaling inside the
    # model already smooths, and blur:1.5 undoes none of the four attacks.)
    side = 256
    images = torch.cat([torch.nn.functional.interpolate(p, size=(side, side), mode="bilinear",
                                                        antialias=True) for p in photos])
    images = images.clamp(0, 1)
    defended = DefendedClassifier(model, GaussianBlur(1.5))
    labels = model.probabilities(images).argmax(1)
    kept = defended.probabilities(images).argmax(1) == labels  # the blur keeps these right
    assert int(kept.sum()) >= 3
    attack = PGD(eps=8 / 255, steps=10, seed=0)
    goal = untargeted(labels)
    naive = attack(model, images, goal)
    fooled_bare = (model.probabilities(naive).argmax(1) != labels)[kept]
    naive_success = (defended.probabilities(naive).argmax(1) != labels)[kept]
    adaptive = attack(defended.attacker_view(), images, goal)
    adaptive_success = (defended.probabilities(adaptive).argmax(1) != labels)[kept]
    rates = [float(r.float().mean()) for r in (fooled_bare, naive_success, adaptive_success)]
    print(f"bare {rates[0]:.2f}, naive through blur {rates[1]:.2f}, adaptive {rates[2]:.2f}")
    assert rates[0] == 1.0
    assert rates[1] <= 0.25
    assert rates[2] == 1.0
