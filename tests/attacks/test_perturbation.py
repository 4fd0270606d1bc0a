from __future__ import annotations

import pytest
import torch

from chickensaviour.attacks.perturbation import (
    amplified_difference,
    channel_difference_strip,
    channel_differences,
    diverging_colormap,
    l2_distance,
    linf_distance,
)
from chickensaviour.errors import ChickenSaviourError


def test_no_change_is_mid_grey() -> None:
    x = torch.rand(2, 3, 5, 5)
    assert torch.allclose(amplified_difference(x, x), torch.full_like(x, 0.5))


def test_amplification_stretches_the_largest_change_to_full_range() -> None:
    x = torch.full((1, 3, 2, 2), 0.5)
    y = x.clone()
    y[0, 0, 0, 0] += 4 / 255
    y[0, 1, 1, 1] -= 2 / 255
    out = amplified_difference(x, y)
    assert float(out[0, 0, 0, 0]) == pytest.approx(1.0)
    assert float(out[0, 1, 1, 1]) == pytest.approx(0.25)
    fixed = amplified_difference(x, y, gain=10.0)
    assert float(fixed[0, 0, 0, 0]) == pytest.approx(0.5 + 40 / 255)


def test_channel_maps_and_distances() -> None:
    x = torch.zeros(1, 3, 2, 3)
    y = x.clone()
    y[0, 2, 1, 2] = 0.25
    assert float(channel_differences(x, y)[0, 2, 1, 2]) == pytest.approx(0.25)
    assert float(linf_distance(x, y)[0]) == pytest.approx(0.25)
    assert float(l2_distance(x, y)[0]) == pytest.approx(0.25)
    strip = channel_difference_strip(x, y, gap=4)
    assert strip.shape == (1, 3, 2, 3 * 3 + 2 * 4)


def test_diverging_colormap_signs() -> None:
    rgb = diverging_colormap(torch.tensor([[-1.0, 0.0, 1.0]]), 1.0)
    assert rgb[:, 0, 0].tolist() == [0.0, 0.0, 1.0]  # negative: blue
    assert rgb[:, 0, 1].tolist() == [1.0, 1.0, 1.0]  # zero: white
    assert rgb[:, 0, 2].tolist() == [1.0, 0.0, 0.0]  # positive: red


def test_shape_mismatch_is_rejected() -> None:
    with pytest.raises(ChickenSaviourError, match="differ in shape"):
        amplified_difference(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 3))
