"""What folding batch norms into convolutions buys: ms per forward and forward+backward.

Run from the repository root::

    .venv/bin/python benchmarks/bench_fold_bn.py [--model mobilenet_v2] [--batch 2]

``load_model`` folds eval-mode batch norms (``models.loading.fold_batch_norms``); this
times the same network with and without the folding, interleaved, median of
``--repeats``, and prints the largest output difference.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from chickensaviour.models import load_model
from chickensaviour.models.loading import fold_batch_norms
from chickensaviour.models.registry import model_names


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2", choices=model_names())
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    plain = load_model(args.model, device="cpu", fold_bn=False)  # the same weights, unfolded
    folded = copy.deepcopy(plain)
    count = fold_batch_norms(folded.net)
    images = torch.rand(args.batch, 3, plain.input_size, plain.input_size,
                        generator=torch.Generator().manual_seed(0))

    def forward(model):
        with torch.inference_mode():
            return model(images)

    def forward_backward(model):
        x = images.clone().requires_grad_(True)
        return torch.autograd.grad(model(x).sum(), x)

    for model in (plain, folded):
        forward(model), forward_backward(model)  # warm-up
    results = {}
    for label, fn in (("forward", forward), ("forward+backward", forward_backward)):
        results[label] = (timed(lambda fn=fn: fn(plain), args.repeats),
                          timed(lambda fn=fn: fn(folded), args.repeats))
    difference = float((forward(plain) - forward(folded)).abs().max())
    print(f"{args.model}, batch {args.batch}, {torch.get_num_threads()} threads, "
          f"{count} Sequential children folded; max |logit difference| {difference:.2e}")
    for label, (before, after) in results.items():
        print(f"{label:<17} {before:7.1f} ms -> {after:7.1f} ms  ({before / after:.2f}x)")


if __name__ == "__main__":
    main()
