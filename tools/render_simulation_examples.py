"""Render a grid of simulated camera views of a printed patch, to eyeball the simulation.

A synthetic colourful patch (a hue wheel, grey steps, a checkerboard and fine stripes) is
printed and placed on a photo with :class:`~chickensaviour.transforms.PrintCameraSimulation`
draws (rotation, tilt, scale), then filmed by the simulated webcam; the views are tiled
into one PNG. Check that the effects look like a printed sheet seen by a cheap webcam:
visible, but neither invisible nor absurd.

    .venv/bin/python tools/render_simulation_examples.py /tmp/sim_examples.png
    .venv/bin/python tools/render_simulation_examples.py out.png --photo my.jpg --seed 3 --reference
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from torchvision.utils import make_grid

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.files import atomic_write_bytes
from chickensaviour.imaging import encode_image, read_image
from chickensaviour.transforms import (
    PrintCameraRanges,
    PrintCameraSimulation,
    SimulationDraw,
    warp_patch,
)

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "chickensaviour" / "assets" / "samples" / "chelsea.png"
VIEWS = 12


def colourful_patch(size: int = 96) -> torch.Tensor:
    """A ``(1, 3, size, size)`` test card: hue wheel, grey steps, checkerboard, stripes."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size),
                            indexing="ij")
    hue = (torch.atan2(ys, xs) / (2 * math.pi)) % 1.0
    radius = (xs**2 + ys**2).sqrt().clamp(max=1.0)
    # HSV -> RGB with value 1 and saturation = radius: f(n) = 1 - s * clip(min(k, 4 - k), 0, 1).
    k = (torch.tensor([5.0, 3.0, 1.0]).view(3, 1, 1) + hue * 6) % 6
    rgb = 1 - radius * torch.minimum(k, 4 - k).clamp(0.0, 1.0)
    card = rgb.clone()
    quarter = size // 4
    steps = torch.linspace(0, 1, 8).repeat_interleave(math.ceil(size / 8))[:size]
    card[:, :quarter // 2, :] = steps  # grey steps along the top
    checker = ((torch.arange(size) // 6)[:, None] + (torch.arange(size) // 6)[None]) % 2
    card[:, -quarter:, :quarter] = checker[-quarter:, :quarter].float()  # bottom-left
    stripes = (torch.arange(size) // 2 % 2).float()
    card[0, -quarter:, -quarter:] = stripes[None, -quarter:]  # fine red/cyan stripes
    card[1:, -quarter:, -quarter:] = 1 - stripes[None, -quarter:]
    return card.unsqueeze(0).clamp(0.0, 1.0)


def simulate(photo: torch.Tensor, patch: torch.Tensor, draw: SimulationDraw,
             simulation: PrintCameraSimulation, generator: torch.Generator) -> torch.Tensor:
    """Print ``patch``, place it on ``photo`` with the draw's geometry and film it."""
    batch = draw.batch
    height, width = photo.shape[-2:]
    sheet = simulation.print_patch(patch, draw)
    centre = torch.tensor([[width / 2, height / 2]]).expand(batch, 2)
    corners = draw.corners(centre, 0.45 * min(height, width))
    scene, _ = warp_patch(photo.expand(batch, -1, -1, -1), sheet, corners)
    return simulation.capture(scene, draw, generator)


def render(photo: torch.Tensor, seed: int, reference: bool) -> torch.Tensor:
    """The grid ``(3, H', W')`` of ``VIEWS`` simulated views (plus the digital one first)."""
    generator = torch.Generator().manual_seed(seed)
    patch = colourful_patch()
    simulation = PrintCameraSimulation(PrintCameraRanges.full())
    views = simulate(photo, patch, simulation.sample(VIEWS, generator), simulation, generator)
    if reference:
        digital = PrintCameraSimulation(PrintCameraRanges.none())
        plain = simulate(photo, patch, digital.sample(1, generator), digital, generator)
        views = torch.cat([plain, views])
    return make_grid(views, nrow=4, padding=4, pad_value=1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="PNG file to write")
    parser.add_argument("--photo", type=Path, default=PHOTO, help="background photo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", action="store_true",
                        help="put the purely digital composite first")
    args = parser.parse_args(argv)
    if args.out.suffix.lower() != ".png":
        print(f"error: {args.out} must end in .png", file=sys.stderr)
        return 2
    try:
        photo = read_image(args.photo)
        grid = render(photo, args.seed, args.reference)
        atomic_write_bytes(args.out, encode_image(grid, ".png"))
    except ChickenSaviourError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
