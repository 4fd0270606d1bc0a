"""Fooling several networks at once: attack an ensemble, judge members and held-out models.

The ensemble ``a+b`` (``load_model("a+b")``, logits averaged) is attacked; success is
reported on each member, on the ensemble itself and on held-out models, over the images
that all of them classify right (the transfer lab's rule, :mod:`.transfer`).

Example: ``run_ensemble(images, ("mobilenet_v2", "resnet50"), ("efficientnet_lite0",))``
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.lab.jobs import TransferJobResult, as_image_list, run_job
from chickensaviour.lab.transfer import BATCH_SIZE, agreed, eps_units, transfer_jobs
from chickensaviour.runners.local import LocalRunner, Runner


@dataclass(frozen=True)
class EnsembleResult:
    """``success[role][model]`` ``(E,)`` rates; roles: ``members``, ``ensemble``,
    ``held_out``. ``counted``: images every model classifies right."""

    ensemble: str
    members: tuple[str, ...]
    held_out: tuple[str, ...]
    attack: str
    epsilons: tuple[float, ...]
    success: dict[str, dict[str, tuple[float, ...]]]
    counted: int
    images: int

    def to_json(self) -> dict[str, object]:
        return {"ensemble": self.ensemble, "members": list(self.members),
                "held_out": list(self.held_out), "attack": self.attack,
                "eps": [eps_units(e) for e in self.epsilons], "counted_images": self.counted,
                "images": self.images,
                "success": {role: {model: [None if np.isnan(v) else v for v in rates]
                                   for model, rates in by_model.items()}
                            for role, by_model in self.success.items()}}


def run_ensemble(images: np.ndarray | Sequence[np.ndarray], members: Sequence[str],
                 held_out: Sequence[str], *, attack: str = "pgd",
                 epsilons: Sequence[float] = (8 / 255,), seed: int = 0,
                 steps: int | None = None, runner: Runner | None = None,
                 batch_size: int = BATCH_SIZE) -> EnsembleResult:
    """Attack ``"+".join(members)``; rates on members, the ensemble and ``held_out``."""
    members, held_out = tuple(members), tuple(held_out)
    if len(members) < 2:
        raise ChickenSaviourError("an ensemble needs at least two --models")
    if set(members) & set(held_out) or len(set(members + held_out)) != len(members + held_out):
        raise ChickenSaviourError("members and held-out models must all be different")
    ensemble = "+".join(members)
    models = (*members, ensemble, *held_out)
    pictures = as_image_list(images)
    jobs = transfer_jobs(len(pictures), models, (attack,), tuple(epsilons), seed=seed,
                         steps=steps, batch_size=batch_size, sources=(ensemble,))
    results: list[TransferJobResult] = (runner or LocalRunner()).map(run_job, jobs, pictures)
    clean = np.concatenate([r.clean_pred for r in results], axis=1)
    success = np.concatenate([r.success for r in results], axis=2)  # (E, T, N)
    counted = agreed(clean)

    def rates(model: str) -> tuple[float, ...]:
        row = success[:, models.index(model)][:, counted]
        return tuple(float(v) for v in row.mean(axis=1)) if counted.any() else tuple(
            float("nan") for _ in epsilons)

    table = {"members": {m: rates(m) for m in members}, "ensemble": {ensemble: rates(ensemble)},
             "held_out": {m: rates(m) for m in held_out}}
    return EnsembleResult(ensemble, members, held_out, attack, tuple(epsilons), table,
                          int(counted.sum()), len(pictures))
