"""Attacks by name, for the CLI and the lab: ``make_attack("mi-fgsm", 8 / 255)``."""

from __future__ import annotations

from chickensaviour.attacks.base import Attack
from chickensaviour.attacks.difgsm import DIFGSM
from chickensaviour.attacks.fgsm import FGSM
from chickensaviour.attacks.mifgsm import MIFGSM
from chickensaviour.attacks.pgd import PGD
from chickensaviour.errors import ChickenSaviourError

ATTACK_NAMES = ("fgsm", "pgd", "mi-fgsm", "di-fgsm", "pgd-l2")
DEFAULT_STEPS = 10


def make_attack(name: str, eps: float, *, steps: int | None = None, seed: int = 0) -> Attack:
    """The attack called ``name`` (one of :data:`ATTACK_NAMES`) with budget ``eps``.

    ``eps`` is in ``[0, 1]`` pixel units, except for ``"pgd-l2"`` where it is the L2 norm.
    ``steps`` (default 10) is ignored by FGSM.
    """
    count = DEFAULT_STEPS if steps is None else steps
    key = name.strip().lower() if isinstance(name, str) else name
    if key == "fgsm":
        return FGSM(eps=eps)
    if key == "pgd":
        return PGD(eps=eps, steps=count, seed=seed)
    if key == "pgd-l2":
        return PGD(eps=eps, steps=count, seed=seed, distance="l2")
    if key == "mi-fgsm":
        return MIFGSM(eps=eps, steps=count, seed=seed)
    if key == "di-fgsm":
        return DIFGSM(eps=eps, steps=count, seed=seed)
    raise ChickenSaviourError(f"unknown attack {name!r}; choose one of {', '.join(ATTACK_NAMES)}")
