"""Defences against the naive and the adaptive attacker.

For a model ``M`` and each defence ``D`` (plus ``"none"``, the bare model):

- clean accuracy: share of images on which ``D(M)`` keeps ``M``'s clean top-1 (photos
  have no ground truth, so agreeing with the undefended model counts as correct);
- naive success: the attack is crafted on bare ``M`` and judged by ``D(M)`` (what the
  seed saw: blurring the adversarial image undoes it);
- adaptive success: crafted on ``D(M).attacker_view()`` (exact gradients, BPDA, EOT;
  Athalye et al. 2018) and judged by ``D(M)``.

Attack success rates count the images ``D(M)`` classifies right when clean; success
means the top-1 left the class group of ``M``'s clean top-1 or, for a targeted attack
(the seed's: king penguin -> megalith), that ``D(M)`` answers the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.lab.jobs import (
    DefendJobResult,
    LabJob,
    as_image_list,
    class_groups,
    run_job,
    split_indices,
)
from chickensaviour.runners.local import LocalRunner, Runner

NO_DEFENCE = "none"
BATCH_SIZE = 8


@dataclass(frozen=True)
class DefenceScores:
    """One row: clean accuracy, and attack success per epsilon (``(E,)``; nan: no image
    was classified right, so there was nothing to attack)."""

    clean_accuracy: float
    naive_success: tuple[float, ...]
    adaptive_success: tuple[float, ...]


@dataclass(frozen=True)
class DefendResult:
    """``scores[name]`` for ``"none"`` and every defence, in the order given."""

    model: str
    attack: str
    epsilons: tuple[float, ...]
    scores: dict[str, DefenceScores]
    images: int
    target_class: int | None = None

    def to_json(self, eps_index: int = 0) -> dict[str, object]:
        """``{"model", "attack", "eps", "defences": {NAME: {"clean_accuracy",
        "naive_success", "adaptive_success"}}}`` at one epsilon (1/255 units)."""
        from chickensaviour.lab.transfer import eps_units

        def number(value: float) -> float | None:
            return None if np.isnan(value) else float(value)

        return {
            "model": self.model,
            "attack": self.attack,
            "eps": eps_units(self.epsilons[eps_index]),
            "defences": {
                name: {"clean_accuracy": number(row.clean_accuracy),
                       "naive_success": number(row.naive_success[eps_index]),
                       "adaptive_success": number(row.adaptive_success[eps_index])}
                for name, row in self.scores.items()
            },
        }


def _rates(label: np.ndarray, clean: np.ndarray, attacked: np.ndarray,
           target: int | None = None) -> tuple[float, ...]:
    right = class_groups(clean) == class_groups(label)
    if target is not None:
        right &= (label != target) & (clean != target)  # already the target: nothing to do
    if not right.any():
        return tuple(float("nan") for _ in attacked)
    if target is None:
        fooled = class_groups(attacked) != class_groups(label)[None]
    else:
        fooled = attacked == target
    return tuple(float(row[right].mean()) for row in fooled)


def run_defend(images: np.ndarray | Sequence[np.ndarray], model: str,
               defences: Sequence[tuple[str, str]], attack: str, epsilons: Sequence[float],
               *, seed: int = 0, steps: int | None = None, runner: Runner | None = None,
               batch_size: int = BATCH_SIZE, target_class: int | None = None) -> DefendResult:
    """Score ``model`` bare and behind each defence; ``defences`` are ``(name, spec)``
    pairs (``("blur", "blur:1.5")``), specs as ``parse_defences`` reads them;
    ``target_class`` makes the attack targeted."""
    names = [NO_DEFENCE, *(name for name, _ in defences)]
    if len(set(names)) != len(names):
        raise ChickenSaviourError(f"defence names must be distinct, got {', '.join(names)}")
    pictures = as_image_list(images)
    specs: list[str | None] = [None, *(spec for _, spec in defences)]
    jobs = [LabJob(kind="defend", source=model, attack=attack, epsilons=tuple(epsilons),
                   indices=chunk, seed=seed, defence=spec, steps=steps,
                   target_class=target_class)
            for spec in specs for chunk in split_indices(len(pictures), batch_size)]
    results: list[DefendJobResult] = (runner or LocalRunner()).map(run_job, jobs, pictures)
    scores: dict[str, DefenceScores] = {}
    for name, spec in zip(names, specs, strict=True):
        mine = [r for r in results if r.job.defence == spec]
        label = np.concatenate([r.label for r in mine])
        clean = np.concatenate([r.clean_pred for r in mine])
        naive = np.concatenate([r.naive_pred for r in mine], axis=1)
        adaptive = np.concatenate([r.adaptive_pred for r in mine], axis=1)
        accuracy = float(np.mean(class_groups(clean) == class_groups(label)))
        scores[name] = DefenceScores(accuracy, _rates(label, clean, naive, target_class),
                                     _rates(label, clean, adaptive, target_class))
    return DefendResult(model, attack, tuple(epsilons), scores, len(pictures), target_class)
