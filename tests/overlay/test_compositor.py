from __future__ import annotations

import pytest
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.overlay.compositor import PatchCompositor, Placement, placement_in_box


def test_opaque_patch_replaces_exactly_its_square() -> None:
    frame = torch.zeros(1, 3, 10, 12)
    patch = torch.ones(1, 3, 4, 4)
    out = PatchCompositor()(frame, patch, [Placement(left=3, top=2, side=4)])
    assert torch.equal(out[:, :, 2:6, 3:7], torch.ones(1, 3, 4, 4))
    out[:, :, 2:6, 3:7] = 0
    assert torch.equal(out, frame)


def test_alpha_blends_and_none_leaves_the_frame() -> None:
    frames = torch.full((2, 3, 8, 8), 0.2)
    patch = torch.full((1, 3, 2, 2), 1.0)
    out = PatchCompositor(alpha=0.25)(frames, patch, [Placement(0, 0, 4), None])
    assert torch.allclose(out[0, :, :4, :4], torch.full((3, 4, 4), 0.4))
    assert torch.equal(out[1], frames[1])


def test_gradient_reaches_the_patch() -> None:
    patch = torch.rand(1, 3, 6, 6, requires_grad=True)
    out = PatchCompositor()(torch.rand(1, 3, 16, 16), patch, [Placement(5, 5, 9)])
    out.sum().backward()
    assert patch.grad is not None and float(patch.grad.abs().sum()) > 0


def test_brightness_scales_the_patch() -> None:
    out = PatchCompositor()(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 2, 2), 0.5),
                            [Placement(0, 0, 2)], brightness=torch.tensor([1.5]))
    assert torch.allclose(out[0, :, :2, :2], torch.full((3, 2, 2), 0.75))


def test_placement_in_box_centres_and_stays_inside() -> None:
    assert placement_in_box((10, 20, 110, 70), 0.5, 200, 100) == Placement(48, 32, 25)
    edge = placement_in_box((180, 80, 200, 100), 1.0, 190, 95)
    assert edge is not None and edge.left + edge.side <= 190 and edge.top + edge.side <= 95
    assert placement_in_box((0, 0, 2, 2), 0.5, 10, 10) is None
    with pytest.raises(ChickenSaviourError):
        placement_in_box((0, 0, 10, 10), 0.0, 10, 10)


def test_bad_arguments() -> None:
    compositor = PatchCompositor()
    with pytest.raises(ChickenSaviourError, match="outside"):
        compositor(torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 2, 2), [Placement(3, 3, 2)])
    with pytest.raises(ChickenSaviourError, match="placements"):
        compositor(torch.zeros(2, 3, 4, 4), torch.ones(1, 3, 2, 2), [None])
    with pytest.raises(ChickenSaviourError, match="alpha"):
        PatchCompositor(alpha=2.0)
