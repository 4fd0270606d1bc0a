"""How long each model takes to load, and to run forward and forward+backward.

Run from the repository root::

    .venv/bin/python benchmarks/bench_load_models.py [--repeats 5] [--json PATH]

For every registered model (``chickensaviour models``) whose weights are present:
``load_model`` time in a fresh process (imports excluded: timed around the call only;
the first call hashes the weight file), then in the same process again (hash cached),
both with the default options (batch norms folded, frozen, channels-last); then the
median ms of a forward pass and of a forward+backward pass (gradient with respect to a
``(1, 3, S, S)`` input at the model's own input size S) over ``--repeats`` after two
warm-ups, on the CPU with torch's default threads. Models are measured one after the
other, alternating the forward and backward timings, on a shared, noisy machine: read
ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from bench_fold_bn import timed

from chickensaviour.models import describe_models, load_model

ROOT = Path(__file__).resolve().parents[1]
COLD = """
import sys, time, json
from chickensaviour.models import load_model
started = time.perf_counter()
load_model(sys.argv[1], device="cpu")
first = time.perf_counter() - started
started = time.perf_counter()
load_model(sys.argv[1], device="cpu")
print(json.dumps([first, time.perf_counter() - started]))
"""


def _median_ms(fn, repeats: int) -> float:
    for _ in range(2):  # warm-ups
        fn()
    return timed(fn, repeats)


def measure(name: str, repeats: int) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", COLD, name], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    first, again = json.loads(done.stdout.strip().splitlines()[-1])
    model = load_model(name, device="cpu")
    size = model.input_size
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))

    def forward() -> None:
        with torch.no_grad():
            model(image)

    def backward() -> None:
        x = image.clone().requires_grad_(True)
        model(x).logsumexp(dim=1).sum().backward()

    return {"model": name, "input_size": size,
            "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "load_first_s": round(first, 3), "load_again_s": round(again, 3),
            "forward_ms": round(_median_ms(forward, repeats), 1),
            "forward_backward_ms": round(_median_ms(backward, repeats), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path,
                        default=ROOT / "benchmarks" / "results" / "load_models.json")
    args = parser.parse_args()
    rows = []
    for info in describe_models():
        if info.problem is not None or info.name.startswith("torchvision:"):
            print(f"{info.name}: skipped ({info.problem or 'hub cache'})")
            continue
        rows.append(measure(info.name, args.repeats))
        row = rows[-1]
        print(f"{row['model']:<20} {row['parameters_m']:>6} M  load {row['load_first_s']:>6} s "
              f"(again {row['load_again_s']} s)  forward {row['forward_ms']:>7} ms  "
              f"forward+backward {row['forward_backward_ms']:>7} ms  at {row['input_size']}")
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "models": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
