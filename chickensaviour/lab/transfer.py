"""Transfer: craft on each source model, evaluate on every model.

An image is counted when every model classifies it "right" before the attack. Photos
come without ground truth, so "right" means the models agree: every model's clean top-1
lies in one class group (the same class, or one everyday ImageNet group such as
"domestic cat", :data:`~chickensaviour.lab.jobs.IMAGENET_GROUPS`). Untargeted attacks
aim away from the source's own clean top-1 and succeed on a model when its top-1 leaves
that group; targeted ones succeed when the top-1 is the target class (images already
of that class are not counted).

Example::

    result = run_transfer(images, ("mobilenet_v2", "resnet50"), ("fgsm",), (8 / 255,))
    result.rates("fgsm", 0)  # (sources, targets) success rates
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.lab.jobs import (
    LabJob,
    TransferJobResult,
    as_image_list,
    class_groups,
    run_job,
    split_indices,
)
from chickensaviour.runners.local import LocalRunner, Runner

#: Images per job: a job is one source model x one attack x this many images.
BATCH_SIZE = 8


@dataclass(frozen=True)
class TransferResult:
    """Transfer results; ``A`` attacks, ``E`` epsilons, ``M`` models, ``N`` images.

    ``clean_pred``/``clean_conf`` ``(M, N)``: every model's clean top-1 and probability.
    ``adv_pred``/``adv_conf``/``success`` ``(A, E, M, M, N)``: crafted on source ``s``
    (axis 2), judged by model ``t`` (axis 3). ``counted`` ``(N,)`` bool: images every
    model classifies right (see the module docstring); rates use those only.
    """

    models: tuple[str, ...]
    attacks: tuple[str, ...]
    epsilons: tuple[float, ...]
    target_class: int | None
    seed: int
    clean_pred: np.ndarray
    clean_conf: np.ndarray
    adv_pred: np.ndarray
    adv_conf: np.ndarray
    success: np.ndarray
    counted: np.ndarray

    def rates(self, attack: str, eps_index: int) -> np.ndarray:
        """``(sources, targets)`` success rates over the counted images (nan: none counted)."""
        a = self.attacks.index(attack)
        chosen = self.success[a, eps_index][..., self.counted]
        if chosen.shape[-1] == 0:
            return np.full((len(self.models), len(self.models)), np.nan)
        return chosen.mean(axis=-1)

    def to_json(self) -> dict[str, object]:
        """``{"models", "attacks", "eps", "success": {attack: {eps: [[rates]]}}}``; eps in
        1/255 units (keys as text, e.g. ``"8"``), nan rates as null."""
        return {
            "models": list(self.models),
            "attacks": list(self.attacks),
            "eps": [eps_units(e) for e in self.epsilons],
            "success": {
                attack: {
                    eps_key(eps): [[None if np.isnan(v) else float(v) for v in row]
                                   for row in self.rates(attack, ei)]
                    for ei, eps in enumerate(self.epsilons)
                }
                for attack in self.attacks
            },
        }


def eps_units(eps: float) -> float | int:
    """``8 / 255`` -> ``8`` (an int when whole)."""
    value = round(eps * 255.0, 6)
    return int(value) if value.is_integer() else value


def eps_key(eps: float) -> str:
    return f"{eps_units(eps):g}"


def agreed(clean_pred: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: every row's (model's) class of image ``n`` lies in one group."""
    groups = class_groups(clean_pred)
    return np.all(groups == groups[:1], axis=0)


def transfer_jobs(count: int, models: Sequence[str], attacks: Sequence[str],
                  epsilons: Sequence[float], *, target_class: int | None = None,
                  seed: int = 0, steps: int | None = None, batch_size: int = BATCH_SIZE,
                  sources: Sequence[str] | None = None) -> list[LabJob]:
    """One job per source x attack x image chunk, each judged by every model."""
    jobs = []
    for source in sources if sources is not None else models:
        for attack in attacks:
            for chunk in split_indices(count, batch_size):
                jobs.append(LabJob(kind="transfer", source=source, attack=attack,
                                   epsilons=tuple(epsilons), indices=chunk,
                                   target_class=target_class, seed=seed,
                                   targets=tuple(models), steps=steps))
    return jobs


