"""The attack base class: goals as data, and a budget that holds by construction.

Every attack is configured in ``__init__`` (keyword-only) and called as
``attack(model, images, goal)``. The base ``__call__`` puts the model in eval mode,
runs the subclass's :meth:`Attack.run`, then projects onto the ball of radius ``eps``
around the input in the attack's distance (L-infinity or L2, see
:mod:`chickensaviour.attacks.distances`) and clamps to ``[0, 1]``, so
``||x_adv - x|| <= eps`` holds whatever ``run`` returns. Goals are data (any object
following the :class:`Goal` protocol); :meth:`Attack.run_epsilons` runs several budgets and
returns a per-image success mask.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, final, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from chickensaviour.attacks.distances import LINF, Distance
from chickensaviour.attacks.distances import distance as get_distance
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.wrapper import check_images
from chickensaviour.progress import ProgressFn, StopFn


@runtime_checkable
class Goal(Protocol):
    """What an attack is after; any object with these three members is a goal.

    ``classes`` is a ``(B,)`` tensor, one entry per image (class indices for the built-in
    goals; used to check the batch size), ``objective`` the scalar the attack *ascends*
    (summed over the batch) and ``is_success`` the ``(B,)`` bool mask of images where the
    goal is met. A goal may also have ``to(device) -> goal``; attacks call it if present.

    Example: a goal that lowers the logit of class 3 has
    ``objective = lambda logits: -logits[:, 3].sum()``.
    """

    @property
    def classes(self) -> torch.Tensor: ...

    def objective(self, logits: torch.Tensor) -> torch.Tensor: ...

    def is_success(self, logits: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class Misclassification:
    """Untargeted goal: move each image away from its true ``labels`` ``(B,)``."""

    labels: torch.Tensor

    def objective(self, logits: torch.Tensor) -> torch.Tensor:
        """The quantity attacks *ascend*: cross-entropy to the true labels (summed)."""
        return F.cross_entropy(logits, self.labels, reduction="sum")

    def is_success(self, logits: torch.Tensor) -> torch.Tensor:
        """``(B,)`` true where the top-1 class is no longer the label."""
        return logits.argmax(dim=1) != self.labels

    def to(self, device: torch.device | str) -> Misclassification:
        return Misclassification(self.labels.to(device=device, dtype=torch.long))

    @property
    def classes(self) -> torch.Tensor:
        return self.labels


@dataclass(frozen=True)
class TargetedMisclassification:
    """Targeted goal: make the model answer ``target_classes`` ``(B,)``."""

    target_classes: torch.Tensor

    def objective(self, logits: torch.Tensor) -> torch.Tensor:
        """The quantity attacks *ascend*: minus the cross-entropy to the targets (summed)."""
        return -F.cross_entropy(logits, self.target_classes, reduction="sum")

    def is_success(self, logits: torch.Tensor) -> torch.Tensor:
        """``(B,)`` true where the top-1 class is the target."""
        return logits.argmax(dim=1) == self.target_classes

    def to(self, device: torch.device | str) -> TargetedMisclassification:
        return TargetedMisclassification(self.target_classes.to(device=device, dtype=torch.long))

    @property
    def classes(self) -> torch.Tensor:
        return self.target_classes


def check_goal(goal: object, batch: int, device: torch.device) -> Goal:
    """``goal`` moved to ``device`` if it is a goal for ``batch`` images, else a clear error."""
    missing = [name for name in ("objective", "is_success")
               if not callable(getattr(goal, name, None))]
    classes = getattr(goal, "classes", None)
    if missing or not isinstance(classes, torch.Tensor):
        what = ", ".join(missing + ([] if isinstance(classes, torch.Tensor) else ["classes"]))
        raise ChickenSaviourError(
            "goal must be Misclassification(labels), TargetedMisclassification(classes) or an "
            f"object with classes, objective() and is_success(); {type(goal).__name__} lacks "
            f"{what}")
    if classes.ndim != 1 or classes.shape[0] != batch:
        raise ChickenSaviourError(
            f"goal has {tuple(classes.shape)} classes for a batch of {batch}")
    move = getattr(goal, "to", None)
    return move(device) if callable(move) else goal  # type: ignore[no-any-return]


def as_class_tensor(classes: int | Sequence[int] | torch.Tensor, batch: int | None = None,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """``(batch,)`` int64 class indices from an int (broadcast), a sequence or a tensor.

    ``batch=None`` takes the length of ``classes`` (1 for an int).
    """
    if isinstance(classes, int):
        return torch.full((batch or 1,), classes, dtype=torch.long, device=device)
    tensor = torch.as_tensor(classes, dtype=torch.long, device=device).flatten()
    if batch is None:
        batch = tensor.numel()
    if tensor.numel() == 1 and batch > 1:
        tensor = tensor.expand(batch)
    if tensor.numel() != batch:
        raise ChickenSaviourError(f"expected {batch} class indices, got {tensor.numel()}")
    return tensor


def targeted(classes: int | Sequence[int] | torch.Tensor, batch: int | None = None,
             device: torch.device | str | None = None) -> TargetedMisclassification:
    """Shorthand: ``targeted(759)`` is the goal "be classified as class 759"."""
    return TargetedMisclassification(as_class_tensor(classes, batch, device))


def untargeted(labels: int | Sequence[int] | torch.Tensor, batch: int | None = None,
               device: torch.device | str | None = None) -> Misclassification:
    """Shorthand: ``untargeted(285)`` is the goal "stop being classified as class 285"."""
    return Misclassification(as_class_tensor(labels, batch, device))


@dataclass(frozen=True)
class AttackResult:
    """One attack run at several budgets (foolbox's ``(raw, clipped, success)``).

    ``raw[i]`` is what :meth:`Attack.run` returned at ``epsilons[i]`` (unclipped, may leave
    the ball), ``clipped[i]`` the guaranteed result, ``success[i, b]`` whether image ``b``
    meets the goal, judged with ``goal.is_success(model(clipped[i]))``.

    Shape:
        - raw, clipped: ``E`` tensors of ``(B, 3, H, W)``; success: ``(E, B)`` bool.
    """

    epsilons: tuple[float, ...]
    raw: list[torch.Tensor]
    clipped: list[torch.Tensor]
    success: torch.Tensor

    def __post_init__(self) -> None:
        count = len(self.epsilons)
        if len(self.raw) != count or len(self.clipped) != count or self.success.shape[0] != count:
            raise ChickenSaviourError("AttackResult needs one raw, clipped and success row per eps")


class Attack(ABC):
    """Base class of all attacks; the budget and the range hold by construction.

    Args:
        eps: the budget: in ``[0, 1]`` pixel units for L-infinity (8/255 is a common
            choice), a finite number >= 0 for L2 (the norm over all ``3 * H * W`` values).
        distance: ``"linf"`` (default), ``"l2"`` or a :class:`Distance`.
        quantize: if true, the result is rounded to the 8-bit grid *inside* the budget,
            so that saving it as PNG and reading it back changes nothing.
    """

    def __init__(self, *, eps: float, distance: str | Distance = "linf",
                 quantize: bool = False) -> None:
        self.distance = get_distance(distance)
        self.eps = self.distance.check_eps(eps)
        self.quantize = quantize

    @abstractmethod
    def run(self, model: nn.Module, images: torch.Tensor, goal: Goal, *,
            progress: ProgressFn | None = None,
            should_stop: StopFn | None = None) -> torch.Tensor:
        """Return candidate adversarial images; the base class projects and clamps them.

        Iterative attacks call :func:`check_stop` before and :func:`report` after each
        step (see :mod:`chickensaviour.progress`).
        """

    def with_eps(self, eps: float) -> Attack:
        """A shallow copy of this attack with budget ``eps``.

        Defaults derived from ``eps`` (e.g. PGD's step size) follow it because subclasses
        compute them on use rather than store them.
        """
        attack = copy.copy(self)
        attack.eps = self.distance.check_eps(eps)
        return attack

    @final
    def __call__(self, model: nn.Module, images: torch.Tensor, goal: Goal, *,
                 progress: ProgressFn | None = None,
                 should_stop: StopFn | None = None) -> torch.Tensor:
        """Attack ``images`` ``(B, 3, H, W)`` in ``[0, 1]``; returns the same shape and range,
        within ``eps`` of ``images`` in the attack's distance.

        ``progress(step, steps, objective)`` is called after each step and
        ``should_stop()`` polled before each; once it is true the attack raises
        :class:`~chickensaviour.errors.OperationCancelled`.
        """
        goal = self._check_inputs(images, goal)
        return self._attack(model, images.detach(), goal, progress, should_stop)[1]

    @final
    def run_epsilons(self, model: nn.Module, images: torch.Tensor, goal: Goal,
                     epsilons: Sequence[float], *, progress: ProgressFn | None = None,
                     should_stop: StopFn | None = None) -> AttackResult:
        """Run the attack once per budget in ``epsilons`` and judge each result.

        ``progress`` counts steps over all budgets together.

        Example: ``PGD(eps=0).run_epsilons(model, x, targeted(7), [2/255, 8/255]).success``
        """
        goal = self._check_inputs(images, goal)
        budgets = tuple(self.distance.check_eps(eps) for eps in epsilons)
        if not budgets:
            raise ChickenSaviourError("run_epsilons needs at least one eps")
        originals = images.detach()
        raw: list[torch.Tensor] = []
        clipped: list[torch.Tensor] = []
        success: list[torch.Tensor] = []
        for index, eps in enumerate(budgets):
            def shifted(step: int, steps: int, value: float, index: int = index) -> None:
                if progress is not None:
                    progress(index * steps + step, len(budgets) * steps, value)

            candidates, result = self.with_eps(eps)._attack(
                model, originals, goal, shifted if progress is not None else None, should_stop)
            raw.append(candidates)
            clipped.append(result)
            success.append(_judge(model, result, goal))
        return AttackResult(budgets, raw, clipped, torch.stack(success))

    def _check_inputs(self, images: torch.Tensor, goal: Goal) -> Goal:
        check_images(images)
        lowest, highest = torch.aminmax(images.detach())
        if float(lowest) < 0.0 or float(highest) > 1.0:
            raise ChickenSaviourError("images must lie in [0, 1]")
        return check_goal(goal, images.shape[0], images.device)

    def _attack(self, model: nn.Module, originals: torch.Tensor, goal: Goal,
                progress: ProgressFn | None,
                should_stop: StopFn | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(raw, clipped)``: the subclass's candidates and their projection."""
        was_training = model.training
        model.eval()
        try:
            with torch.enable_grad():
                candidates = self.run(model, originals, goal, progress=progress,
                                      should_stop=should_stop).detach()
        finally:
            model.train(was_training)
        if candidates.shape != originals.shape:
            raise ChickenSaviourError(
                f"{type(self).__name__}.run returned {tuple(candidates.shape)} for "
                f"{tuple(originals.shape)} images")
        clipped = self.distance.clip(candidates.to(originals.dtype), originals, self.eps,
                                     quantize=self.quantize)
        return candidates, clipped


def _judge(model: nn.Module, images: torch.Tensor, goal: Goal) -> torch.Tensor:
    """``(B,)`` bool: ``goal.is_success`` on the model's logits for ``images``, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return goal.is_success(model(images)).to(torch.bool).reshape(-1).cpu()
    finally:
        model.train(was_training)


def project(candidates: torch.Tensor, originals: torch.Tensor, eps: float, *,
            quantize: bool = False) -> torch.Tensor:
    """Clip ``candidates`` into ``[x - eps, x + eps] ∩ [0, 1]`` (optionally on the 8-bit grid).

    The L-infinity case of :meth:`Distance.clip`; ``LINF.clip`` and ``L2.clip`` do the same
    for any distance.
    """
    return LINF.clip(candidates, originals, eps, quantize=quantize)


def input_gradient(model: nn.Module, images: torch.Tensor, goal: Goal) -> torch.Tensor:
    """Gradient of ``goal.objective(model(images))`` with respect to ``images``."""
    return objective_and_gradient(model, images, goal)[1]


def objective_and_gradient(model: nn.Module, images: torch.Tensor,
                           goal: Goal) -> tuple[float, torch.Tensor]:
    """``goal.objective(model(images))`` (the value attacks ascend) and its gradient with
    respect to ``images``."""
    images = images.detach().requires_grad_(True)
    objective = goal.objective(model(images))
    (gradient,) = torch.autograd.grad(objective, images)
    return float(objective.detach()), gradient
