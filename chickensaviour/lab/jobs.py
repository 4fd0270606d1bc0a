"""Lab jobs: small frozen descriptions of work, and the pure function that runs one.

A :class:`LabJob` names its models by reference (what ``load_model`` takes, or
``py:module:function`` for a factory), so it can travel to another process (a Ray
worker) as a few bytes; :func:`run_job` loads the models there once per process
(:func:`cached_model`) and returns plain numpy results. The same job on the same images
gives the same result in any process (attacks are seeded; see :mod:`chickensaviour.runners`
for the thread count).

Example::

    job = LabJob(kind="transfer", source="mobilenet_v2", attack="fgsm", epsilons=(8 / 255,),
                 indices=(0, 1), targets=("mobilenet_v2", "resnet50"))
    result = run_job(job, images)  # images: uint8 RGB (N, H, W, 3) or a list of such arrays
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn

from chickensaviour.errors import ChickenSaviourError

#: ``LabJob.kind`` values.
JOB_KINDS = ("transfer", "defend")
#: Prefix of a model reference that names a factory function: ``py:package.module:function``.
FACTORY_PREFIX = "py:"

#: Everyday groups of ImageNet-1k classes (inclusive index ranges). Two models that
#: answer "tiger cat" and "Egyptian cat" for a cat photo both classify it right, and an
#: untargeted attack that only moves "tabby" to "tiger cat" has not succeeded.
IMAGENET_GROUPS: dict[str, tuple[int, int]] = {
    "dog": (151, 268),
    "wild dog": (269, 280),
    "domestic cat": (281, 285),
    "big cat": (286, 293),
    "bird": (7, 24),
    "snake": (52, 68),
    "monkey": (369, 384),
}


def class_groups(indices: np.ndarray, num_classes: int = 1000) -> np.ndarray:
    """A group id for every element (same shape, int64): the first class of its
    everyday group (ImageNet-1k only), else the class itself."""
    return group_bounds(indices, num_classes)[:, 0].reshape(np.shape(indices))


def group_bounds(labels: np.ndarray, num_classes: int = 1000) -> np.ndarray:
    """``(B, 2)`` inclusive class ranges of each label's group (the label alone if none)."""
    bounds = []
    for label in np.asarray(labels).ravel():
        low = high = int(label)
        if num_classes == 1000:
            for first, last in IMAGENET_GROUPS.values():
                if first <= label <= last:
                    low, high = first, last
        bounds.append((low, high))
    return np.asarray(bounds, dtype=np.int64).reshape(-1, 2)


@dataclass(frozen=True)
class GroupMisclassification:
    """Untargeted goal over class groups: move each image out of its label's group.

    ``bounds`` ``(B, 2)``: inclusive class range per image. The objective is the summed
    ``-log p(group)``, so the attack does not stop at a sibling class ("Egyptian cat" to
    "tiger cat"), which would not count as a success.
    """

    bounds: torch.Tensor

    def _in_group(self, logits: torch.Tensor) -> torch.Tensor:
        index = torch.arange(logits.shape[1], device=logits.device)[None]
        return (index >= self.bounds[:, :1]) & (index <= self.bounds[:, 1:])

    def objective(self, logits: torch.Tensor) -> torch.Tensor:
        inside = logits.masked_fill(~self._in_group(logits), float("-inf"))
        return (logits.logsumexp(dim=1) - inside.logsumexp(dim=1)).sum()

    def is_success(self, logits: torch.Tensor) -> torch.Tensor:
        top = logits.argmax(dim=1, keepdim=True)
        return ((top < self.bounds[:, :1]) | (top > self.bounds[:, 1:]))[:, 0]

    def to(self, device: torch.device | str) -> GroupMisclassification:
        return GroupMisclassification(self.bounds.to(device=device, dtype=torch.long))

    @property
    def classes(self) -> torch.Tensor:
        return self.bounds[:, 0]


@dataclass(frozen=True)
class LabJob:
    """One unit of lab work: a source model, an attack, some epsilons, some images.

    Args:
        kind: ``"transfer"`` (craft on ``source``, evaluate on every model of ``targets``)
            or ``"defend"`` (``source`` behind ``defence``: clean, naive and adaptive).
        source: model reference the attack is crafted on (``"a+b"`` is an ensemble).
        attack: attack name (``fgsm``, ``pgd``, ``mi-fgsm``, ``di-fgsm``, ``pgd-l2``).
        epsilons: budgets in ``[0, 1]`` pixel units.
        indices: which images of the shared image set this job covers.
        target_class: targeted attack to this class, or ``None`` (untargeted: away from
            the class group of the source's clean top-1, :class:`GroupMisclassification`).
        seed: seeds the attack and any randomness in the job.
        targets: transfer: the models to evaluate on.
        defence: defend: a defence spec (``"blur:1.5"``) or ``None`` for the bare model.
        steps: iterations of iterative attacks (``None``: the attack's default).
        device: where to run (``"cpu"`` by default, so results do not depend on a GPU).
    """

    kind: str
    source: str
    attack: str
    epsilons: tuple[float, ...]
    indices: tuple[int, ...]
    target_class: int | None = None
    seed: int = 0
    targets: tuple[str, ...] = ()
    defence: str | None = None
    steps: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.kind not in JOB_KINDS:
            raise ChickenSaviourError(f"job kind must be one of {JOB_KINDS}, got {self.kind!r}")
        if not self.epsilons or any(not 0.0 < e <= 1.0 for e in self.epsilons):
            raise ChickenSaviourError(f"epsilons must be in (0, 1], got {self.epsilons}")
        if not self.indices:
            raise ChickenSaviourError("a job needs at least one image")
        if self.kind == "transfer" and not self.targets:
            raise ChickenSaviourError("a transfer job needs target models")


