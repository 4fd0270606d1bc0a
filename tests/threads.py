"""A model kept busy on another thread while a test does something process-wide."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def forwards_meanwhile(busy: nn.Module, x: torch.Tensor) -> Iterator[list[int]]:
    """Run ``busy(x)`` in a loop on another thread while the ``with`` body runs; on exit
    assert no forward raised and every output equals the first one (computed before).
    Yields a one-item list counting the forwards done."""
    with torch.no_grad():
        expected = busy(x)
    errors: list[BaseException] = []
    stop = threading.Event()
    count = [0]

    def run_forward() -> None:
        while not stop.is_set():
            try:
                with torch.no_grad():
                    out = busy(x)
                if not torch.equal(out, expected):
                    raise AssertionError(f"output changed by {(out - expected).abs().max()}")
                count[0] += 1
            except BaseException as exc:
                errors.append(exc)
                return

    thread = threading.Thread(target=run_forward)
    thread.start()
    try:
        yield count
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[0]