def check_names(models: Sequence[str], attacks: Sequence[str],
                epsilons: Sequence[float]) -> None:
    if not models:
        raise ChickenSaviourError("give at least one model")
    if len(set(models)) != len(models):
        raise ChickenSaviourError(f"a model is named twice: {', '.join(models)}")
    if not attacks or len(set(attacks)) != len(attacks):
        raise ChickenSaviourError(f"give distinct attacks, got {', '.join(attacks) or 'none'}")
    if not epsilons or len(set(epsilons)) != len(epsilons):
        raise ChickenSaviourError("give distinct epsilons")


def run_transfer(images: np.ndarray | Sequence[np.ndarray], models: Sequence[str],
                 attacks: Sequence[str], epsilons: Sequence[float], *,
                 target_class: int | None = None, seed: int = 0, steps: int | None = None,
                 runner: Runner | None = None, batch_size: int = BATCH_SIZE) -> TransferResult:
    """Craft with every attack on every model at every eps; judge with every model.

    ``images``: uint8 RGB ``(N, H, W, 3)`` or a list of ``(H, W, 3)`` (sizes may differ);
    ``epsilons`` in ``[0, 1]`` units; ``runner``: :class:`LocalRunner` by default.
    """
    models, attacks, epsilons = tuple(models), tuple(attacks), tuple(epsilons)
    check_names(models, attacks, epsilons)
    pictures = as_image_list(images)
    jobs = transfer_jobs(len(pictures), models, attacks, epsilons, target_class=target_class,
                         seed=seed, steps=steps, batch_size=batch_size)
    results: list[TransferJobResult] = (runner or LocalRunner()).map(run_job, jobs, pictures)
    a_, e_, m_, n_ = len(attacks), len(epsilons), len(models), len(pictures)
    clean_pred = np.zeros((m_, n_), dtype=np.int64)
    clean_conf = np.zeros((m_, n_))
    adv_pred = np.zeros((a_, e_, m_, m_, n_), dtype=np.int64)
    adv_conf = np.zeros((a_, e_, m_, m_, n_))
    success = np.zeros((a_, e_, m_, m_, n_), dtype=bool)
    for job, result in zip(jobs, results, strict=True):
        a, s, idx = attacks.index(job.attack), models.index(job.source), list(job.indices)
        clean_pred[:, idx], clean_conf[:, idx] = result.clean_pred, result.clean_conf
        adv_pred[a, :, s][..., idx] = result.adv_pred
        adv_conf[a, :, s][..., idx] = result.adv_conf
        success[a, :, s][..., idx] = result.success
    counted = agreed(clean_pred)
    if target_class is not None:
        counted &= ~(clean_pred == target_class).any(axis=0)  # no model answers it already
    return TransferResult(models, attacks, epsilons, target_class, seed, clean_pred,
                          clean_conf, adv_pred, adv_conf, success, counted)


@dataclass(frozen=True)
class SeedRow:
    """One line of the seed's table: a model's top-1 before and after the attack."""

    model: str
    clean_index: int
    clean_name: str
    clean_confidence: float
    adv_index: int
    adv_name: str
    adv_confidence: float
    fooled: bool


def seed_table(result: TransferResult, image: int, source: str, attack: str,
               eps_index: int) -> list[SeedRow]:
    """For one photo attacked on ``source``: per model, prediction name, index and
    confidence, clean and adversarial (the seed's table)."""
    from chickensaviour.lab.jobs import class_names

    a, s = result.attacks.index(attack), result.models.index(source)
    rows = []
    for t, model in enumerate(result.models):
        names = class_names(model)
        clean, adv = int(result.clean_pred[t, image]), int(result.adv_pred[a, eps_index, s, t,
                                                                            image])
        rows.append(SeedRow(model, clean, names.name(clean),
                            float(result.clean_conf[t, image]), adv, names.name(adv),
                            float(result.adv_conf[a, eps_index, s, t, image]),
                            bool(result.success[a, eps_index, s, t, image])))
    return rows