@dataclass(frozen=True)
class TransferJobResult:
    """What a transfer job found; ``E`` epsilons, ``T`` target models, ``N`` images.

    ``label`` ``(N,)``: the source's clean top-1 (the untargeted goal's class).
    ``clean_pred``/``clean_conf`` ``(T, N)``; ``adv_pred``/``adv_conf`` ``(E, T, N)``:
    top-1 index and its probability. ``success`` ``(E, T, N)``: targeted, top-1 is the
    target class; untargeted, top-1 left the group of that model's clean top-1.
    """

    job: LabJob
    label: np.ndarray
    clean_pred: np.ndarray
    clean_conf: np.ndarray
    adv_pred: np.ndarray
    adv_conf: np.ndarray
    success: np.ndarray


@dataclass(frozen=True)
class DefendJobResult:
    """What a defend job found for one defence; ``E`` epsilons, ``N`` images.

    ``label`` ``(N,)``: the bare model's clean top-1 (what "correct" means).
    ``clean_pred`` ``(N,)``: defended clean top-1. ``naive_pred``/``adaptive_pred``
    ``(E, N)``: defended top-1 on images attacked through the bare model / through the
    defence (``attacker_view``).
    """

    job: LabJob
    label: np.ndarray
    clean_pred: np.ndarray
    naive_pred: np.ndarray
    adaptive_pred: np.ndarray


JobResult = TransferJobResult | DefendJobResult


@lru_cache(maxsize=8)
def cached_model(reference: str, device: str = "cpu") -> nn.Module:
    """The model ``reference`` on ``device``, loaded once per process.

    ``py:package.module:function`` calls that factory (tests use tiny models this way);
    ``a+b`` is an ``EnsembleClassifier`` of the cached members; anything else goes to
    ``load_model``. Models are frozen and only read, so one copy
    serves every job of the process (jobs of one process run one after another).
    """
    if "+" in reference:  # an ensemble shares its members with the cached single models
        from chickensaviour.models.ensemble import EnsembleClassifier

        parts = [part.strip() for part in reference.split("+")]
        return EnsembleClassifier([cached_model(part, device) for part in parts]).eval()
    if reference.startswith(FACTORY_PREFIX):
        target = reference[len(FACTORY_PREFIX):]
        module_name, _, function_name = target.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError) as exc:
            raise ChickenSaviourError(f"cannot load model factory {target!r}: {exc}") from None
        return factory().to(device).eval()
    from chickensaviour.models import load_model

    return load_model(reference, device=device)


