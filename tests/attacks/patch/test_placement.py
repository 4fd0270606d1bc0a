from __future__ import annotations

import pytest
import torch

from chickensaviour.attacks.patch.placement import PatchSize, paste, simulate_views
from chickensaviour.attacks.patch.scenes import SceneBatch, SceneSet, square_crop
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.transforms.print_camera import PrintCameraRanges, PrintCameraSimulation


def _batch(images: torch.Tensor, boxes: list[list[float]], owners: list[int]) -> SceneBatch:
    return SceneBatch(images, torch.tensor(boxes), torch.tensor(owners),
                      torch.full((len(images),), -1))


def test_paste_puts_a_square_of_the_right_side_at_the_box_centre() -> None:
    batch = _batch(torch.zeros(1, 3, 100, 120), [[20.0, 10.0, 100.0, 90.0]], [0])
    out = paste(batch, torch.ones(1, 3, 8, 8), PatchSize(0.5))  # side 40 at (60, 50)
    covered = out[0, 0] > 0.5
    ys, xs = torch.nonzero(covered, as_tuple=True)
    assert int(xs.min()) == 40 and int(xs.max()) == 79
    assert int(ys.min()) == 30 and int(ys.max()) == 69
    assert float(out[0, 0, :30].abs().max()) < 1e-4


def test_sizes_follow_the_shorter_side_or_the_square_root_of_the_area() -> None:
    boxes = torch.tensor([[0.0, 0.0, 40.0, 10.0]])
    assert float(PatchSize(0.5).sides(boxes)[0]) == 5.0
    assert float(PatchSize(0.5, "sqrt-area").sides(boxes)[0]) == 10.0
    with pytest.raises(ChickenSaviourError, match="fraction"):
        PatchSize(2.0)


def test_every_box_gets_a_copy_and_gradients_reach_the_patch() -> None:
    images = torch.zeros(2, 3, 64, 64)
    batch = _batch(images, [[0, 0, 32, 32], [32, 32, 64, 64], [16, 16, 48, 48]], [0, 0, 1])
    patch = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
    out = paste(batch, patch, PatchSize(0.5))
    assert out[0, :, :32, :32].sum() > 0 and out[0, :, 32:, 32:].sum() > 0
    assert out[1, :, 16:48, 16:48].sum() > 0 and out[1, :, :8, :8].sum() == 0
    out.sum().backward()
    assert patch.grad is not None and patch.grad.abs().sum() > 0


def test_the_digital_simulation_is_the_plain_paste_exactly() -> None:
    images = torch.rand(3, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    batch = _batch(images, [[4, 4, 40, 44], [8, 0, 48, 40], [0, 0, 48, 48]], [0, 1, 2])
    patch = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    simulation = PrintCameraSimulation(PrintCameraRanges.none())
    views = simulate_views(batch, patch, PatchSize(0.5), simulation,
                           torch.Generator().manual_seed(2), shift=0.0)
    assert torch.equal(views, paste(batch, patch, PatchSize(0.5)))


def test_the_full_simulation_stays_in_range_and_is_seeded() -> None:
    images = torch.rand(4, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    batch = _batch(images, [[4, 4, 44, 44]] * 4, [0, 1, 2, 3])
    patch = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    simulation = PrintCameraSimulation(PrintCameraRanges.full())
    first, second = (simulate_views(batch, patch, PatchSize(0.5), simulation,
                                    torch.Generator().manual_seed(5)) for _ in range(2))
    assert torch.equal(first, second)
    assert float(first.min()) >= 0 and float(first.max()) <= 1
    assert not torch.equal(first, paste(batch, patch, PatchSize(0.5)))


def test_region_views_are_the_hunters_square_views_with_the_box_inside() -> None:
    frame = torch.rand(1, 3, 60, 100, generator=torch.Generator().manual_seed(0))
    scenes = SceneSet.region_views([frame], [(30.0, 10.0, 70.0, 50.0)], 20)
    assert scenes.images.shape == (1, 3, 20, 20)
    assert torch.allclose(scenes.box_lists[0], torch.tensor([[0.0, 0.0, 20.0, 20.0]]))
    crop, origin = square_crop(frame, (30.0, 10.0, 70.0, 30.0))  # 40 x 20 -> 40 x 40
    assert crop.shape[-2:] == (40, 40) and origin == (30, 0)
    with pytest.raises(ChickenSaviourError, match="empty"):
        square_crop(frame, (5.0, 5.0, 5.0, 9.0))
