"""Adversarial blocks for live video: the seed's block, refined in context, cached.

A block starts as the deep-chicken-saviour block: a black image pushed towards the decoy
class by negative-epsilon FGSM with the best epsilon of a sweep. On its own such a block
rarely wins against the object around it, so :func:`refine_in_context` continues the
optimisation the way Brown et al. ("Adversarial Patch", 2017) do: every step pastes the
block onto real frames at random positions, scales and brightness, and follows the
gradient that makes the hunter see the decoy in the whole region.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from chickensaviour.attacks.patch import make_patch
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.wrapper import ImageClassifier
from chickensaviour.overlay.compositor import PatchCompositor, Placement
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report

logger = logging.getLogger(__name__)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Context:
    """A real frame ``(1, 3, H, W)`` and the box the block will be pasted into."""

    frame: torch.Tensor
    box: Box


@dataclass(frozen=True)
class RefineSettings:
    """Randomisation of the in-context refinement (expectation over transformation)."""

    steps: int = 40
    batch: int = 8
    step_size: float = 4 / 255
    fraction: tuple[float, float] = (0.35, 0.6)  # patch side / box shorter side
    offset: tuple[float, float] = (0.3, 0.7)  # patch centre, relative to the box
    brightness: tuple[float, float] = (0.75, 1.25)
    noise: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch < 1:
            raise ChickenSaviourError("steps must be >= 0 and batch >= 1")
        if not 0 < self.fraction[0] <= self.fraction[1] <= 1:
            raise ChickenSaviourError(f"fraction range must lie in (0, 1], got {self.fraction}")


def seed_block(model: ImageClassifier, target: int, size: int = 64) -> torch.Tensor:
    """The seed's block: black image, negative-eps FGSM, best eps of a sweep (one round)."""
    return make_patch(model, target, size, start="black", method="fgsm-sweep", rounds=1).patch


def square_crop(frame: torch.Tensor, box: Box) -> tuple[torch.Tensor, tuple[int, int]]:
    """The box's region, widened to a square where the frame allows; and its top-left."""
    height, width = frame.shape[-2:]
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1, 2.0)
    side = min(side, width, height)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = round(min(max(cx - side / 2, 0), width - side))
    top = round(min(max(cy - side / 2, 0), height - side))
    side_i = round(side)
    return frame[:, :, top : top + side_i, left : left + side_i], (left, top)


def random_placements(box: Box, crop_origin: tuple[int, int], crop_side: int, count: int,
                      settings: RefineSettings, generator: torch.Generator) -> list[Placement]:
    """Random patch placements inside ``box``, in the crop's coordinates."""
    x1, y1, x2, y2 = box
    short = min(x2 - x1, y2 - y1)
    values = torch.rand(count, 3, generator=generator)
    placements = []
    for fraction_u, ox, oy in values.tolist():
        fraction = settings.fraction[0] + (settings.fraction[1] - settings.fraction[0]) * fraction_u
        side = max(2, min(round(short * fraction), crop_side))
        cx = x1 + (x2 - x1) * (settings.offset[0] + (settings.offset[1] - settings.offset[0]) * ox)
        cy = y1 + (y2 - y1) * (settings.offset[0] + (settings.offset[1] - settings.offset[0]) * oy)
        left = round(min(max(cx - side / 2 - crop_origin[0], 0), crop_side - side))
        top = round(min(max(cy - side / 2 - crop_origin[1], 0), crop_side - side))
        placements.append(Placement(left, top, side))
    return placements


def refine_in_context(model: ImageClassifier, block: torch.Tensor, target: int,
                      contexts: Sequence[Context], settings: RefineSettings | None = None, *,
                      progress: ProgressFn | None = None,
                      should_stop: StopFn | None = None) -> torch.Tensor:
    """Optimise ``block`` so that, pasted into the contexts' boxes, the region reads ``target``.

    Returns a new block ``(1, 3, S, S)`` in ``[0, 1]``; deterministic for ``settings.seed``.
    ``progress(done, total, loss)`` is called after every step; when ``should_stop()``
    turns true the refinement ends with :class:`OperationCancelled` (the GUI's close
    button). The model is only read (it may be in use on another thread): it must
    already be in eval mode.
    """
    settings = settings or RefineSettings()
    if not contexts:
        raise ChickenSaviourError("in-context refinement needs at least one frame and box")
    judge = model.with_fit("stretch")
    generator = torch.Generator().manual_seed(settings.seed)
    compositor = PatchCompositor(alpha=1.0)
    crops = [square_crop(c.frame.to(model.device), c.box) for c in contexts]
    target_tensor = torch.full((settings.batch,), target, dtype=torch.long, device=model.device)
    patch = block.detach().clone().to(model.device)
    if judge.training:
        raise ChickenSaviourError("refine_in_context needs the model in eval mode")
    for step in range(settings.steps):
        check_stop(should_stop, "block refinement")
        picks = torch.randint(len(contexts), (settings.batch,), generator=generator).tolist()
        patch.requires_grad_(True)
        views = []
        for pick in picks:
            crop, origin = crops[pick]
            side = crop.shape[-1]
            (place,) = random_placements(contexts[pick].box, origin, side, 1, settings,
                                         generator)
            low, high = settings.brightness
            light = low + (high - low) * torch.rand(1, generator=generator)
            view = compositor(crop, patch, [place], brightness=light.to(model.device))
            views.append(judge.to_input_size(view))
        batch = torch.cat(views)
        if settings.noise > 0:
            noise = torch.randn(batch.shape, generator=generator) * settings.noise
            batch = (batch + noise.to(batch.device)).clamp(0.0, 1.0)
        loss = F.cross_entropy(judge(batch), target_tensor)
        (gradient,) = torch.autograd.grad(loss, patch)
        patch = (patch.detach() - settings.step_size * gradient.sign()).clamp(0.0, 1.0)
        report(progress, step + 1, settings.steps, float(loss.detach()))
    return patch.detach()


@dataclass(frozen=True)
class FlipStats:
    """How often a pasted block changed the hunter's answer for the region."""

    trials: int
    flipped: float  # top-1 no longer the region's original top-1
    to_target: float  # top-1 became the decoy


@torch.no_grad()
def flip_rate(model: ImageClassifier, block: torch.Tensor, target: int,
              contexts: Sequence[Context], *, trials: int = 64,
              settings: RefineSettings | None = None) -> FlipStats:
    """Paste ``block`` at random placements (held-out seed) and count changed answers."""
    settings = settings or RefineSettings(seed=12345)
    judge = model.with_fit("stretch")
    generator = torch.Generator().manual_seed(settings.seed)
    compositor = PatchCompositor(alpha=1.0)
    flipped = to_target = 0
    for trial in range(trials):
        context = contexts[trial % len(contexts)]
        crop, origin = square_crop(context.frame.to(model.device), context.box)
        (place,) = random_placements(context.box, origin, crop.shape[-1], 1, settings, generator)
        pasted = compositor(crop, block.to(model.device), [place])
        views = torch.cat([judge.to_input_size(x) for x in (crop, pasted)])
        answers = judge.probabilities(views).argmax(dim=1)
        flipped += int(answers[1] != answers[0])
        to_target += int(answers[1] == target)
    return FlipStats(trials, flipped / trials, to_target / trials)
