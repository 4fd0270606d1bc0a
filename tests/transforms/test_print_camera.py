"""Printer, camera and the random print-and-camera simulation."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch
from torch.autograd import gradcheck

from chickensaviour.transforms import (
    CameraResponse,
    NonPrintability,
    PrintCameraRanges,
    PrintCameraSimulation,
    PrintColours,
    SensorNoise,
    Shadow,
    SimulationDraw,
    WhiteBalance,
    camera_response,
    non_printability,
    print_colours,
    printable_colours,
    sensor_noise,
    shadow,
    square_corners,
    tone_curve,
    white_balance,
)

D = torch.float64


def rand(*shape: int, seed: int = 0, low: float = 0.0, high: float = 1.0,
         dtype: torch.dtype = D) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(*shape, generator=generator, dtype=dtype)


def leaf(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.clone().requires_grad_(True)


# --- printer -------------------------------------------------------------------------------


def test_print_colours_identity_is_exact() -> None:
    patch = rand(1, 3, 5, 4, dtype=torch.float32)
    out = print_colours(patch, torch.ones(2, 3), torch.zeros(2, 3), torch.ones(2))
    assert out.shape == (2, 3, 5, 4)
    assert torch.equal(out[0], patch[0]) and torch.equal(out[1], patch[0])
    assert torch.equal(PrintColours(torch.ones(1, 3), torch.zeros(1, 3), 1.0)(patch), patch)


def test_print_colours_maps_black_white_and_grey() -> None:
    white, black = torch.tensor([[0.9, 0.92, 0.95]], dtype=D), torch.full((1, 3), 0.05, dtype=D)
    ends = torch.stack([torch.zeros(3, dtype=D), torch.ones(3, dtype=D)], -1).view(1, 3, 1, 2)
    out = print_colours(ends, white, black, 0.5)
    assert torch.allclose(out[0, :, 0, 0], black[0]) and torch.allclose(out[0, :, 0, 1], white[0])
    red = torch.tensor([1.0, 0.0, 0.0], dtype=D).view(1, 3, 1, 1)
    grey = print_colours(red, torch.ones(1, 3, dtype=D), torch.zeros(1, 3, dtype=D), 0.0)
    assert torch.allclose(grey.flatten(), torch.full((3,), 0.299, dtype=D))


def test_print_colours_gradcheck() -> None:
    args = (leaf(rand(1, 3, 3, 2)), leaf(rand(2, 3, seed=1, low=0.8, high=1.0)),
            leaf(rand(2, 3, seed=2, high=0.1)), leaf(rand(2, seed=3, low=0.6, high=1.0)))
    assert gradcheck(print_colours, args)


def test_print_colours_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="patch"):
        print_colours(torch.rand(1, 4, 2, 2), torch.ones(1, 3), torch.zeros(1, 3), 1.0)
    with pytest.raises(ValueError, match="paper_white"):
        print_colours(torch.rand(1, 3, 2, 2), torch.ones(3), torch.zeros(1, 3), 1.0)
    with pytest.raises(ValueError, match="batch"):
        print_colours(torch.rand(3, 3, 2, 2), torch.ones(2, 3), torch.zeros(2, 3), 1.0)
    with pytest.raises(ValueError, match="ink_saturation"):
        print_colours(torch.rand(1, 3, 2, 2), torch.ones(2, 3), torch.zeros(2, 3), torch.ones(3))


def test_printable_colours_are_the_default_printer_gamut() -> None:
    colours = printable_colours()
    assert colours.shape == (64, 3)
    assert colours.min() >= 0.075 - 1e-6 and colours.max() <= 0.91 + 1e-6
    assert printable_colours(levels=5).shape == (125, 3)
    with pytest.raises(ValueError):
        printable_colours(levels=1)
    with pytest.raises(ValueError):
        printable_colours(paper_white=0.1, black_point=0.2)


def test_non_printability_is_zero_on_printable_colours() -> None:
    colours = printable_colours(dtype=D)
    index = torch.randint(0, 64, (2, 5, 5), generator=torch.Generator().manual_seed(0))
    patch = colours[index].permute(0, 3, 1, 2)
    score = non_printability(patch, colours)
    assert score.shape == (2,)
    assert torch.equal(score, torch.zeros(2, dtype=D))
    assert torch.equal(NonPrintability(colours)(patch), torch.zeros(2, dtype=D))


def test_non_printability_grows_away_from_the_set() -> None:
    colours = torch.tensor([[0.2, 0.2, 0.2], [0.8, 0.8, 0.8]], dtype=D)
    direction = torch.tensor([1.0, -1.0, 0.5], dtype=D)
    steps = [0.0, 0.02, 0.05, 0.1, 0.2]
    scores = [non_printability((colours[0] + t * direction).view(1, 3, 1, 1), colours).item()
              for t in steps]
    assert scores[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(scores))
    assert scores[2] == pytest.approx(0.05 * direction.norm().item(), abs=1e-5)


def test_non_printability_gradient_points_towards_the_set() -> None:
    colours = printable_colours(dtype=D)
    patch = leaf(rand(1, 3, 4, 4, seed=5))
    non_printability(patch, colours).sum().backward()
    assert patch.grad is not None
    pixels = patch.detach().flatten(2)[0].T  # (16, 3)
    nearest = colours[torch.cdist(pixels, colours).argmin(dim=1)]
    towards = (nearest - pixels).T.reshape(1, 3, 4, 4)
    cosine = torch.nn.functional.cosine_similarity(-patch.grad, towards, dim=1)
    assert torch.allclose(cosine, torch.ones_like(cosine))
    stepped = patch.detach() - 0.01 * patch.grad / patch.grad.abs().max()
    assert non_printability(stepped, colours) < non_printability(patch.detach(), colours)


def test_non_printability_gradcheck_and_bad_shapes() -> None:
    colours = rand(6, 3, seed=7)
    assert gradcheck(lambda p: non_printability(p, colours), (leaf(rand(2, 3, 3, 3, seed=8)),))
    with pytest.raises(ValueError, match="colours"):
        non_printability(torch.rand(1, 3, 2, 2), torch.rand(3))
    with pytest.raises(ValueError, match="colours"):
        NonPrintability(torch.rand(0, 3))


# --- camera and light ------------------------------------------------------------------------


def test_camera_ops_identity_is_exact() -> None:
    images = rand(2, 3, 6, 5, dtype=torch.float32)
    assert torch.equal(white_balance(images, torch.ones(2, 3)), images)
    assert torch.equal(WhiteBalance(torch.ones(1, 3))(images), images)
    assert torch.equal(camera_response(images, torch.eye(3), 1.0), images)
    assert torch.equal(CameraResponse(torch.eye(3).expand(2, 3, 3), torch.ones(2))(images), images)
    assert torch.equal(shadow(images, 0.0, torch.tensor([0.3, 2.0]), 0.1), images)
    assert torch.equal(Shadow(torch.zeros(2), 1.0, -0.5)(images), images)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(sensor_noise(images, 0.0, 0.0, generator), images)
    assert torch.equal(SensorNoise(torch.zeros(2), 0.0)(images), images)


def test_white_balance_and_camera_response_values() -> None:
    images = torch.full((1, 3, 1, 1), 0.5, dtype=D)
    gains = torch.tensor([[1.1, 1.0, 0.9]], dtype=D)
    assert torch.allclose(white_balance(images, gains).flatten(), gains[0] * 0.5)
    swap = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=D)
    rgb = torch.tensor([0.2, 0.6, 0.9], dtype=D).view(1, 3, 1, 1)
    out = camera_response(rgb, swap, 2.0).flatten()
    assert torch.allclose(out, torch.tensor([0.36, 0.04, 0.81], dtype=D))


def test_tone_curve_is_continuous_with_a_finite_slope_at_black() -> None:
    x = leaf(torch.tensor([-0.01, 0.0, 1e-3 - 1e-12, 1e-3, 0.5], dtype=D).view(1, 1, 1, 5)
             .expand(1, 3, 1, 5).contiguous())
    out = tone_curve(x, 0.8)
    assert out[0, 0, 0, 2].item() == pytest.approx(out[0, 0, 0, 3].item(), rel=1e-6)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_shadow_darkens_one_side_by_its_strength() -> None:
    images = torch.ones(1, 3, 4, 40, dtype=D)
    out = shadow(images, 0.3, 0.0, 0.0, softness=0.01)  # edge down the middle, right side dark
    assert torch.allclose(out[..., :5], torch.ones(1, 3, 4, 5, dtype=D), atol=1e-6)
    assert torch.allclose(out[..., -5:], torch.full((1, 3, 4, 5), 0.7, dtype=D), atol=1e-6)
    everywhere = shadow(images, 0.3, 0.0, -3.0)
    assert torch.allclose(everywhere, torch.full_like(images, 0.7), atol=1e-6)
    with pytest.raises(ValueError, match="softness"):
        shadow(images, 0.3, 0.0, 0.0, softness=0.0)


def test_sensor_noise_grows_with_intensity_and_is_seeded() -> None:
    dark, bright = torch.full((1, 3, 64, 64), 0.04), torch.full((1, 3, 64, 64), 0.81)
    noise = [sensor_noise(x, 0.05, 0.0, torch.Generator().manual_seed(1)) - x
             for x in (dark, bright)]
    ratio = (noise[1].std() / noise[0].std()).item()
    assert ratio == pytest.approx(math.sqrt(0.81 / 0.04), rel=0.1)
    read_only = sensor_noise(dark, 0.0, 0.02, torch.Generator().manual_seed(2)) - dark
    assert read_only.std().item() == pytest.approx(0.02, rel=0.1)
    a = sensor_noise(bright, 0.05, 0.01, torch.Generator().manual_seed(3))
    b = sensor_noise(bright, 0.05, 0.01, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_camera_ops_gradcheck() -> None:
    images = leaf(rand(2, 3, 3, 4, low=0.05, high=1.0))
    gains = leaf(rand(2, 3, seed=1, low=0.8, high=1.2))
    assert gradcheck(white_balance, (images, gains))
    matrix = leaf(torch.eye(3, dtype=D) + rand(2, 3, 3, seed=2, low=-0.05, high=0.05))
    assert gradcheck(camera_response, (images, matrix, leaf(rand(2, seed=3, low=0.8, high=1.25))))
    assert gradcheck(shadow, (images, leaf(rand(2, seed=4, high=0.4)),
                              leaf(rand(2, seed=5, low=-3, high=3)),
                              leaf(rand(2, seed=6, low=-0.5, high=0.5))))

    def noisy(x: torch.Tensor, shot: torch.Tensor, read: torch.Tensor) -> torch.Tensor:
        return sensor_noise(x, shot, read, torch.Generator().manual_seed(9))

    assert gradcheck(noisy, (images, leaf(rand(2, seed=7, high=0.05)),
                             leaf(rand(2, seed=8, high=0.02))))


def test_camera_ops_reject_bad_shapes() -> None:
    with pytest.raises(ValueError, match="images"):
        white_balance(torch.rand(3, 4, 4), torch.ones(1, 3))
    with pytest.raises(ValueError, match="gains"):
        white_balance(torch.rand(2, 3, 4, 4), torch.ones(3, 3))
    with pytest.raises(ValueError, match="matrix"):
        camera_response(torch.rand(2, 3, 4, 4), torch.eye(4), 1.0)
    with pytest.raises(ValueError, match="shot"):
        sensor_noise(torch.rand(2, 3, 4, 4), torch.zeros(3), 0.0)


# --- ranges and draws ------------------------------------------------------------------------


def test_ranges_defaults_none_and_full() -> None:
    full = PrintCameraRanges.full()
    assert full == PrintCameraRanges()
    assert full.paper_white == (0.85, 0.97) and full.jpeg_quality == (40.0, 95.0)
    none = PrintCameraRanges.none()
    assert none.shadow_strength == (0.0, 0.0) and none.jpeg_probability == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.gamma = (1.0, 1.0)  # type: ignore[misc]


@pytest.mark.parametrize("bad", [
    {"gamma": (1.25, 0.8)}, {"brightness": (0.2, -0.2)}, {"paper_white": (0.9, 1.2)},
    {"black_point": (0.5, 0.9)}, {"ink_saturation": (-0.1, 1.0)}, {"jpeg_quality": (0.0, 50.0)},
    {"jpeg_probability": 1.5}, {"tilt": -0.1}, {"colour_mixing": 0.7}, {"scale": (0.0, 1.0)},
    {"defocus_sigma": (-1.0, 1.0)}, {"gamma": (float("nan"), 1.0)}, {"reference_size": 0},
    {"shot_noise": (0.0, 0.1, 0.2)},
])
def test_ranges_reject_inverted_or_out_of_domain(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PrintCameraRanges(**bad)  # type: ignore[arg-type]


def test_draws_lie_inside_every_range() -> None:
    ranges = PrintCameraRanges()
    draw = PrintCameraSimulation(ranges).sample(4000, torch.Generator().manual_seed(0))
    assert draw.batch == 4000
    within = {
        "paper_white": ranges.paper_white, "black_point": ranges.black_point,
        "ink_saturation": ranges.ink_saturation, "shadow_strength": ranges.shadow_strength,
        "shadow_offset": ranges.shadow_offset, "brightness": ranges.brightness,
        "contrast": ranges.contrast, "white_balance": ranges.white_balance,
        "gamma": ranges.gamma, "defocus_sigma": ranges.defocus_sigma,
        "motion_length": ranges.motion_length, "shot_noise": ranges.shot_noise,
        "read_noise": ranges.read_noise, "jpeg_quality": ranges.jpeg_quality,
        "scale": ranges.scale, "tilt": (-ranges.tilt, ranges.tilt),
        "rotation": tuple(math.radians(d) for d in ranges.rotation_degrees),
        "shadow_angle": (-math.pi, math.pi), "motion_angle": (0.0, math.pi),
    }
    for name, (low, high) in within.items():
        value = getattr(draw, name)
        assert value.min() >= low - 1e-6 and value.max() <= high + 1e-6, name
        # the draws fill the range: both ends come within 5% of its width
        assert value.min() <= low + 0.05 * (high - low) + 1e-6, name
        assert value.max() >= high - 0.05 * (high - low) - 1e-6, name
    off_diagonal = draw.colour_matrix * (1 - torch.eye(3))
    assert off_diagonal.abs().max() <= ranges.colour_mixing + 1e-6
    assert torch.allclose(draw.colour_matrix.sum(dim=2), torch.ones(4000, 3), atol=1e-5)
    assert (draw.black_point < draw.paper_white).all()
    assert draw.jpeg_applied.float().mean().item() == pytest.approx(0.5, abs=0.05)


def test_simulation_with_none_is_exactly_the_identity() -> None:
    simulation = PrintCameraSimulation(PrintCameraRanges.none())
    generator = torch.Generator().manual_seed(0)
    draw = simulation.sample(3, generator)
    patch = rand(1, 3, 8, 8, dtype=torch.float32)
    sheet = simulation.print_patch(patch, draw)
    assert sheet.shape == (3, 3, 8, 8) and torch.equal(sheet, patch.expand(3, -1, -1, -1))
    scenes = rand(3, 3, 20, 24, seed=1, dtype=torch.float32)
    scenes[0, 0, 0, :2] = torch.tensor([0.0, 1.0])
    assert torch.equal(simulation.capture(scenes, draw, generator), scenes)
    centre, side = torch.tensor([[10.0, 12.0]]).expand(3, 2), torch.full((3,), 8.0)
    assert torch.equal(draw.corners(centre, side), square_corners(centre, side, torch.zeros(3)))


def test_simulation_outputs_stay_in_range_and_are_seeded() -> None:
    simulation = PrintCameraSimulation(PrintCameraRanges(jpeg_probability=0.5))
    patch = rand(1, 3, 16, 16, seed=2, dtype=torch.float32)
    scenes = rand(6, 3, 32, 32, seed=3, dtype=torch.float32)

    def run(seed: int) -> tuple[SimulationDraw, torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        draw = simulation.sample(6, generator)
        sheet = simulation.print_patch(patch, draw)
        return draw, sheet, simulation.capture(scenes, draw, generator)

    draw, sheet, photo = run(0)
    assert sheet.min() >= 0.03 * (1 - 0.35) - 1e-6 and sheet.max() <= 0.97 + 1e-6  # shadow
    assert photo.shape == scenes.shape and photo.min() >= 0.0 and photo.max() <= 1.0
    assert not torch.equal(photo, scenes)
    again = run(0)
    assert all(torch.equal(getattr(draw, f.name), getattr(again[0], f.name))
               for f in dataclasses.fields(draw) if f.name != "reference_size")
    assert torch.equal(sheet, again[1]) and torch.equal(photo, again[2])
    assert not torch.equal(photo, run(1)[2])


def test_simulation_is_differentiable() -> None:
    ranges = PrintCameraRanges(jpeg_probability=1.0)
    simulation = PrintCameraSimulation(ranges)
    generator = torch.Generator().manual_seed(4)
    draw = simulation.sample(2, generator)
    patch = leaf(rand(1, 3, 16, 16, seed=5, low=0.2, high=0.8, dtype=torch.float32))
    sheet = simulation.print_patch(patch, draw)
    photo = simulation.capture(sheet, draw, generator)
    photo.sum().backward()
    assert patch.grad is not None and torch.isfinite(patch.grad).all()
    assert patch.grad.abs().sum() > 0


def test_simulation_gradcheck_float64() -> None:
    simulation = PrintCameraSimulation(PrintCameraRanges(jpeg_probability=0.0))
    draw = simulation.sample(2, torch.Generator().manual_seed(6), dtype=D)
    patch = leaf(rand(1, 3, 4, 4, seed=7, low=0.3, high=0.7))
    assert gradcheck(lambda p: simulation.print_patch(p, draw), (patch,))

    def film(x: torch.Tensor) -> torch.Tensor:
        return simulation.capture(x, draw, torch.Generator().manual_seed(8))

    # fast mode checks one random projection of the Jacobian: the full one takes a minute.
    assert gradcheck(film, (leaf(rand(2, 3, 8, 8, seed=9, low=0.3, high=0.7)),), fast_mode=True)


def test_simulation_rejects_bad_shapes() -> None:
    simulation = PrintCameraSimulation()
    draw = simulation.sample(2, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="patch"):
        simulation.print_patch(torch.rand(3, 3, 4, 4), draw)
    with pytest.raises(ValueError, match="images"):
        simulation.capture(torch.rand(3, 3, 8, 8), draw)
    with pytest.raises(ValueError, match="images"):
        simulation.capture(torch.rand(2, 1, 8, 8), draw)
    with pytest.raises(ValueError, match="batch"):
        simulation.sample(0)
    with pytest.raises(ValueError, match="tilt"):
        dataclasses.replace(draw, tilt=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="centre"):
        draw.corners(torch.zeros(3, 2), 8.0)


# --- the fast paths against the plain sequence of ops ------------------------------------------


def test_camera_response_identity_is_exact_per_sample_with_gradients() -> None:
    images = rand(3, 3, 5, 6, seed=20)
    swap = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=D)
    matrices = leaf(torch.stack([torch.eye(3, dtype=D), swap, torch.eye(3, dtype=D)]))
    out = camera_response(images, matrices, 1.0)
    assert torch.equal(out[[0, 2]], images[[0, 2]])
    assert torch.allclose(out[1], images[1, [1, 0, 2]])
    # The identity samples keep the product's gradients, the matrix's included.
    assert gradcheck(lambda x, m: camera_response(x, m, 1.0), (leaf(images), matrices))


def test_tone_curve_second_derivatives_and_slope_at_the_toe() -> None:
    x = leaf(rand(2, 3, 3, 4, seed=21, low=-0.05, high=1.0))
    gamma = leaf(torch.tensor([0.8, 2.2], dtype=D))
    assert torch.autograd.gradgradcheck(tone_curve, (x, gamma))
    at_toe = leaf(torch.full((1, 3, 1, 1), 1e-3, dtype=D))
    tone_curve(at_toe, 0.8).sum().backward()
    assert at_toe.grad is not None
    assert torch.allclose(at_toe.grad, torch.full_like(at_toe, 0.8 * 1e-3 ** -0.2))


def test_capture_equals_the_ops_in_sequence() -> None:
    from chickensaviour.transforms.compression import jpeg
    from chickensaviour.transforms.photometric import (
        brightness,
        contrast,
        gaussian_blur,
        motion_blur,
    )

    simulation = PrintCameraSimulation(PrintCameraRanges(jpeg_probability=0.5))
    draw = simulation.sample(6, torch.Generator().manual_seed(11), dtype=D)
    assert 0 < int(draw.jpeg_applied.sum()) < 6  # both JPEG paths
    scenes = rand(6, 3, 32, 40, seed=12)
    photo = simulation.capture(scenes, draw, torch.Generator().manual_seed(13))
    from chickensaviour.transforms.geometry import perspective

    x = perspective(scenes, draw.view, padding_mode="border")
    x = contrast(brightness(x, draw.brightness), draw.contrast)
    pixels = 32 / draw.reference_size
    x = gaussian_blur(x, draw.defocus_sigma * pixels)
    x = motion_blur(x, draw.motion_length * pixels, draw.motion_angle)
    x = sensor_noise(x, draw.shot_noise, draw.read_noise, torch.Generator().manual_seed(13))
    x = white_balance(x.clamp(0, 1), draw.white_balance)
    x = camera_response(x, draw.colour_matrix, draw.gamma).clamp(0, 1)
    applied = draw.jpeg_applied
    x[applied] = jpeg(x[applied], draw.jpeg_quality[applied])
    assert torch.allclose(photo, x.clamp(0, 1), atol=1e-9)


def test_sensor_noise_matches_its_formula_to_second_order() -> None:
    images = rand(2, 3, 4, 5, seed=22)
    images[0, 0, 0, :2] = torch.tensor([0.0, 1e-7])  # below the sqrt floor
    shot, read = leaf(torch.tensor([0.03, 0.01], dtype=D)), leaf(torch.tensor([0.02, 0.0], dtype=D))

    def noisy(x: torch.Tensor, s: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return sensor_noise(x, s, r, torch.Generator().manual_seed(4))

    normal = torch.randn((2, 2, 3, 4, 5), generator=torch.Generator().manual_seed(4), dtype=D)
    expected = (images + shot[:, None, None, None] * images.clamp_min(1e-6).sqrt() * normal[0]
                + read[:, None, None, None] * normal[1])
    assert torch.allclose(noisy(images, shot, read), expected, atol=1e-15)
    assert torch.autograd.gradgradcheck(noisy, (leaf(images.clamp_min(1e-3)), shot, read))


def test_the_view_zooms_in_and_tilts_within_its_ranges_and_fixed_view_turns_it_off() -> None:
    ranges = PrintCameraRanges(view_tilt=0.0, view_zoom=(1.5, 1.5))
    draw = PrintCameraSimulation(ranges).sample(1, torch.Generator().manual_seed(0), dtype=D)
    assert torch.allclose(draw.view[0], torch.tensor([[-0.25, -0.25], [0.25, -0.25],
                                                      [0.25, 0.25], [-0.25, 0.25]], dtype=D))
    image = torch.zeros(1, 3, 40, 40, dtype=D)
    image[..., 15:25, 15:25] = 1.0  # a 10 px square at the centre
    zoomed = PrintCameraSimulation(replace_none(view_zoom=(1.5, 1.5))).capture(
        image, PrintCameraSimulation(replace_none(view_zoom=(1.5, 1.5))).sample(
            1, torch.Generator().manual_seed(0), dtype=D))
    assert 13.5 <= float((zoomed[0, 0] > 0.5).sum()) ** 0.5 <= 16.5  # 1.5 x as wide
    draws = PrintCameraSimulation().sample(2000, torch.Generator().manual_seed(1), dtype=D)
    zoom_part = draws.view.abs().amax(dim=(1, 2))
    assert float(zoom_part.max()) <= 0.05 + 0.15 / 2 + 1e-9
    fixed = PrintCameraRanges.full().fixed_view()
    assert fixed.view_tilt == 0.0 and fixed.view_zoom == (1.0, 1.0)
    assert fixed.jpeg_quality == PrintCameraRanges.full().jpeg_quality


def replace_none(**changes: object) -> PrintCameraRanges:
    return dataclasses.replace(PrintCameraRanges.none(), **changes)
