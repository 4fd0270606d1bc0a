"""What a layer computes for an image, and what the first layer's kernels look like."""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib import colormaps
from torch import nn

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.wrapper import ImageClassifier, check_images
from chickensaviour.visualize.layers import captured, find_layer


@torch.no_grad()
def layer_output(model: ImageClassifier, image: torch.Tensor, layer: str) -> torch.Tensor:
    """The layer's activations ``(C, h, w)`` for one image, seen at the model's input size
    (fit as the model fits images)."""
    check_images(image)
    find_layer(model.net, layer)
    with captured(model.net, [layer]) as outputs:
        model.net(model.preprocess(image[:1].to(model.device)))
    output = outputs[layer][0]
    if output.dim() != 3:
        raise ChickenSaviourError(f"layer {layer!r} outputs shape {tuple(output.shape)}, "
                                  "not channel maps; pick a convolutional layer")
    return output.float().cpu()


def parse_channels(text: str | None, count: int) -> range:
    """``"0:64"`` -> range(0, 64), clipped to ``count``; ``None`` -> the first 64."""
    if text is None:
        return range(min(64, count))
    try:
        start_text, _, stop_text = text.partition(":")
        start = int(start_text) if start_text else 0
        stop = int(stop_text) if stop_text else (start + 1 if ":" not in text else count)
    except ValueError:
        raise ChickenSaviourError(f"channels must look like 0:64 or 5, got {text!r}") from None
    if not 0 <= start < count or stop <= start:
        raise ChickenSaviourError(f"channels {text!r} do not fit a layer of {count} channels")
    return range(start, min(stop, count))


def activation_grid(activations: torch.Tensor, channels: range, *, tile: int = 96,
                    colormap: str = "viridis") -> torch.Tensor:
    """Channel maps side by side, each scaled to its own range and coloured:
    ``(1, 3, H, W)`` in ``[0, 1]`` with a 2-pixel dark gap between tiles."""
    maps = activations[list(channels)]
    low = maps.flatten(1).min(dim=1).values.view(-1, 1, 1)
    high = maps.flatten(1).max(dim=1).values.view(-1, 1, 1)
    scaled = (maps - low) / (high - low).clamp(min=1e-8)
    tiles = torch.nn.functional.interpolate(scaled.unsqueeze(1), size=(tile, tile),
                                            mode="nearest")[:, 0]
    colours = colormaps[colormap](tiles.numpy())[..., :3]  # (N, tile, tile, 3)
    return _grid(torch.from_numpy(np.ascontiguousarray(colours)).float().permute(0, 3, 1, 2))


def first_conv(net: nn.Module) -> nn.Conv2d:
    """The first convolution that reads the 3 image channels."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == 3:
            return module
    raise ChickenSaviourError("the network has no convolution on the RGB input")


def kernel_grid(model: ImageClassifier, *, tile: int = 48) -> torch.Tensor:
    """The first layer's kernels as colour images (each scaled symmetrically around grey
    by its largest absolute weight), in a grid ``(1, 3, H, W)``."""
    weight = first_conv(model.net).weight.detach().float().cpu()  # (C, 3, k, k)
    peak = weight.flatten(1).abs().max(dim=1).values.view(-1, 1, 1, 1).clamp(min=1e-8)
    kernels = 0.5 + 0.5 * weight / peak
    tiles = torch.nn.functional.interpolate(kernels, size=(tile, tile), mode="nearest")
    return _grid(tiles)


def _grid(tiles: torch.Tensor, gap: int = 2) -> torch.Tensor:
    count, _, height, width = tiles.shape
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = torch.full((3, rows * (height + gap) + gap, columns * (width + gap) + gap), 0.1)
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = gap + row * (height + gap), gap + column * (width + gap)
        grid[:, top : top + height, left : left + width] = tiles[index]
    return grid.unsqueeze(0)
