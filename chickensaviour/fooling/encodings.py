"""How a genome becomes an image: the direct encoding, and the protocol every encoding follows.

Nguyen, Yosinski and Clune ("Deep Neural Networks are Easily Fooled", CVPR 2015) evolve
images in two encodings. The *direct* one has one gene per pixel value, starts from
uniform random noise and mutates with Deb's polynomial mutation at a per-gene rate that
halves every ``half_life`` generations (0.1 halving every 1000 in the paper). The
*CPPN* one (:mod:`chickensaviour.fooling.cppn`) is a small network drawing the image
from pixel coordinates.

An :class:`Encoding` makes random genomes, mutates one genome into a new one (genomes are
never changed in place, so an archive can keep them) and renders a batch of genomes as
float ``(B, C, size, size)`` images in ``[0, 1]`` (``C`` is 1 for grey, 3 for RGB).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from chickensaviour.errors import ChickenSaviourError

#: Grey (MNIST) or RGB.
CHANNEL_CHOICES = (1, 3)


class Encoding(Protocol):
    """Genomes -> images. ``name`` is what ``fool --encoding`` calls it."""

    name: str
    channels: int

    def random(self, count: int, rng: np.random.Generator) -> list[Any]:
        """``count`` new random genomes."""
        ...

    def mutate(self, genome: Any, rng: np.random.Generator, generation: int) -> Any:
        """A mutated copy of ``genome`` (``generation`` drives decaying rates)."""
        ...

    def render(self, genomes: Sequence[Any], size: int) -> torch.Tensor:
        """Float ``(len(genomes), channels, size, size)`` images in ``[0, 1]``."""
        ...


def check_channels(channels: int) -> int:
    if channels not in CHANNEL_CHOICES:
        raise ChickenSaviourError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    return channels


def check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or not 4 <= size <= 1024:
        raise ChickenSaviourError(f"image size must be an integer in 4..1024, got {size!r}")
    return size


def polynomial_mutation(genes: np.ndarray, rng: np.random.Generator, *, rate: float,
                        eta: float, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Deb's polynomial mutation: each gene mutates with probability ``rate``.

    A mutated gene moves by ``delta * (high - low)`` where ``delta`` in ``[-1, 1]`` has
    a density peaked at 0 whose spread shrinks as ``eta`` (the "mutation strength",
    15 in the paper) grows; the result is clipped to ``[low, high]``. Returns a new array.
    """
    if not 0.0 <= rate <= 1.0:
        raise ChickenSaviourError(f"mutation rate must be in [0, 1], got {rate}")
    if eta < 0:
        raise ChickenSaviourError(f"eta must be >= 0, got {eta}")
    out = genes.copy()
    chosen = np.flatnonzero(rng.random(genes.size) < rate)
    if chosen.size == 0:  # always change something: a copy is wasted work
        chosen = rng.integers(0, genes.size, size=1)
    u = rng.random(chosen.size)
    power = 1.0 / (eta + 1.0)
    delta = np.where(u < 0.5, (2.0 * u) ** power - 1.0, 1.0 - (2.0 * (1.0 - u)) ** power)
    flat = out.reshape(-1)
    flat[chosen] = np.clip(flat[chosen] + delta * (high - low), low, high)
    return out


class DirectEncoding:
    """One gene per pixel value: a ``(channels, side, side)`` uint8 array (0..255).

    Genes are 8-bit, as the paper's pixel values were and as a PNG keeps them, so what is
    evolved is exactly what is written (and a 224x224 RGB genome takes 150 kB).

    Args:
        side: the genome's image side (28 for MNIST, 224 for ImageNet).
        channels: 1 (grey) or 3 (RGB).
        rate: the initial per-gene mutation probability (paper: 0.1).
        half_life: generations after which the rate halves (paper: 1000).
        eta: the polynomial mutation's strength (paper: 15; 5, wider steps, fools LeNet
            to 99.99% in fewer generations: ``benchmarks/bench_fooling.py``).

    Example: ``DirectEncoding(28, 1).render(encoding.random(4, rng), 28).shape == (4, 1, 28, 28)``
    """

    name = "direct"

    def __init__(self, side: int, channels: int = 3, *, rate: float = 0.1,
                 half_life: float = 1000.0, eta: float = 5.0) -> None:
        self.side = check_size(side)
        self.channels = check_channels(channels)
        if not 0.0 < rate <= 1.0:
            raise ChickenSaviourError(f"mutation rate must be in (0, 1], got {rate}")
        if half_life <= 0:
            raise ChickenSaviourError(f"half_life must be > 0, got {half_life}")
        if eta < 0:
            raise ChickenSaviourError(f"eta must be >= 0, got {eta}")
        self.rate, self.half_life, self.eta = rate, half_life, eta

    def rate_at(self, generation: int) -> float:
        """The per-gene mutation rate at ``generation``: ``rate * 0.5 ** (g / half_life)``."""
        return self.rate * 0.5 ** (max(generation, 0) / self.half_life)

    def random(self, count: int, rng: np.random.Generator) -> list[np.ndarray]:
        shape = (self.channels, self.side, self.side)
        return [rng.integers(0, 256, size=shape, dtype=np.uint8) for _ in range(count)]

    def mutate(self, genome: np.ndarray, rng: np.random.Generator,
               generation: int) -> np.ndarray:
        self.check(genome)
        genes = polynomial_mutation(genome.astype(np.float32), rng,
                                    rate=self.rate_at(generation), eta=self.eta,
                                    low=0.0, high=255.0)
        return np.rint(genes).astype(np.uint8)

    def check(self, genome: np.ndarray) -> None:
        """Raise unless ``genome`` is a valid genome of this encoding."""
        shape = (self.channels, self.side, self.side)
        if not isinstance(genome, np.ndarray) or genome.shape != shape:
            got = getattr(genome, "shape", type(genome).__name__)
            raise ChickenSaviourError(f"a direct genome is an array {shape}, got {got}")
        if genome.dtype != np.uint8:
            raise ChickenSaviourError(f"a direct genome holds uint8 values, got {genome.dtype}")

    def render(self, genomes: Sequence[np.ndarray], size: int) -> torch.Tensor:
        check_size(size)
        if len(genomes) == 0:
            return torch.empty((0, self.channels, size, size))
        images = torch.from_numpy(np.stack(genomes)).float().div_(255.0)
        if size != self.side:  # the genome is the image: resizing it is a view, not new detail
            images = F.interpolate(images, size=(size, size), mode="bilinear",
                                   align_corners=False, antialias=size < self.side)
        return images.clamp(0.0, 1.0)


def make_encoding(name: str, model: Any) -> Encoding:
    """The encoding called ``name`` ("direct" or "cppn") for ``model``: grey for a grey
    model (``channels == 1``), RGB otherwise; direct genomes at its input size."""
    channels = 1 if getattr(model, "channels", 3) == 1 else 3
    if name == "direct":
        return DirectEncoding(int(model.input_size), channels)
    if name == "cppn":
        from chickensaviour.fooling.cppn import CppnEncoding

        return CppnEncoding(channels)
    raise ChickenSaviourError(f"unknown encoding {name!r}: direct or cppn")
