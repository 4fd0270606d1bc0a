"""Shared checks for the transforms' tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.autograd import gradcheck as _gradcheck


def gradcheck(fn: Callable[..., torch.Tensor], inputs: Sequence[torch.Tensor]) -> bool:
    """float64 gradcheck; fast_mode checks random projections of the Jacobian: the same
    test, a fraction of the time."""
    return _gradcheck(fn, tuple(inputs), fast_mode=True)
