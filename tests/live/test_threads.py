"""The live app's thread policy."""

from __future__ import annotations

import threading

import pytest
import torch

from chickensaviour.device import cpu_count, torch_threads, use_threads
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.live.threads import LiveThreads


def test_defaults_give_one_thread_per_stage_and_every_cpu_to_jobs() -> None:
    threads = LiveThreads()
    assert threads.for_prepare(gradients=False) == 1
    assert threads.for_prepare(gradients=True) == 1  # measured: 6 fps against 5 with two
    assert threads.for_jobs == cpu_count() >= 1
    assert LiveThreads(prepare_gradients=0).for_prepare(gradients=True) == cpu_count()


@pytest.mark.parametrize("bad", [{"prepare": 0}, {"judge": 0}, {"engine": 0}, {"jobs": -1},
                                 {"prepare_gradients": -1}, {"share_during_jobs": 0.0},
                                 {"share_during_jobs": 1.5}])
def test_bad_counts_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ChickenSaviourError):
        LiveThreads(**bad)  # type: ignore[arg-type]


def test_use_threads_sets_only_the_calling_threads_count() -> None:
    """Torch's intra-op count is per thread: a stage setting its own leaves the others."""
    seen: list[int] = []

    def stage() -> None:
        use_threads(1)
        seen.append(torch.get_num_threads())

    with torch_threads(2):
        worker = threading.Thread(target=stage)
        worker.start()
        worker.join()
        assert seen == [1]
        assert torch.get_num_threads() == 2
