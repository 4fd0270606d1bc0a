"""The one patch trainer: expectation over transformation on any scenes and objective.

Every step draws a batch of scenes, pastes the patch on their boxes through a random
print-and-camera draw (:func:`~.placement.simulate_views`), and moves the patch against
the objective's loss, plus optional printability (Sharif et al.'s non-printability
score) and smoothness (total variation) terms. The simulation ranges decide how hard
the world is: :meth:`PrintCameraRanges.none` gives a purely digital patch,
:meth:`PrintCameraRanges.full` one meant to be printed and filmed.

Used by the live block refinement (:mod:`chickensaviour.overlay.blocks`), hide patches
(:mod:`chickensaviour.attacks.hide`) and the ``patch`` command.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import torch

from chickensaviour.attacks.patch.objectives import PatchObjective
from chickensaviour.attacks.patch.placement import PatchSize, simulate_views
from chickensaviour.attacks.patch.scenes import SceneBatch
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report
from chickensaviour.transforms.print_camera import PrintCameraRanges, PrintCameraSimulation
from chickensaviour.transforms.printer import non_printability, printable_colours

logger = logging.getLogger(__name__)

Optimiser = Literal["adam", "sign"]


class SceneSource(Protocol):
    """Where training scenes come from (photos, video frames, live regions)."""

    def __len__(self) -> int: ...

    def sample(self, count: int, generator: torch.Generator) -> SceneBatch: ...


@dataclass(frozen=True)
class PatchTraining:
    """How :func:`train_patch` optimises.

    Args:
        steps: optimisation steps (one batch each).
        batch: scenes per step.
        optimiser: "adam" (learning rate ``lr``) or "sign" (signed gradient steps of
            ``lr``, the PGD update, quick for few steps).
        size: the patch side relative to each box.
        shift: the patch centre moves up to this fraction of the box in x and y.
        simulation: the print-and-camera ranges drawn from at every step.
        printability: weight of the non-printability score (0: off).
        smoothness: weight of the total variation (0: off).
        seed: the whole run is deterministic for it.
    """

    steps: int = 300
    batch: int = 8
    optimiser: Optimiser = "adam"
    lr: float = 0.02
    size: PatchSize = field(default_factory=PatchSize)
    shift: float = 0.1
    simulation: PrintCameraRanges = field(default_factory=PrintCameraRanges.full)
    printability: float = 0.0
    smoothness: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch < 1:
            raise ChickenSaviourError("steps must be >= 0 and batch >= 1")
        if self.optimiser not in ("adam", "sign"):
            raise ChickenSaviourError(f"optimiser must be adam or sign, got {self.optimiser!r}")
        if not self.lr > 0:
            raise ChickenSaviourError(f"learning rate must be > 0, got {self.lr}")
        if self.printability < 0 or self.smoothness < 0:
            raise ChickenSaviourError("loss weights must be >= 0")


@dataclass(frozen=True)
class TrainedPatch:
    """The patch ``(1, 3, S, S)`` in ``[0, 1]``, the objective's mean loss per step and
    the training time."""

    patch: torch.Tensor
    losses: tuple[float, ...]
    seconds: float


def total_variation(patch: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (a scalar)."""
    return ((patch[..., 1:, :] - patch[..., :-1, :]).abs().mean()
            + (patch[..., :, 1:] - patch[..., :, :-1]).abs().mean())


def train_patch(start: torch.Tensor, scenes: SceneSource, objective: PatchObjective,
                training: PatchTraining | None = None, *, progress: ProgressFn | None = None,
                should_stop: StopFn | None = None,
                on_patch: Callable[[torch.Tensor], None] | None = None,
                what: str = "patch training") -> TrainedPatch:
    """Optimise ``start`` ``(1, 3, S, S)`` for ``objective`` on ``scenes``.

    ``progress(step, steps, loss)`` after every step; ``should_stop()`` polled before
    each step cancels with :class:`~chickensaviour.errors.OperationCancelled`;
    ``on_patch(patch)`` (optional) sees a copy of the patch after every step, before
    ``progress`` (to show it growing, or to judge it on held-out scenes). The models
    behind ``objective`` are only read (they may serve another thread). ``what`` names
    the job in the cancellation message ("block refinement cancelled").

    Example: ``train_patch(torch.zeros(1, 3, 64, 64), scenes, ClassifierDecoy(model, 341))``
    """
    training = training or PatchTraining()
    if start.ndim != 4 or start.shape[:2] != (1, 3) or start.shape[-1] != start.shape[-2]:
        raise ChickenSaviourError(f"a patch must be (1, 3, S, S), got {tuple(start.shape)}")
    if not 8 <= start.shape[-1] <= 1024:
        raise ChickenSaviourError(f"patch side must be in 8..1024 pixels, got {start.shape[-1]}")
    if len(scenes) == 0:
        raise ChickenSaviourError("no scenes to train the patch on")
    device = objective.device
    generator = torch.Generator().manual_seed(training.seed)
    simulation = PrintCameraSimulation(training.simulation)
    colours = printable_colours().to(device) if training.printability > 0 else None
    patch = start.detach().clone().to(device).clamp(0, 1).requires_grad_(True)
    optimiser = torch.optim.Adam([patch], lr=training.lr) if training.optimiser == "adam" \
        else None
    losses: list[float] = []
    began = time.perf_counter()
    for step in range(training.steps):
        check_stop(should_stop, what)
        batch = scenes.sample(training.batch, generator).to(device)
        views = simulate_views(batch, patch, training.size, simulation, generator,
                               shift=training.shift)
        goal = objective.loss(views, batch).mean()
        loss = goal
        if colours is not None:
            loss = loss + training.printability * non_printability(patch, colours).mean()
        if training.smoothness > 0:
            loss = loss + training.smoothness * total_variation(patch)
        # Gradients of the patch alone: nothing is written into the models, which other
        # threads may be using (loss.backward() would fill their parameters' .grad).
        (gradient,) = torch.autograd.grad(loss, patch)
        if optimiser is not None:
            patch.grad = gradient
            optimiser.step()
            patch.grad = None
            with torch.no_grad():
                patch.clamp_(0, 1)
        else:
            with torch.no_grad():
                patch -= training.lr * gradient.sign()
                patch.clamp_(0, 1)
        value = float(goal.detach())
        if not math.isfinite(value):
            raise ChickenSaviourError(f"patch training diverged at step {step + 1} (loss {value})")
        losses.append(value)
        if on_patch is not None:
            on_patch(patch.detach().clone())
        report(progress, step + 1, training.steps, value)
    seconds = time.perf_counter() - began
    logger.info("patch trained: %d steps in %.1f s, last loss %.4f", training.steps, seconds,
                losses[-1] if losses else math.nan)
    return TrainedPatch(patch.detach(), tuple(losses), seconds)
