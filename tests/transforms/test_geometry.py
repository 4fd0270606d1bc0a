"""Geometric transforms: exact identities, float64 gradients, known values, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from chickensaviour.transforms import geometry as geo
from tests.transforms.helpers import gradcheck


def rand(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.fixture
def images() -> torch.Tensor:
    return rand(2, 3, 8, 8)


OPS_AT_IDENTITY = {
    "rotate": lambda x, b: geo.rotate(x, torch.zeros(b)),
    "rotate float": lambda x, b: geo.rotate(x, 0.0, padding_mode="reflection"),
    "scale": lambda x, b: geo.scale(x, torch.ones(b)),
    "translate": lambda x, b: geo.translate(x, torch.zeros(b, 2)),
    "perspective": lambda x, b: geo.perspective(x, torch.zeros(b, 4, 2)),
    "roll": lambda x, b: geo.roll(x, 0, 0),
    "pad": lambda x, b: geo.pad(x, 0),
    "resize": lambda x, b: geo.resize(x, (x.shape[-2], x.shape[-1])),
}


@pytest.mark.parametrize("name", OPS_AT_IDENTITY)
def test_identity_is_exact(name: str, images: torch.Tensor):
    for x in (images, images.float()):
        assert torch.equal(OPS_AT_IDENTITY[name](x, x.shape[0]), x)


@pytest.mark.parametrize("op, params", [
    (geo.rotate, torch.tensor([0.0, 0.3])),
    (geo.scale, torch.tensor([1.0, 1.3])),
    (geo.translate, torch.tensor([[0.0, 0.0], [0.4, -1.2]])),
    (geo.perspective, torch.tensor([[[0.0] * 2] * 4, [[0.1, 0.0], [0.0, 0.1], [0.0, 0.0],
                                                       [-0.1, 0.05]]])),
])
def test_identity_is_exact_per_sample_in_a_mixed_batch(op, params, images: torch.Tensor):
    x = images.clone().requires_grad_(True)
    out = op(x, params)
    assert torch.equal(out[0], images[0]) and not torch.allclose(out[1], images[1])
    out[0].sum().backward()  # the identity sample's image gradient is the identity's
    assert torch.allclose(x.grad[0], torch.ones_like(x.grad[0])) and x.grad[1].abs().sum() == 0


def test_corner_helpers_identity_and_golden_values():
    corners = geo.square_corners(torch.tensor([[8.0, 6.0]]), torch.tensor([4.0]), torch.zeros(1))
    expected = torch.tensor([[[6.0, 4.0], [10.0, 4.0], [10.0, 8.0], [6.0, 8.0]]])
    assert torch.allclose(corners, expected)
    # 90 degrees counter-clockwise as displayed: the top-left corner goes to the bottom-left.
    turned = geo.square_corners(torch.tensor([[8.0, 6.0]]), torch.tensor([4.0]),
                                torch.tensor([math.pi / 2]))
    assert torch.allclose(turned, expected[:, [3, 0, 1, 2]], atol=1e-6)
    assert torch.equal(geo.tilt_corners(corners, torch.zeros(1, 4, 2)), corners)
    tilted = geo.tilt_corners(corners, torch.tensor([[[0.25, 0.0], [0.0] * 2, [0.0] * 2,
                                                      [0.0] * 2]]))
    assert torch.allclose(tilted[0, 0], torch.tensor([7.0, 4.0]))  # 0.25 of the side 4


def test_gradients_float64(images: torch.Tensor):
    x = images.clone().requires_grad_(True)
    angle = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    factor = torch.tensor([1.3, 0.8], dtype=torch.float64, requires_grad=True)
    shift = torch.tensor([[0.4, -1.3], [2.2, 0.7]], dtype=torch.float64, requires_grad=True)
    offsets = (0.1 * rand(2, 4, 2, seed=1) - 0.05).requires_grad_(True)
    assert gradcheck(geo.rotate, (x, angle))
    assert gradcheck(geo.scale, (x, factor))
    assert gradcheck(geo.translate, (x, shift))
    assert gradcheck(geo.perspective, (x, offsets))
    assert gradcheck(lambda a: geo.rotate(a, angle.detach(), padding_mode="reflection"), (x,))


def test_warp_patch_gradients_float64():
    images = rand(2, 3, 10, 10, seed=2).requires_grad_(True)
    patch = rand(1, 3, 4, 4, seed=3).requires_grad_(True)
    centre = torch.tensor([[4.8, 5.3], [5.1, 4.4]], dtype=torch.float64, requires_grad=True)
    side = torch.tensor([4.7, 3.9], dtype=torch.float64, requires_grad=True)
    angle = torch.tensor([0.2, -0.4], dtype=torch.float64, requires_grad=True)
    offsets = (0.1 * rand(2, 4, 2, seed=4) - 0.05).requires_grad_(True)

    def paste(images, patch, centre, side, angle, offsets):
        corners = geo.tilt_corners(geo.square_corners(centre, side, angle), offsets)
        composite, mask = geo.warp_patch(images, patch, corners)
        return composite, mask

    assert gradcheck(paste, (images, patch, centre, side, angle, offsets))


def test_rotate_by_a_right_angle_is_rot90():
    x = rand(2, 3, 9, 9, dtype=torch.float32)
    out = geo.rotate(x, math.pi / 2)
    assert (out - torch.rot90(x, 1, dims=(-2, -1))).abs().max() < 1e-5
    assert (geo.rotate(x, -math.pi / 2) - torch.rot90(x, -1, dims=(-2, -1))).abs().max() < 1e-5


def test_integer_translate_shifts_the_interior_and_perspective_can_translate():
    x = rand(1, 3, 8, 10)
    out = geo.translate(x, torch.tensor([[2.0, -1.0]]))  # 2 right, 1 up
    assert torch.allclose(out[..., :-1, 2:], x[..., 1:, :-2], atol=1e-10)
    assert out[..., :, :2].abs().max() == 0  # zeros came in on the left
    # Every corner moved by the same fraction of the size is a translation.
    moved = geo.perspective(x, torch.tensor([[[0.2, -0.125]] * 4]))
    assert torch.allclose(moved, out, atol=1e-10)


def test_scale_keeps_size_and_zooms_about_the_centre():
    x = torch.zeros(1, 3, 9, 9, dtype=torch.float64)
    x[..., 4, 4] = 1.0
    x[..., 4, 6] = 1.0  # two pixels right of the centre
    out = geo.scale(x, 2.0)
    assert out.shape == x.shape and out[0, 0, 4, 4] == pytest.approx(1.0)
    assert out[0, 0, 4, 8] == pytest.approx(1.0)  # now four pixels right
    assert geo.scale(x, 0.5, padding_mode="border").shape == x.shape


def test_warp_patch_reproduces_the_patch_and_masks_its_area():
    patch = rand(1, 3, 6, 6, seed=5)
    corners = torch.tensor([[[0.0, 0.0], [6.0, 0.0], [6.0, 6.0], [0.0, 6.0]]])
    out, mask = geo.warp_patch(torch.zeros(1, 3, 6, 6, dtype=torch.float64), patch, corners)
    assert torch.allclose(out, patch, atol=1e-10) and torch.allclose(mask, torch.ones_like(mask))
    assert out.dtype == torch.float64 and mask.shape == (1, 1, 6, 6)

    frames = rand(2, 3, 40, 40, seed=6)
    centre = torch.tensor([[20.3, 19.6], [15.0, 22.5]])
    corners = geo.square_corners(centre, torch.tensor([10.0, 12.0]), torch.tensor([0.0, 0.5]))
    out, mask = geo.warp_patch(frames, rand(1, 3, 5, 5, seed=7), corners)
    areas = mask.sum(dim=(1, 2, 3))
    assert torch.allclose(areas, torch.tensor([100.0, 144.0], dtype=torch.float64), rtol=0.02)
    assert 0 <= float(mask.min()) and float(mask.max()) <= 1
    outside = mask == 0
    assert torch.equal(out[outside.expand_as(out)], frames[outside.expand_as(frames)])


def test_roll_pad_resize():
    x = rand(1, 3, 4, 5)
    assert torch.equal(geo.roll(x, 2, -1), torch.roll(x, shifts=(-1, 2), dims=(-2, -1)))
    padded = geo.pad(x, 2, value=0.25)
    assert padded.shape == (1, 3, 8, 9) and torch.equal(padded[..., 2:-2, 2:-2], x)
    assert float(padded[0, 0, 0, 0]) == 0.25
    assert geo.resize(x, (8, 10)).shape == (1, 3, 8, 10)


@pytest.mark.parametrize("call, match", [
    (lambda x: geo.rotate(x[0], 0.1), r"\(B, 3, H, W\)"),
    (lambda x: geo.rotate(x[:, :2], 0.1), r"\(B, 3, H, W\)"),
    (lambda x: geo.rotate((x * 255).to(torch.uint8), 0.1), "floating point"),
    (lambda x: geo.rotate(x, torch.zeros(3)), "angle"),
    (lambda x: geo.rotate(x, 0.1, padding_mode="wrap"), "padding_mode"),
    (lambda x: geo.scale(x, torch.tensor([1.0, 0.0])), "positive"),
    (lambda x: geo.translate(x, torch.zeros(2)), "shift"),
    (lambda x: geo.perspective(x, torch.zeros(2, 3, 2)), "offsets"),
    (lambda x: geo.warp_patch(x, x[:1].repeat(3, 1, 1, 1), torch.zeros(2, 4, 2)), "patch"),
    (lambda x: geo.warp_patch(x, x[:1], torch.zeros(1, 4, 2)), "corners"),
    (lambda x: geo.square_corners(torch.zeros(2, 2), -torch.ones(2), torch.zeros(2)), "side"),
    (lambda x: geo.square_corners(torch.zeros(2, 3), torch.ones(2), torch.zeros(2)), "centre"),
    (lambda x: geo.tilt_corners(torch.zeros(2, 4, 2), torch.zeros(2, 4)), "offsets"),
    (lambda x: geo.roll(x, 1.5, 0), "ints"),
    (lambda x: geo.pad(x, -1), "pixels"),
    (lambda x: geo.resize(x, (0, 4)), "size"),
])
def test_bad_input_raises_value_error(call, match: str, images: torch.Tensor):
    with pytest.raises(ValueError, match=match):
        call(images)


def test_modules_match_the_functions(images: torch.Tensor):
    assert torch.equal(geo.Rotate(0.3)(images), geo.rotate(images, 0.3))
    assert torch.equal(geo.Scale(1.2, padding_mode="border")(images),
                       geo.scale(images, 1.2, padding_mode="border"))


def test_an_enlarged_patch_keeps_a_sharp_edge() -> None:
    """Drawn 5x its size, the coverage still goes from 0 to 1 within about one pixel."""
    images = torch.zeros(1, 3, 60, 60)
    corners = torch.tensor([[[10.0, 10.0], [50.0, 10.0], [50.0, 50.0], [10.0, 50.0]]])
    _, mask = geo.warp_patch(images, torch.ones(1, 3, 8, 8), corners)
    row = mask[0, 0, 30]
    assert float(row[:9].max()) < 1e-3 and float(row[11:49].min()) > 0.999
    assert float(row[51:].max()) < 1e-3


def test_a_tilt_whose_horizon_crosses_the_image_stays_finite() -> None:
    """These corners (from a hide-patch training run that stopped with a NaN loss) put
    the homography's horizon across a 320 x 320 frame: kornia's warp gave NaN pixels."""
    corners = torch.tensor([[[132.281494140625, 125.40494537353516],
                             [183.1033935546875, 119.8607177734375],
                             [184.4083709716797, 168.79542541503906],
                             [145.6842803955078, 178.5488739013672]]])
    patch = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    patch.requires_grad_(True)
    out, mask = geo.warp_patch(torch.zeros(1, 3, 320, 320), patch, corners)
    assert bool(torch.isfinite(out).all()) and bool(torch.isfinite(mask).all())
    out.sum().backward()
    assert patch.grad is not None and bool(torch.isfinite(patch.grad).all())
    inside = mask[0, 0, 140:160, 150:170]
    assert float(inside.min()) > 0.99 and float(mask[0, 0, :100].max()) == 0
