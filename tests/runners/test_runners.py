"""The in-process and the Ray runner: same results, in job order."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from chickensaviour.errors import ChickenSaviourError, OperationCancelled
from chickensaviour.lab import LabJob, run_job
from chickensaviour.lab.transfer import transfer_jobs
from chickensaviour.runners import LocalRunner
from tests.lab.fixtures import TINY_A, TINY_B, tiny_images


def _square(job: int, shared: int) -> int:
    return job * job + shared


def test_local_runner_keeps_order_and_stops() -> None:
    assert LocalRunner(progress=False).map(_square, [3, 1, 2], 10) == [19, 11, 14]
    calls = iter([False, True])
    runner = LocalRunner(progress=False, should_stop=lambda: next(calls))
    with pytest.raises(OperationCancelled):
        runner.map(_square, [1, 2, 3], 0)


def test_missing_ray_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from chickensaviour.runners.ray_runner import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ChickenSaviourError, match=r"pip install chickensaviour\[cluster\]"):
        import_ray()


def test_only_ray_runner_imports_ray() -> None:
    from pathlib import Path

    import chickensaviour

    root = Path(chickensaviour.__file__).parent
    importers = [p.relative_to(root).as_posix() for p in root.rglob("*.py")
                 if "import ray" in p.read_text()]
    assert importers == ["runners/ray_runner.py"]


def test_ray_runner_matches_local_runner() -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install chickensaviour[cluster])")
    from chickensaviour.runners.ray_runner import RayRunner

    images = tiny_images()
    jobs = transfer_jobs(len(images), (TINY_A, TINY_B), ("fgsm", "pgd"), (8 / 255, 32 / 255),
                         steps=3, batch_size=6, seed=11)
    jobs.append(LabJob(kind="defend", source=TINY_A, attack="pgd", epsilons=(16 / 255,),
                       indices=(0, 1, 2), defence="blur:1.5", steps=3, seed=11))
    local = LocalRunner(threads=1, progress=False).map(run_job, jobs, images)
    remote = RayRunner(num_workers=2, progress=False).map(run_job, jobs, images)
    assert [r.job for r in remote] == jobs  # job order kept
    for mine, theirs in zip(local, remote, strict=True):
        for field in ("label", "clean_pred", "adv_pred", "success", "naive_pred",
                      "adaptive_pred"):
            if hasattr(mine, field):
                np.testing.assert_array_equal(getattr(mine, field), getattr(theirs, field))
        if hasattr(mine, "adv_conf"):
            np.testing.assert_allclose(mine.adv_conf, theirs.adv_conf, rtol=0, atol=1e-6)
