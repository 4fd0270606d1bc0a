"""Adversarial blocks for live video: the seed's block, refined in context, cached.

A block starts as the deep-chicken-saviour block: a black image pushed towards the decoy
class by negative-epsilon FGSM with the best epsilon of a sweep. On its own such a block
rarely wins against the object around it, so :func:`refine_in_context` continues the
optimisation the way Brown et al. ("Adversarial Patch", 2017) do, with the one patch
trainer: every step pastes the block onto the hunter's views of real regions at random
positions, scales and brightness, and follows the gradient that makes the hunter see
the decoy in the whole region.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from chickensaviour.attacks.patch import make_patch
from chickensaviour.attacks.patch.evaluate import evaluate_classifier_patch
from chickensaviour.attacks.patch.objectives import ClassifierDecoy
from chickensaviour.attacks.patch.placement import PatchSize
from chickensaviour.attacks.patch.scenes import SceneSet, square_crop
from chickensaviour.attacks.patch.trainer import PatchTraining, train_patch
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.wrapper import ImageClassifier
from chickensaviour.progress import ProgressFn, StopFn
from chickensaviour.transforms.print_camera import PrintCameraRanges

logger = logging.getLogger(__name__)

Box = tuple[float, float, float, float]
#: Largest side of a refinement view (pixels).
VIEW_LIMIT = 512
__all__ = ["Context", "FlipStats", "RefineSettings", "flip_rate", "refine_in_context",
           "seed_block", "square_crop"]


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
    # 1 + the light added to the region's view (block included: the trainer's simulation
    # lights the whole view), as a factor range for continuity with earlier settings.
    brightness: tuple[float, float] = (0.85, 1.15)
    noise: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch < 1:
            raise ChickenSaviourError("steps must be >= 0 and batch >= 1")
        if not 0 < self.fraction[0] <= self.fraction[1] <= 1:
            raise ChickenSaviourError(f"fraction range must lie in (0, 1], got {self.fraction}")
        if not (0 <= self.offset[0] <= self.offset[1] <= 1
                and abs(self.offset[0] + self.offset[1] - 1) < 1e-9):
            raise ChickenSaviourError("offset range must be centred on 0.5 inside [0, 1], got "
                                      f"{self.offset}")
        if not 0 < self.brightness[0] <= self.brightness[1] < 2:
            raise ChickenSaviourError(f"brightness range must lie in (0, 2), got "
                                      f"{self.brightness}")


def seed_block(model: ImageClassifier, target: int, size: int = 64) -> torch.Tensor:
    """The seed's block: black image, negative-eps FGSM, best eps of a sweep (one round)."""
    return make_patch(model, target, size, start="black", method="fgsm-sweep", rounds=1).patch


def live_simulation(settings: RefineSettings) -> PrintCameraRanges:
    """The transformations a pasted block meets in the live app: no printer or camera
    (the block is composited digitally), but the tracked box moves and scales, the
    scene's light changes and the frame is noisy."""
    low, high = settings.fraction
    middle = (low + high) / 2
    return replace(PrintCameraRanges.none(), scale=(low / middle, high / middle),
                   brightness=(settings.brightness[0] - 1, settings.brightness[1] - 1),
                   read_noise=(settings.noise, settings.noise))


def patch_training(settings: RefineSettings) -> PatchTraining:
    """:class:`RefineSettings` as the trainer's settings (signed steps, the live ranges)."""
    middle = (settings.fraction[0] + settings.fraction[1]) / 2
    shift = (settings.offset[1] - settings.offset[0]) / 2
    return PatchTraining(steps=settings.steps, batch=settings.batch, optimiser="sign",
                         lr=settings.step_size, size=PatchSize(middle), shift=shift,
                         simulation=live_simulation(settings), seed=settings.seed)


def context_scenes(model: ImageClassifier, contexts: Sequence[Context], *,
                   block_side: int = 0, fraction: float = 1.0) -> SceneSet:
    """The regions of the contexts as square views, labelled with the hunter's clean
    answers.

    The views are at the model's input size, or larger when a ``block_side`` block drawn
    at ``fraction`` of the view would be shrunk below its own resolution there (a 48 px
    model): the block is then drawn at full resolution and the model's wrapper shrinks
    the whole view with antialiasing, as the live app does with the pasted frame.
    """
    if not contexts:
        raise ChickenSaviourError("in-context refinement needs at least one frame and box")
    size = max(model.input_size, min(VIEW_LIMIT, math.ceil(block_side / fraction)))
    scenes = SceneSet.region_views([c.frame.to(model.device) for c in contexts],
                                   [c.box for c in contexts], size)
    with torch.no_grad():
        labels = model.with_fit("stretch").probabilities(scenes.images).argmax(dim=1)
    return scenes.with_labels(labels)


def refine_in_context(model: ImageClassifier, block: torch.Tensor, target: int,
                      contexts: Sequence[Context], settings: RefineSettings | None = None, *,
                      progress: ProgressFn | None = None,
                      should_stop: StopFn | None = None) -> torch.Tensor:
    """Optimise ``block`` so that, pasted into the contexts' boxes, the region reads ``target``.

    The patch trainer (:func:`~chickensaviour.attacks.patch.trainer.train_patch`) on the
    hunter's views of the regions, with the live app's transformations. Returns a new
    block ``(1, 3, S, S)`` in ``[0, 1]``; deterministic for ``settings.seed``.
    ``progress(done, total, loss)`` is called after every step; when ``should_stop()``
    turns true the refinement ends with :class:`OperationCancelled` (the GUI's close
    button). The model is only read (it may be in use on another thread): it must
    already be in eval mode.
    """
    settings = settings or RefineSettings()
    if model.training:
        raise ChickenSaviourError("refine_in_context needs the model in eval mode")
    scenes = context_scenes(model, contexts, block_side=block.shape[-1],
                            fraction=settings.fraction[0])
    trained = train_patch(block, scenes, ClassifierDecoy(model, target),
                          patch_training(settings), progress=progress,
                          should_stop=should_stop,
                          what="block refinement")
    return trained.patch


@dataclass(frozen=True)
class FlipStats:
    """How often a pasted block changed the hunter's answer for the region."""

    trials: int
    flipped: float  # top-1 no longer the region's original top-1
    to_target: float  # top-1 became the decoy


def flip_rate(model: ImageClassifier, block: torch.Tensor, target: int,
              contexts: Sequence[Context], *, trials: int = 64,
              settings: RefineSettings | None = None) -> FlipStats:
    """Paste ``block`` at random placements (held-out seed) and count changed answers."""
    settings = settings or RefineSettings(seed=12345)
    scenes = context_scenes(model, contexts, block_side=block.shape[-1],
                            fraction=settings.fraction[0])
    training = patch_training(settings)
    placements = max(1, -(-trials // len(scenes)))
    report = evaluate_classifier_patch(model, block.to(model.device), scenes, target=target,
                                       size=training.size, simulation=training.simulation,
                                       placements=placements, shift=training.shift,
                                       seed=settings.seed, examples=0)
    return FlipStats(report.patch.trials, report.patch.untargeted,
                     report.patch.targeted or 0.0)
