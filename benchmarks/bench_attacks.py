"""Benchmark chickensaviour's attacks against torchattacks on the same model and batch.

Run from the repository root::

    .venv/bin/python benchmarks/bench_attacks.py
    .venv/bin/python benchmarks/bench_attacks.py --batch 32 --repeats 7 --threads 4 \\
        --json benchmarks/results/bench_attacks_cpu.json

Both libraries attack the same model object (``load_model(--model)``, on CUDA when there is
one), the same deterministic batch (scikit-image sample photos, tiled to ``--batch``) and the
same labels (the model's own top-1), untargeted: FGSM; PGD-10 (eps 8/255, step 2/255,
random start); MI-FGSM-10 (eps 8/255, step 2/255, decay 1); DI-FGSM-10 (eps 8/255, step
2/255, decay 0, resize rate 0.9, diversity probability 0.5; each library draws its own
resizes); PGD-L2-10 (L2 eps 1.0, step 0.2, random start; torchattacks' defaults). Runs are
interleaved (ours, theirs, ours, theirs, ...) so machine
noise hits both alike; the reported time is the median over ``--repeats`` timed runs, after
``--warmup`` untimed ones. "ratio" is our throughput over torchattacks' (above 1: ours is
faster). The success rate (fraction of images whose top-1 changed) is printed next to each
time so the comparison is like for like.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from chickensaviour.attacks import DIFGSM, FGSM, L2, LINF, MIFGSM, PGD, Distance, untargeted
from chickensaviour.device import pick_device
from chickensaviour.models import load_model

EPS = 8 / 255
ALPHA = 2 / 255
PGD_STEPS = 10
L2_EPS = 1.0
L2_ALPHA = 0.2
ATTACKS = ("fgsm", "pgd", "mi-fgsm", "di-fgsm", "pgd-l2")
SEED = 0
# RGB sample photos shipped with scikit-image (no download needed).
SAMPLE_IMAGES = ("chelsea", "coffee", "astronaut", "rocket", "hubble_deep_field",
                 "immunohistochemistry")

AttackFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Timing:
    """Timing and effect of one attack implementation."""

    name: str
    library: str
    seconds: list[float] = field(default_factory=list)
    other_cores: list[float] = field(default_factory=list)  # CPU used by other processes
    success_rate: float = float("nan")

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    def images_per_s(self, batch: int) -> float:
        return batch / self.median_s


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2", help="zoo model name")
    parser.add_argument("--batch", type=int, default=16, help="images per attack call")
    parser.add_argument("--size", type=int, default=224, help="side of the square input images")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per attack")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per attack first")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads(N)")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA if any)")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--attacks", default=",".join(ATTACKS),
                        help=f"comma-separated subset of {','.join(ATTACKS)}")
    args = parser.parse_args(argv)
    args.attacks = [name.strip() for name in args.attacks.split(",") if name.strip()]
    unknown = sorted(set(args.attacks) - set(ATTACKS))
    if unknown or not args.attacks:
        parser.error(f"unknown --attacks {unknown}; choose from {','.join(ATTACKS)}")
    if args.batch < 1 or args.size < 8 or args.repeats < 1 or args.warmup < 0:
        parser.error("need --batch >= 1, --size >= 8, --repeats >= 1, --warmup >= 0")
    return args


def sample_batch(batch: int, size: int) -> tuple[torch.Tensor, str]:
    """A deterministic ``(batch, 3, size, size)`` float batch in [0, 1], and its source."""
    photos: list[torch.Tensor] = []
    try:
        from skimage import data

        for name in SAMPLE_IMAGES:
            try:
                array = getattr(data, name)()
            except Exception:  # a sample that needs a download, or is missing: skip it
                continue
            if array.ndim != 3 or array.shape[2] < 3:
                continue
            photo = torch.from_numpy(array[:, :, :3].copy()).permute(2, 0, 1).float() / 255.0
            photos.append(photo)
    except ImportError:
        pass
    if not photos:
        generator = torch.Generator().manual_seed(SEED)
        return torch.rand((batch, 3, size, size), generator=generator), "seeded uniform noise"
    resized = [
        F.interpolate(p[None], size=(size, size), mode="bilinear", align_corners=False,
                      antialias=True)[0]
        for p in photos
    ]
    # Tile to the batch; every second round is mirrored so copies are not identical.
    images = [
        resized[i % len(resized)].flip(-1) if (i // len(resized)) % 2 else resized[i % len(resized)]
        for i in range(batch)
    ]
    source = f"skimage.data: {', '.join(SAMPLE_IMAGES[: len(photos)])}"
    return torch.stack(images).clamp_(0.0, 1.0).contiguous(), source


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def top1(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return model(images).argmax(dim=1)


def machine_busy_s() -> float | None:
    """CPU seconds all processes have spent so far (Linux ``/proc/stat``), else None."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def time_once(fn: AttackFn, images: torch.Tensor, labels: torch.Tensor,
              device: torch.device) -> tuple[float, float, torch.Tensor]:
    """Wall seconds of one call, cores other processes kept busy meanwhile, and the result."""
    torch.manual_seed(SEED)  # torchattacks' random start draws from the global generator
    synchronize(device)
    busy, own = machine_busy_s(), time.process_time()
    start = time.perf_counter()
    adversarial = fn(images, labels)
    synchronize(device)
    wall = time.perf_counter() - start
    busy_after, own_after = machine_busy_s(), time.process_time()
    others = float("nan")
    if busy is not None and busy_after is not None:
        others = max(0.0, (busy_after - busy) - (own_after - own)) / wall
    return wall, others, adversarial


