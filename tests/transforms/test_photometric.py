"""Photometric transforms: exact identities, float64 gradients, golden values, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from chickensaviour.transforms import compression as codec
from chickensaviour.transforms import photometric as ph
from tests.transforms.helpers import gradcheck

F64 = torch.float64


def rand(*shape: int, seed: int = 0, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def param(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=F64, requires_grad=True)


@pytest.fixture
def images() -> torch.Tensor:
    return rand(2, 3, 8, 8)


# op(images, identity setting as a (B,) tensor or (B, 3, 3) matrix, a non-identity setting)
OPS = {
    "brightness": (ph.brightness, 0.0, 0.1),
    "contrast": (ph.contrast, 1.0, 0.6),
    "gamma": (ph.gamma, 1.0, 2.2),
    "gaussian_blur": (ph.gaussian_blur, 0.0, 1.2),
    "gaussian_noise": (ph.gaussian_noise, 0.0, 0.1),
}


@pytest.mark.parametrize("name", OPS)
def test_identity_is_exact_whole_batch_and_per_sample(name: str, images: torch.Tensor):
    op, identity, other = OPS[name]
    for x in (images, images.float(), images - 0.25):  # also below 0: nothing is clamped
        assert torch.equal(op(x, identity), x)
        assert torch.equal(op(x, torch.full((2,), identity)), x)
        mixed = op(x, torch.tensor([identity, other]))
        assert torch.equal(mixed[0], x[0]) and not torch.allclose(mixed[1], x[1])


def test_identity_is_exact_for_matrix_and_motion_blur(images: torch.Tensor):
    eye = torch.eye(3)
    assert torch.equal(ph.colour_matrix(images, eye), images)
    mixed = ph.colour_matrix(images, torch.stack([eye, eye.roll(1, dims=0)]))
    assert torch.equal(mixed[0], images[0]) and torch.allclose(mixed[1], images[1].roll(1, 0))
    assert torch.equal(ph.motion_blur(images, 0.0, 0.7), images)
    mixed = ph.motion_blur(images, torch.tensor([0.0, 3.0]), torch.tensor([0.3, 0.3]))
    assert torch.equal(mixed[0], images[0]) and not torch.allclose(mixed[1], images[1])


def test_gradients_float64(images: torch.Tensor):
    x = images.clone().requires_grad_(True)
    assert gradcheck(ph.brightness, (x, param(0.1, -0.2)))
    assert gradcheck(ph.contrast, (x, param(0.7, 1.4)))
    matrix = (torch.eye(3, dtype=F64) + 0.1 * rand(2, 3, 3, seed=1)).requires_grad_(True)
    assert gradcheck(ph.colour_matrix, (x, matrix))
    # Gamma away from 0 (its slope is unbounded there for gamma < 1), including negatives.
    away = (images * 0.8 + 0.1) * torch.tensor([1.0, -1.0], dtype=F64).view(2, 1, 1, 1)
    assert gradcheck(ph.gamma, (away.requires_grad_(True), param(0.5, 2.2)))
    assert gradcheck(ph.gaussian_blur, (x, param(0.8, 1.3)))
    assert gradcheck(ph.motion_blur, (x, param(2.3, 3.6), param(0.3, -1.1)))
    noisy = lambda a, s: ph.gaussian_noise(a, s, torch.Generator().manual_seed(3))  # noqa: E731
    assert gradcheck(noisy, (x, param(0.05, 0.2)))


def test_gradients_at_the_identity_settings(images: torch.Tensor):
    # Exact identity values keep the op's own gradients, parameters included.
    x = images.clone().requires_grad_(True)
    assert gradcheck(ph.contrast, (x, param(1.0, 2.0)))
    eyes = torch.eye(3, dtype=F64).repeat(2, 1, 1).requires_grad_(True)
    assert gradcheck(ph.colour_matrix, (x, eyes))
    assert gradcheck(lambda a: ph.gaussian_blur(a, torch.tensor([0.0, 1.0])), (x,))
    x = images.clone()
    x[0, 0, 0, :4] = 0.0  # pixels exactly at 0 must not give NaN or stuck gradients
    x.requires_grad_(True)
    g = param(1.0, 2.0)
    out = ph.gamma(x, g)
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(g.grad).all()
    assert torch.equal(x.grad[0], torch.ones_like(x.grad[0]))  # d x / d x, also at 0
    expected = (x[0] * torch.log(x[0].clamp_min(1e-300))).sum().detach()  # d x^g / d g at g = 1
    assert float(g.grad[0]) == pytest.approx(float(expected), rel=1e-9)
    sigma = param(0.0, 1.0)
    blur_input = images.clone().requires_grad_(True)
    ph.gaussian_blur(blur_input, sigma).sum().backward()
    assert torch.equal(blur_input.grad[0], torch.ones_like(blur_input.grad[0]))
    assert torch.isfinite(sigma.grad).all() and float(sigma.grad[0]) == 0.0
    length = param(0.0, 2.0)
    ph.motion_blur(images, length, 0.5).sum().backward()
    assert torch.isfinite(length.grad).all()


def test_golden_values():
    x = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=F64).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    assert torch.allclose(ph.brightness(x, 0.1)[0, 0, 0], torch.tensor([0.1, 0.35, 0.6, 1.1],
                                                                       dtype=F64))
    assert torch.allclose(ph.contrast(x, 0.5)[0, 0, 0],
                          torch.tensor([0.25, 0.375, 0.5, 0.75], dtype=F64))
    assert torch.allclose(ph.gamma(x, 2.0)[0, 0, 0], torch.tensor([0, 0.0625, 0.25, 1],
                                                                  dtype=F64))
    assert torch.allclose(ph.gamma(-x, 0.5)[0, 0, 0], -x[0, 0, 0].sqrt())
    grey = torch.tensor([[0.299, 0.587, 0.114]] * 3)
    out = ph.colour_matrix(torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1), grey)
    assert torch.allclose(out.flatten(), torch.full((3,), 0.299 + 0.5 * 0.587))


def test_blurs_keep_constants_and_act_along_their_direction():
    constant = torch.full((2, 3, 9, 11), 0.3, dtype=F64)
    assert torch.allclose(ph.gaussian_blur(constant, torch.tensor([0.7, 2.5])), constant)
    assert torch.allclose(ph.motion_blur(constant, 4.0, 0.4), constant)
    x = rand(1, 3, 16, 16, seed=2)
    assert ph.gaussian_blur(x, 1.5).std() < x.std()
    # Horizontal motion blur leaves an image that is constant along x alone, and spreads an
    # impulse along x only, conserving its sum.
    rows = rand(1, 3, 12, 1, seed=3).expand(1, 3, 12, 12)
    assert torch.allclose(ph.motion_blur(rows, 5.0, 0.0), rows)
    impulse = torch.zeros(1, 3, 15, 15, dtype=F64)
    impulse[..., 7, 7] = 1.0
    spread = ph.motion_blur(impulse, 5.0, 0.0)
    assert float(spread.sum()) == pytest.approx(3.0)
    assert torch.allclose(spread[..., 7, :].sum(), spread.sum())
    assert float(spread[0, 0, 7, 5]) > 0 and float(spread[0, 0, 7, 3]) == 0.0
    vertical = ph.motion_blur(impulse, 5.0, math.pi / 2)
    assert torch.allclose(vertical, spread.transpose(-1, -2), atol=1e-12)


def test_noise_is_reproducible_and_has_its_std():
    x = torch.full((1, 3, 64, 64), 0.5)
    a = ph.gaussian_noise(x, 0.1, torch.Generator().manual_seed(1))
    b = ph.gaussian_noise(x, 0.1, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and float((a - x).std()) == pytest.approx(0.1, rel=0.05)


def smooth(height: int, width: int) -> torch.Tensor:
    y = torch.linspace(0, 1, height).view(1, 1, height, 1)
    x = torch.linspace(0, 1, width).view(1, 1, 1, width)
    return torch.cat([0.2 + 0.6 * x * torch.ones_like(y), 0.3 + 0.4 * y * torch.ones_like(x),
                      0.5 + 0.3 * torch.sin(3 * x + 2 * y)], dim=1)


def test_jpeg_error_grows_as_quality_falls_and_odd_sizes_keep_their_shape():
    x = smooth(32, 32).expand(3, -1, -1, -1)
    out = codec.jpeg(x, torch.tensor([95.0, 50.0, 5.0]))
    errors = (out - x).abs().flatten(1).mean(dim=1)
    assert float(errors[0]) < 0.01 and errors[0] < errors[1] < errors[2]
    odd = smooth(20, 27)
    assert codec.jpeg(odd, 90.0).shape == odd.shape
    assert float((codec.jpeg(odd, 90.0) - odd).abs().mean()) < 0.02


def test_jpeg_gradients_are_finite_and_non_zero():
    # gradcheck is not reasonable here: kornia's differentiable rounding (round(x) + (x -
    # round(x))^3) jumps at every half step, so finite differences straddle discontinuities.
    x = smooth(16, 16).double().expand(2, -1, -1, -1).clone().requires_grad_(True)
    quality = param(80.0, 30.0)
    codec.jpeg(x, quality).square().sum().backward()
    for grad in (x.grad, quality.grad):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_modules_match_the_functions(images: torch.Tensor):
    pairs = [
        (ph.Brightness(0.1), lambda x: ph.brightness(x, 0.1)),
        (ph.Contrast(torch.tensor([0.5, 1.0])), lambda x: ph.contrast(x, torch.tensor([0.5, 1]))),
        (ph.ColourMatrix(torch.eye(3) * 0.9), lambda x: ph.colour_matrix(x, torch.eye(3) * 0.9)),
        (ph.Gamma(2.0), lambda x: ph.gamma(x, 2.0)),
        (ph.GaussianBlur(1.0), lambda x: ph.gaussian_blur(x, 1.0)),
        (ph.MotionBlur(3.0, 0.5), lambda x: ph.motion_blur(x, 3.0, 0.5)),
        (ph.GaussianNoise(0.0), lambda x: x),
        (codec.Jpeg(80.0), lambda x: codec.jpeg(x, 80.0)),
    ]
    for module, function in pairs:
        assert torch.equal(module(images), function(images)), module
    assert ph.Contrast(torch.tensor([0.5, 1.0])).double().factor.dtype == F64  # a buffer


@pytest.mark.parametrize("call, match", [
    (lambda x: ph.brightness(x[0], 0.1), r"\(B, 3, H, W\)"),
    (lambda x: ph.contrast(x[:, :1], 1.1), r"\(B, 3, H, W\)"),
    (lambda x: ph.brightness(x, torch.zeros(3)), "delta"),
    (lambda x: ph.contrast(x, -0.5), "factor"),
    (lambda x: ph.colour_matrix(x, torch.eye(4)), "matrix"),
    (lambda x: ph.colour_matrix(x, torch.eye(3).repeat(3, 1, 1)), "matrix"),
    (lambda x: ph.gamma(x, 0.0), "gamma"),
    (lambda x: ph.gaussian_blur(x, -1.0), "sigma"),
    (lambda x: ph.gaussian_blur(x, torch.tensor([1.0, float("nan")])), "sigma"),
    (lambda x: ph.motion_blur(x, -2.0, 0.0), "length"),
    (lambda x: ph.motion_blur(x, 2.0, float("inf")), "angle"),
    (lambda x: ph.gaussian_noise(x, -0.1), "std"),
    (lambda x: codec.jpeg(x, 0.0), "quality"),
    (lambda x: codec.jpeg(x, torch.tensor([50.0, 101.0])), "quality"),
    (lambda x: codec.jpeg(x, torch.zeros(2, 1)), "quality"),
])
def test_bad_input_raises_value_error(call, match: str, images: torch.Tensor):
    with pytest.raises(ValueError, match=match):
        call(images)


# --- the fast implementations: JPEG against a real codec, blurs against direct filters ------


def opencv_jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """``image`` (1, 3, H, W) through OpenCV's (libjpeg's) encoder and decoder."""
    import cv2

    from chickensaviour.imaging import bgr_to_tensor, tensor_to_bgr

    ok, data = cv2.imencode(".jpg", tensor_to_bgr(image), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bgr_to_tensor(cv2.imdecode(data, cv2.IMREAD_COLOR))


def test_jpeg_is_close_to_opencv_on_a_photo(chelsea: torch.Tensor):
    # chelsea.png is 451 x 300: both sides need the edge padding to multiples of 16.
    ours, real = {}, {}
    for quality in (30, 60, 90):
        real[quality] = opencv_jpeg(chelsea, quality)
        ours[quality] = codec.jpeg(chelsea, float(quality))
        gap = float((ours[quality] - real[quality]).abs().mean())
        # Measured 0.0037, 0.0037, 0.0030 (mean absolute, [0, 1] scale): mostly the decoder's
        # rounding to 8 bits and the cubic rounding, against 0.017-0.008 of JPEG's own error.
        assert gap < 0.01, (quality, gap)
        assert gap < 0.6 * float((real[quality] - chelsea).abs().mean())
    error = {q: float((ours[q] - chelsea).abs().mean()) for q in ours}
    assert error[90] < error[60] < error[30]
    assert ours[60].shape == chelsea.shape
    assert 0.0 <= float(ours[60].min()) and float(ours[60].max()) <= 1.0


def test_jpeg_tables_follow_the_ijg_formula():
    base = torch.tensor(codec._IJG_TABLES, dtype=F64).view(2, 8, 8)
    qualities = [1.0, 10.0, 49.0, 50.0, 75.0, 99.0, 100.0]
    tables = codec._jpeg_tables(torch.tensor(qualities, dtype=F64))
    for quality, table in zip(qualities, tables, strict=True):
        q = int(quality)
        scale = 5000 // q if q < 50 else 200 - 2 * q
        expected = ((base.long() * scale + 50) // 100).clamp(1, 255)
        assert torch.equal(table, expected.to(F64)), quality
    assert torch.equal(tables[3], base)  # quality 50: the base tables themselves
    dct = codec._dct_matrix(tables)
    assert torch.allclose(dct @ dct.T, torch.eye(8, dtype=F64), atol=1e-12)


def test_jpeg_is_per_sample_and_keeps_float64():
    x = smooth(24, 40).double().expand(2, -1, -1, -1)
    both = codec.jpeg(x, torch.tensor([90.0, 20.0], dtype=F64))
    assert both.dtype == F64
    assert torch.allclose(both[0], codec.jpeg(x[:1], 90.0)[0], atol=1e-12)
    assert torch.allclose(both[1], codec.jpeg(x[1:], 20.0)[0], atol=1e-12)


def test_gaussian_blur_equals_the_direct_two_dimensional_filter():
    x = rand(3, 3, 13, 17, seed=4)
    sigma = torch.tensor([0.5, 1.5, 0.9], dtype=F64)
    radius = 5  # ceil(3 * 1.5)
    taps = torch.arange(-radius, radius + 1, dtype=F64)
    kernel = torch.exp(-taps**2 / (2 * sigma.view(-1, 1) ** 2))
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    direct = ph._filter_per_sample(x, kernel[:, :, None] * kernel[:, None, :])
    assert torch.allclose(ph.gaussian_blur(x, sigma), direct, atol=1e-12)


def test_blurs_skip_identity_samples_and_match_blurring_the_others_alone():
    x = rand(3, 3, 12, 14, seed=5)
    length, angle = torch.tensor([3.0, 0.0, 4.5]), torch.tensor([0.4, 1.0, -0.7])
    mixed = ph.motion_blur(x, length, angle)
    assert torch.equal(mixed[1], x[1])
    alone = ph.motion_blur(x[[0, 2]], length[[0, 2]], angle[[0, 2]])
    assert torch.allclose(mixed[[0, 2]], alone, atol=1e-12)
    sigma = torch.tensor([0.0, 1.1, 0.0])
    mixed = ph.gaussian_blur(x, sigma)
    assert torch.equal(mixed[[0, 2]], x[[0, 2]])
    assert torch.allclose(mixed[1], ph.gaussian_blur(x[1:2], 1.1)[0], atol=1e-12)
    # All at the identity with parameters that want gradients: exact values, zero gradients.
    length = param(0.0, 0.0, 0.0)
    out = ph.motion_blur(x, length, 0.3)
    out.sum().backward()
    assert torch.equal(out, x) and torch.equal(length.grad, torch.zeros(3, dtype=F64))
