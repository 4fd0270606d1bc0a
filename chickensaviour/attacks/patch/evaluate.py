"""How well a patch works: success rates under a simulation, beside plain baselines.

Each scene gets the patch at ``placements`` random placements and simulation draws; a
mid-grey and a uniform-noise square of the same size get exactly the same placements and
draws (same seed), so the difference is the patch's content alone. For a classifier:
targeted success (top-1 is the decoy) and untargeted success (top-1 is no longer the
scene's clean class); for a detector: the share of objects still detected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from chickensaviour.attacks.patch.objectives import DetectorHide, still_unseen
from chickensaviour.attacks.patch.placement import PatchSize, simulate_views
from chickensaviour.attacks.patch.scenes import SceneSet
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.wrapper import ImageClassifier
from chickensaviour.transforms.print_camera import PrintCameraRanges, PrintCameraSimulation

BASELINES = ("grey", "noise")


def baseline_patch(kind: str, side: int, *, seed: int = 0) -> torch.Tensor:
    """A plain square ``(1, 3, side, side)``: mid-grey or uniform noise (seeded)."""
    if kind == "grey":
        return torch.full((1, 3, side, side), 0.5)
    if kind == "noise":
        return torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(seed))
    raise ChickenSaviourError(f"baseline must be grey or noise, got {kind!r}")


@dataclass(frozen=True)
class SuccessRates:
    """Shares of trials: top-1 became the target (``None`` when untargeted) and top-1 is
    no longer a protected class (or the clean class)."""

    trials: int
    targeted: float | None
    untargeted: float

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ChickenSaviourError("success rates need at least one trial")


@dataclass(frozen=True)
class Example:
    """One simulated view ``(3, H, W)`` and the hunter's top-1 (class, probability)."""

    view: torch.Tensor
    top1: int
    probability: float


@dataclass(frozen=True)
class ClassifierEvaluation:
    """Rates of the patch and of each baseline (``"grey"``, ``"noise"``), plus examples."""

    patch: SuccessRates
    baselines: dict[str, SuccessRates]
    examples: tuple[Example, ...]


@torch.no_grad()
def evaluate_classifier_patch(model: ImageClassifier, patch: torch.Tensor, scenes: SceneSet, *,
                              target: int | None, size: PatchSize,
                              simulation: PrintCameraRanges, placements: int = 4,
                              shift: float = 0.1, seed: int = 1234, batch: int = 16,
                              examples: int = 16,
                              protected: Sequence[int] | None = None) -> ClassifierEvaluation:
    """Success of ``patch`` on ``scenes`` under ``simulation``.

    Untargeted success: the top-1 is none of ``protected``, or, without those, not the
    scene's clean label (the scenes then need labels).
    """
    if placements < 1:
        raise ChickenSaviourError(f"placements must be >= 1, got {placements}")
    if protected is None and bool((scenes.labels < 0).any()):
        raise ChickenSaviourError("evaluation needs each scene's clean class (SceneSet labels)")
    judge = model.with_fit("stretch")
    side = patch.shape[-1]
    variants = {"patch": patch, **{k: baseline_patch(k, side) for k in BASELINES}}
    rates: dict[str, SuccessRates] = {}
    kept: list[Example] = []
    for name, square in variants.items():
        generator = torch.Generator().manual_seed(seed)
        sim = PrintCameraSimulation(simulation)
        hits_target = hits_other = trials = 0
        for _ in range(placements):
            for chunk in scenes.batches(batch):
                chunk = chunk.to(model.device)
                views = simulate_views(chunk, square.to(model.device), size, sim, generator,
                                       shift=shift)
                probabilities = judge.probabilities(views)
                top1 = probabilities.argmax(dim=1)
                if target is not None:
                    hits_target += int((top1 == target).sum())
                hits_other += int(still_unseen(top1, chunk.labels, protected).sum())
                trials += len(views)
                if name == "patch" and len(kept) < examples:
                    for view, cls, row in zip(views, top1.tolist(), probabilities, strict=True):
                        if len(kept) < examples:
                            kept.append(Example(view.cpu(), cls, float(row[cls])))
        rates[name] = SuccessRates(trials, hits_target / trials if target is not None else None,
                                   hits_other / trials)
    return ClassifierEvaluation(rates.pop("patch"), rates, tuple(kept))


@dataclass(frozen=True)
class HideEvaluation:
    """Share of objects the detector still finds: with the patch, with each baseline."""

    objects: int
    patch: float
    baselines: dict[str, float]
    examples: tuple[torch.Tensor, ...]


@torch.no_grad()
def evaluate_hide_patch(objective: DetectorHide, patch: torch.Tensor, scenes: SceneSet, *,
                        size: PatchSize, simulation: PrintCameraRanges, placements: int = 1,
                        shift: float = 0.08, seed: int = 1234, batch: int = 8,
                        examples: int = 8) -> HideEvaluation:
    """Detection rate of the protected objects on ``scenes`` with ``patch`` on each.

    The simulation's whole-view warp is turned off (:meth:`PrintCameraRanges.fixed_view`):
    a detection counts when it overlaps the object's box, which must stay put.
    """
    simulation = simulation.fixed_view()
    side = patch.shape[-1]
    variants = {"patch": patch, **{k: baseline_patch(k, side) for k in BASELINES}}
    found_rates: dict[str, float] = {}
    kept: list[torch.Tensor] = []
    objects = 0
    for name, square in variants.items():
        generator = torch.Generator().manual_seed(seed)
        sim = PrintCameraSimulation(simulation)
        found = objects = 0
        for _ in range(placements):
            for chunk in scenes.batches(batch):
                chunk = chunk.to(objective.device)
                views = simulate_views(chunk, square.to(objective.device), size, sim,
                                       generator, shift=shift)
                still = objective.still_found(views, chunk)
                found += int(still.sum())
                objects += len(still)
                if name == "patch":
                    kept.extend(v.cpu() for v in views[: max(0, examples - len(kept))])
        found_rates[name] = found / objects if objects else 0.0
    return HideEvaluation(objects, found_rates.pop("patch"), found_rates, tuple(kept))
