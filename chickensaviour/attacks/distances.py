"""Distances an attack's budget is measured in: L-infinity and L2.

A :class:`Distance` knows its norm, how to project onto its ball, its steepest-ascent
direction and its random start, so that one attack loop serves both. :meth:`Distance.clip`
is the final guarantee the attack base class applies: inside the ball *and* in ``[0, 1]``.

Example: ``distance("l2").norm(x_adv - x)`` is the ``(B,)`` per-image L2 distance.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from chickensaviour.errors import ChickenSaviourError

_TINY = 1e-12  # guards the divisions by a norm that can be exactly zero


def _finite_or(candidates: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    """``candidates`` with NaN and infinite entries replaced by the original pixel."""
    return torch.where(torch.isfinite(candidates), candidates, originals)


class Distance(ABC):
    """A budget's norm and ball. Stateless: share the module-level :data:`LINF` and :data:`L2`.

    Shape:
        - candidates, originals, delta, gradient: ``(B, C, H, W)``; norms are ``(B,)``.
    """

    name: str

    @abstractmethod
    def check_eps(self, eps: object) -> float:
        """``eps`` as a float, or :class:`ChickenSaviourError` if it is no valid budget."""

    @abstractmethod
    def norm(self, delta: torch.Tensor) -> torch.Tensor:
        """Per-image size ``(B,)`` of a perturbation ``delta``."""

    @abstractmethod
    def project(self, candidates: torch.Tensor, originals: torch.Tensor,
                eps: float) -> torch.Tensor:
        """Nearest point of the ball of radius ``eps`` around each original (no range clamp);
        non-finite entries take the original's value."""

    @abstractmethod
    def direction(self, gradient: torch.Tensor) -> torch.Tensor:
        """Steepest-ascent step of unit size for ``gradient`` (may reuse its storage)."""

    @abstractmethod
    def random_start(self, originals: torch.Tensor, eps: float,
                     generator: torch.Generator) -> torch.Tensor:
        """A random point of the ball (clamped to ``[0, 1]``), drawn from ``generator`` (CPU)."""

    def clip(self, candidates: torch.Tensor, originals: torch.Tensor, eps: float, *,
             quantize: bool = False) -> torch.Tensor:
        """Project onto the ball, then clamp to ``[0, 1]``; optionally onto the 8-bit grid."""
        clipped = self.project(candidates, originals, eps).clamp_(0.0, 1.0)
        return self._quantize(clipped, originals, eps) if quantize else clipped

    @abstractmethod
    def _quantize(self, clipped: torch.Tensor, originals: torch.Tensor,
                  eps: float) -> torch.Tensor:
        """8-bit levels for ``clipped`` that stay inside the ball and ``[0, 1]``."""

    def __repr__(self) -> str:
        return f"distance({self.name!r})"


class LinfDistance(Distance):
    """L-infinity: every pixel moves by at most ``eps`` (``eps`` in ``[0, 1]``)."""

    name = "linf"

    def check_eps(self, eps: object) -> float:
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and 0.0 <= eps <= 1.0):
            raise ChickenSaviourError(f"eps must be a number in [0, 1], got {eps!r}")
        return float(eps)

    def norm(self, delta: torch.Tensor) -> torch.Tensor:
        return delta.flatten(1).abs().amax(dim=1)

    def project(self, candidates: torch.Tensor, originals: torch.Tensor,
                eps: float) -> torch.Tensor:
        candidates = torch.where(torch.isnan(candidates), originals, candidates)
        return torch.minimum(torch.maximum(candidates, originals - eps), originals + eps)

    def clip(self, candidates: torch.Tensor, originals: torch.Tensor, eps: float, *,
             quantize: bool = False) -> torch.Tensor:
        # Ball and range at once: [x - eps, x + eps] ∩ [0, 1].
        low = (originals - eps).clamp_(min=0.0)
        high = (originals + eps).clamp_(max=1.0)
        candidates = torch.where(torch.isnan(candidates), originals, candidates)
        clipped = torch.minimum(torch.maximum(candidates, low), high)
        return self._quantize(clipped, originals, eps) if quantize else clipped

    def direction(self, gradient: torch.Tensor) -> torch.Tensor:
        return gradient.sign_()

    def random_start(self, originals: torch.Tensor, eps: float,
                     generator: torch.Generator) -> torch.Tensor:
        noise = torch.rand(originals.shape, generator=generator, dtype=originals.dtype)
        noise = noise.to(originals.device).mul_(2.0).sub_(1.0).mul_(eps)
        return self.clip(originals + noise, originals, eps)

    def _quantize(self, clipped: torch.Tensor, originals: torch.Tensor,
                  eps: float) -> torch.Tensor:
        # Nearest 8-bit level, then the nearest level still inside the ball; where the ball
        # holds no level at all (eps < 1/255 around an off-grid pixel) keep the exact value.
        low = (originals - eps).clamp_(min=0.0)
        high = (originals + eps).clamp_(max=1.0)
        grid_low = torch.ceil(low * 255.0 - 1e-4) / 255.0
        grid_high = torch.floor(high * 255.0 + 1e-4) / 255.0
        rounded = torch.round(clipped * 255.0) / 255.0
        inside = torch.minimum(torch.maximum(rounded, grid_low), grid_high)
        inside = torch.minimum(torch.maximum(inside, low), high)
        return torch.where(grid_low <= grid_high, inside, clipped)


