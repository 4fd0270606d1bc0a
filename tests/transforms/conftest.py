"""The transforms' tests run on one thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chickensaviour.device import torch_threads


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # Tiny tensors: waking a second OpenMP thread costs far more than the work it takes over.
    with torch_threads(1):
        yield