def as_image_list(images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """Check and split the shared images: uint8 RGB ``(N, H, W, 3)`` or a list of
    ``(H, W, 3)`` arrays (any sizes)."""
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise ChickenSaviourError(f"expected images (N, H, W, 3), got {images.shape}")
        images = list(images)
    checked = []
    for image in images:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ChickenSaviourError(
                f"expected uint8 RGB images (H, W, 3), got {image.dtype} {image.shape}")
        checked.append(image)
    return checked


def _shape_groups(images: list[np.ndarray], indices: Sequence[int]) -> list[list[int]]:
    """Positions in ``indices`` grouped by image size (each group is one batch)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for position, index in enumerate(indices):
        groups.setdefault(images[index].shape, []).append(position)
    return list(groups.values())


def _to_tensor(images: list[np.ndarray], device: str) -> torch.Tensor:
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
    return batch.to(device=device, dtype=torch.float32).div_(255.0)


def run_job(job: LabJob, images: np.ndarray | Sequence[np.ndarray]) -> JobResult:
    """Run ``job`` on the shared ``images`` (uint8 RGB); a pure function of its inputs."""
    pictures = as_image_list(images)
    if max(job.indices) >= len(pictures) or min(job.indices) < 0:
        raise ChickenSaviourError(f"job images {job.indices} outside 0..{len(pictures) - 1}")
    torch.manual_seed(job.seed)
    if job.kind == "transfer":
        return _run_transfer(job, pictures)
    return _run_defend(job, pictures)


def _top1(model: Any, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    confidence, index = model.probabilities(images).max(dim=1)
    return index.cpu().numpy().astype(np.int64), confidence.cpu().numpy().astype(np.float64)


def _craft(model: nn.Module, batch: torch.Tensor, labels: np.ndarray, job: LabJob,
           eps: float) -> torch.Tensor:
    """Adversarial ``batch`` for ``model`` at ``eps`` on the 8-bit grid (what a saved PNG
    holds), inside the budget."""
    from chickensaviour.attacks import project, targeted
    from chickensaviour.attacks.registry import make_attack

    size = batch.shape[0]
    goal: Any
    if job.target_class is None:
        bounds = torch.as_tensor(group_bounds(labels), device=batch.device)
        goal = GroupMisclassification(bounds)
    else:
        goal = targeted(job.target_class, size, batch.device)
    attack = make_attack(job.attack, eps, steps=job.steps, seed=job.seed)
    adversarial = attack(model, batch, goal)
    return project(adversarial, batch, eps, quantize=True)


def _run_transfer(job: LabJob, pictures: list[np.ndarray]) -> TransferJobResult:
    source = cached_model(job.source, job.device)
    targets = [cached_model(reference, job.device) for reference in job.targets]
    e, t, n = len(job.epsilons), len(targets), len(job.indices)
    label = np.zeros(n, dtype=np.int64)
    clean_pred = np.zeros((t, n), dtype=np.int64)
    clean_conf = np.zeros((t, n))
    adv_pred = np.zeros((e, t, n), dtype=np.int64)
    adv_conf = np.zeros((e, t, n))
    for positions in _shape_groups(pictures, job.indices):
        batch = _to_tensor([pictures[job.indices[p]] for p in positions], job.device)
        label[positions] = _top1(source, batch)[0]
        for ti, target in enumerate(targets):
            clean_pred[ti, positions], clean_conf[ti, positions] = _top1(target, batch)
        for ei, eps in enumerate(job.epsilons):
            adversarial = _craft(source, batch, label[positions], job, eps)
            for ti, target in enumerate(targets):
                adv_pred[ei, ti, positions], adv_conf[ei, ti, positions] = _top1(
                    target, adversarial)
    if job.target_class is not None:
        success = adv_pred == job.target_class
    else:
        success = class_groups(adv_pred) != class_groups(clean_pred)[None]
    return TransferJobResult(job, label, clean_pred, clean_conf, adv_pred, adv_conf, success)


def _run_defend(job: LabJob, pictures: list[np.ndarray]) -> DefendJobResult:
    bare = cached_model(job.source, job.device)
    if job.defence is None:
        defended, attacker = bare, bare
    else:
        from chickensaviour.models.defences import DefendedClassifier, parse_defences

        (defence,) = parse_defences(job.defence, seed=job.seed)  # the same draws every run
        defended_model = DefendedClassifier(bare, defence)
        defended, attacker = defended_model, defended_model.attacker_view()
    e, n = len(job.epsilons), len(job.indices)
    label = np.zeros(n, dtype=np.int64)
    clean_pred = np.zeros(n, dtype=np.int64)
    naive_pred = np.zeros((e, n), dtype=np.int64)
    adaptive_pred = np.zeros((e, n), dtype=np.int64)
    for positions in _shape_groups(pictures, job.indices):
        batch = _to_tensor([pictures[job.indices[p]] for p in positions], job.device)
        label[positions] = _top1(bare, batch)[0]
        clean_pred[positions] = _top1(defended, batch)[0]
        for ei, eps in enumerate(job.epsilons):
            naive = _craft(bare, batch, label[positions], job, eps)
            naive_pred[ei, positions] = _top1(defended, naive)[0]
            adaptive = naive if attacker is bare else _craft(attacker, batch,
                                                             label[positions], job, eps)
            adaptive_pred[ei, positions] = _top1(defended, adaptive)[0]
    return DefendJobResult(job, label, clean_pred, naive_pred, adaptive_pred)


def split_indices(count: int, batch_size: int) -> list[tuple[int, ...]]:
    """``range(count)`` in consecutive chunks of at most ``batch_size``."""
    if batch_size < 1:
        raise ChickenSaviourError(f"batch size must be at least 1, got {batch_size}")
    return [tuple(range(start, min(start + batch_size, count)))
            for start in range(0, count, batch_size)]


def class_names(reference: str) -> Any:
    """The label set of ``reference`` (a LabelSet: ``.name(i)``), without loading weights
    for zoo models; factories are loaded (cached) to ask."""
    if reference.startswith(FACTORY_PREFIX):
        return cached_model(reference).classes
    from chickensaviour.models.registry import model_labels

    try:
        return model_labels(reference)
    except ChickenSaviourError:
        if "+" in reference:  # an ensemble: its members' classes
            return model_labels(reference.split("+")[0])
        raise