class L2Distance(Distance):
    """L2: the whole image's perturbation has Euclidean norm at most ``eps``.

    ``eps`` is in pixel units over all ``C * H * W`` values, so it ranges over
    ``[0, sqrt(C * H * W)]`` (a budget of 0.5 to 3 is common at 224 x 224).
    """

    name = "l2"

    def check_eps(self, eps: object) -> float:
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0.0):
            raise ChickenSaviourError(f"eps must be a finite number >= 0 for L2, got {eps!r}")
        return float(eps)

    def norm(self, delta: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(delta.flatten(1), dim=1)

    def project(self, candidates: torch.Tensor, originals: torch.Tensor,
                eps: float) -> torch.Tensor:
        delta = _finite_or(candidates, originals) - originals
        norms = self.norm(delta)
        factor = (eps / norms.clamp(min=_TINY)).clamp_(max=1.0)
        return originals + delta.mul_(factor.view(-1, *[1] * (delta.ndim - 1)))

    # clip: project, then clamp. The clamp can only *shrink* the perturbation: the original
    # x lies in [0, 1], so clamping x + d into [0, 1] moves every d_i towards 0 without
    # changing its sign, hence ||d'||_2 <= ||d||_2 <= eps. No iteration is needed.

    def direction(self, gradient: torch.Tensor) -> torch.Tensor:
        norms = self.norm(gradient).clamp_(min=_TINY)
        return gradient.div_(norms.view(-1, *[1] * (gradient.ndim - 1)))

    def random_start(self, originals: torch.Tensor, eps: float,
                     generator: torch.Generator) -> torch.Tensor:
        # A Gaussian direction and a uniform radius, as in torchattacks' PGDL2.
        batch = originals.shape[0]
        direction = torch.randn(originals.shape, generator=generator, dtype=originals.dtype)
        radius = torch.rand((batch,), generator=generator, dtype=originals.dtype) * eps
        direction = self.direction(direction).mul_(radius.view(-1, *[1] * (originals.ndim - 1)))
        return self.clip(originals + direction.to(originals.device), originals, eps)

    def _quantize(self, clipped: torch.Tensor, originals: torch.Tensor,
                  eps: float) -> torch.Tensor:
        # Rounding to the nearest level can lengthen the perturbation; where it would leave
        # the ball, truncate each pixel towards the original instead (never lengthens it
        # when the original is on the grid; pixels with no level between x and x + d keep x).
        rounded = torch.round(clipped * 255.0) / 255.0
        delta = clipped - originals
        towards = torch.where(delta >= 0, torch.floor(clipped * 255.0 + 1e-4),
                              torch.ceil(clipped * 255.0 - 1e-4)) / 255.0
        between = (towards - originals) * delta.sign() >= 0
        truncated = torch.where(delta == 0, clipped, torch.where(between, towards, originals))
        fits = self.norm(rounded - originals) <= eps
        return torch.where(fits.view(-1, *[1] * (clipped.ndim - 1)), rounded, truncated)


LINF = LinfDistance()
L2 = L2Distance()
_DISTANCES: dict[str, Distance] = {LINF.name: LINF, L2.name: L2}


def distance(name: str | Distance) -> Distance:
    """The distance called ``name`` ("linf" or "l2"); a :class:`Distance` passes through."""
    if isinstance(name, Distance):
        return name
    key = name.lower().replace("-", "").replace("_", "") if isinstance(name, str) else name
    if key in ("linf", "inf", "l∞"):
        key = "linf"
    if key not in _DISTANCES:
        raise ChickenSaviourError(
            f"unknown distance {name!r}; choose one of {', '.join(sorted(_DISTANCES))}")
    return _DISTANCES[key]
