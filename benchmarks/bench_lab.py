"""Images per second of a lab transfer run: in-process versus Ray with 1 and 2 workers.

Usage: ``python benchmarks/bench_lab.py [--images N] [--models a,b]``; writes
``benchmarks/results/bench_lab.json``. Each configuration runs the same jobs (FGSM and
PGD-5 at 8/255, one job per source x attack x 2 images) on copies of the bundled photos
shrunk like the CLI does; Ray times include starting the local cluster and the workers
loading their models (what a user waits for), and a second, warm figure without that.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _images(count: int) -> list[np.ndarray]:
    from chickensaviour.cli.lab_commands import load_lab_images

    _, photos = load_lab_images([])
    return [photos[i % len(photos)] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--models", default="mobilenet_v2,efficientnet_lite0")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_lab.json"))
    args = parser.parse_args()
    import torch

    from chickensaviour.lab.jobs import run_job
    from chickensaviour.lab.transfer import transfer_jobs
    from chickensaviour.runners import LocalRunner
    from chickensaviour.runners.ray_runner import RayRunner, import_ray

    images = _images(args.images)
    models = tuple(args.models.split(","))
    jobs = transfer_jobs(len(images), models, ("fgsm", "pgd"), (8 / 255,), steps=5,
                         batch_size=2)
    figures: dict[str, object] = {"images": len(images), "models": list(models),
                                  "jobs": len(jobs), "cpus": torch.get_num_threads()}
    runs = {"in_process_default_threads": LocalRunner(progress=False),
            "in_process_1_thread": LocalRunner(threads=1, progress=False)}
    for name, runner in runs.items():
        runner.map(run_job, jobs[:1], images)  # load the models once
        start = time.perf_counter()
        runner.map(run_job, jobs, images)
        figures[name] = len(images) / (time.perf_counter() - start)
    ray = import_ray()
    for workers in (1, 2):
        start = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        try:
            runner = RayRunner(num_workers=workers, progress=False)
            runner.map(run_job, jobs, images)
            cold = time.perf_counter() - start
            start = time.perf_counter()
            runner.map(run_job, jobs, images)  # workers keep their models
            warm = time.perf_counter() - start
        finally:
            ray.shutdown()
        figures[f"ray_{workers}_workers_cold"] = len(images) / cold
        figures[f"ray_{workers}_workers_warm"] = len(images) / warm
    print(json.dumps(figures, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