def bench_pair(ours: Timing, theirs: Timing, fns: tuple[AttackFn, AttackFn],
               model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
               device: torch.device, warmup: int, repeats: int, eps: float = EPS,
               distance: Distance = LINF) -> None:
    """Time ``ours`` and ``theirs`` interleaved; record the success rate of the last run and
    check both kept the budget ``eps`` in ``distance``."""
    for _ in range(warmup):
        for fn in fns:
            time_once(fn, images, labels, device)
    for _ in range(repeats):
        for timing, fn in zip((ours, theirs), fns, strict=True):
            seconds, others, adversarial = time_once(fn, images, labels, device)
            timing.seconds.append(seconds)
            timing.other_cores.append(others)
            timing.success_rate = float((top1(model, adversarial) != labels).float().mean())
            budget = float(distance.norm(adversarial - images).max())
            if budget > eps + 1e-5:
                raise RuntimeError(f"{timing.library} {timing.name} broke the budget: {budget}")


def machine_info(device: torch.device) -> dict[str, object]:
    info: dict[str, object] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "device": str(device),
    }
    try:
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    try:
        import torchattacks

        info["torchattacks"] = torchattacks.__version__
    except (ImportError, AttributeError):
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import torchattacks
    except ImportError:
        print("torchattacks is not installed: pip install 'torchattacks>=3.5'", file=sys.stderr)
        return 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    model = load_model(args.model, device=device)
    images, source = sample_batch(args.batch, args.size)
    images = images.to(device)
    labels = top1(model, images)
    goal = untargeted(labels, args.batch, device)

    def our(attack: object) -> AttackFn:
        return lambda x, _y: attack(model, x, goal)  # type: ignore[operator]

    steps = PGD_STEPS
    candidates: dict[str, tuple[str, AttackFn, AttackFn, float, Distance]] = {
        "fgsm": ("FGSM", our(FGSM(eps=EPS)), torchattacks.FGSM(model, eps=EPS), EPS, LINF),
        "pgd": (f"PGD-{steps}",
                our(PGD(eps=EPS, steps=steps, step_size=ALPHA, random_start=True, seed=SEED)),
                torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=steps, random_start=True),
                EPS, LINF),
        "mi-fgsm": (f"MI-FGSM-{steps}",
                    our(MIFGSM(eps=EPS, steps=steps, step_size=ALPHA, decay=1.0)),
                    torchattacks.MIFGSM(model, eps=EPS, alpha=ALPHA, steps=steps, decay=1.0),
                    EPS, LINF),
        "di-fgsm": (f"DI-FGSM-{steps}",
                    our(DIFGSM(eps=EPS, steps=steps, step_size=ALPHA, decay=0.0,
                               resize_rate=0.9, diversity_prob=0.5, seed=SEED)),
                    torchattacks.DIFGSM(model, eps=EPS, alpha=ALPHA, steps=steps, decay=0.0,
                                        resize_rate=0.9, diversity_prob=0.5),
                    EPS, LINF),
        "pgd-l2": (f"PGD-L2-{steps}",
                   our(PGD(eps=L2_EPS, steps=steps, step_size=L2_ALPHA, random_start=True,
                           seed=SEED, distance="l2")),
                   torchattacks.PGDL2(model, eps=L2_EPS, alpha=L2_ALPHA, steps=steps,
                                      random_start=True),
                   L2_EPS, L2),
    }
    pairs: list[tuple[Timing, Timing, tuple[AttackFn, AttackFn], float, Distance]] = [
        (Timing(label, "chickensaviour"), Timing(label, "torchattacks"), (ours, theirs), eps,
         distance)
        for label, ours, theirs, eps, distance in (candidates[name] for name in args.attacks)
    ]
    info = machine_info(device)
    print("machine: " + ", ".join(f"{key}={value}" for key, value in info.items()))
    print(f"model={args.model} batch={args.batch} size={args.size} repeats={args.repeats} "
          f"warmup={args.warmup} eps=8/255 alpha=2/255 (L2: eps={L2_EPS} alpha={L2_ALPHA}) "
          f"untargeted; images: {source}")
    print(f"labels (model top-1): {labels.tolist()}")

    for ours, theirs, fns, eps, distance in pairs:
        bench_pair(ours, theirs, fns, model, images, labels, device, args.warmup, args.repeats,
                   eps, distance)

    header = (f"{'attack':<11} {'library':<15} {'median s':>9} {'min s':>8} {'img/s':>8} "
              f"{'success':>8} {'ratio':>6} {'others':>7}")
    print()
    print(header)
    print("-" * len(header))
    rows: list[dict[str, object]] = []
    for ours, theirs, *_ in pairs:
        ratio = ours.images_per_s(args.batch) / theirs.images_per_s(args.batch)
        for timing in (ours, theirs):
            shown = f"{ratio:6.2f}" if timing is ours else f"{'':>6}"
            print(f"{timing.name:<11} {timing.library:<15} {timing.median_s:9.3f} "
                  f"{min(timing.seconds):8.3f} {timing.images_per_s(args.batch):8.2f} "
                  f"{timing.success_rate:8.1%} {shown} {max(timing.other_cores):7.2f}")
            row = asdict(timing)
            row["other_cores"] = [None if math.isnan(v) else v for v in timing.other_cores]
            rows.append({**row, "median_s": timing.median_s,
                         "images_per_s": timing.images_per_s(args.batch),
                         "ratio_ours_over_theirs": ratio if timing is ours else None})
    print("\nratio = our images/s / torchattacks images/s (above 1: ours is faster); "
          "success = fraction of images whose top-1 changed;\n"
          "others = most CPU cores other processes kept busy during one timed run "
          "(Linux /proc/stat; nan elsewhere)")
    busiest = max(max(t.other_cores) for pair in pairs for t in pair[:2])
    if busiest > 0.25:
        print(f"WARNING: other processes used up to {busiest:.2f} cores during the timed runs; "
              "the medians are not clean, run again on a quiet machine")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = {"machine": info, "args": {k: str(v) if isinstance(v, Path) else v
                                             for k, v in vars(args).items()},
                  "images": source, "labels": labels.tolist(), "results": rows}
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
