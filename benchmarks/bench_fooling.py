"""Fooling images: speed of each encoding, and the time to fool all of MNIST.

Usage: ``python benchmarks/bench_fooling.py [--seeds N] [--skip-imagenet]``; writes
``benchmarks/results/bench_fooling.json`` (or ``--out``) and the same name in ``.txt``.

- Throughput: generations and images per second of MAP-Elites with the direct and CPPN
  encodings on LeNet-5 (MNIST, population 400, one torch thread: faster than two for a
  28x28 batch) and on MobileNetV2 (ImageNet, population 64, 224x224, default threads),
  plus rendering alone (images per second) for each encoding at each size.
- The MNIST target: for each encoding and each seed, the generation and the seconds at
  which all ten digits first reach 99.99% (at most 200 generations), with the default
  parent selection (half the parents from unfinished classes) and with the paper's
  uniform MAP-Elites selection.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"


def _throughput(model, encoding, population: int, generations: int) -> dict[str, float]:
    from chickensaviour.fooling import SearchSettings, evolve

    settings = SearchSettings(generations=generations, population=population, seed=0,
                              batch_size=min(population, 512))
    evolve(model, encoding, SearchSettings(generations=1, population=population))  # warm up
    result = evolve(model, encoding, settings)
    seconds = result.seconds
    images = result.history[-1].evaluated
    return {"generations_per_s": round((generations + 1) / seconds, 3),
            "images_per_s": round(images / seconds, 1), "population": population}


def _render_rate(encoding, size: int, count: int = 64) -> float:
    rng = np.random.default_rng(0)
    genomes = encoding.random(count, rng)
    for _ in range(50):  # grown genomes, as after a few dozen generations
        genomes = [encoding.mutate(g, rng, 0) for g in genomes]
    encoding.render(genomes[:2], size)
    start = time.perf_counter()
    encoding.render(genomes, size)
    return round(count / (time.perf_counter() - start), 1)


def _time_to_target(model, encoding_name: str, seeds: int, focus: float | None) -> dict:
    from chickensaviour.fooling import SearchSettings, evolve, make_encoding

    runs = []
    for seed in range(seeds):
        settings = SearchSettings(generations=200, population=400, seed=seed, batch_size=512,
                                  stop_when_all=0.9999, focus=focus)
        result = evolve(model, make_encoding(encoding_name, model), settings)
        reached = result.first_reached[0.9999]
        done = len(reached) == 10
        runs.append({"seed": seed, "all_10": done,
                     "classes_9999": len(reached),
                     "generation": max(reached.values()) if done else None,
                     "seconds": round(result.seconds, 2) if done else None,
                     "lowest_confidence": round(float(result.archive.confidences().min()), 6)})
    finished = [r for r in runs if r["all_10"]]
    return {"focus": focus, "runs": runs, "seeds_all_10": len(finished),
            "median_generation": (statistics.median(r["generation"] for r in finished)
                                  if finished else None),
            "median_seconds": (statistics.median(r["seconds"] for r in finished)
                               if finished else None)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--skip-imagenet", action="store_true")
    parser.add_argument("--skip-mnist", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "bench_fooling.json"))
    args = parser.parse_args()

    from chickensaviour.fooling import CppnEncoding, DirectEncoding, make_encoding
    from chickensaviour.models import load_model

    figures: dict[str, object] = {"threads_default": torch.get_num_threads()}
    default_threads = torch.get_num_threads()
    figures["render_images_per_s"] = {}
    if not args.skip_mnist:
        lenet = load_model("lenet5_mnist", device="cpu")
        torch.set_num_threads(1)
        figures["render_images_per_s"] = {
            "direct_28_grey": _render_rate(DirectEncoding(28, 1), 28),
            "cppn_28_grey": _render_rate(CppnEncoding(1), 28),
        }
        figures["mnist_throughput_1_thread"] = {
            name: _throughput(lenet, make_encoding(name, lenet), 400, 30)
            for name in ("direct", "cppn")}
        figures["mnist_time_to_all_10_at_9999"] = {
            f"{name}_{'focus' if focus else 'uniform'}": _time_to_target(
                lenet, name, args.seeds, focus)
            for name in ("direct", "cppn") for focus in (0.9999, None)}
        torch.set_num_threads(default_threads)
    if not args.skip_imagenet:
        mobilenet = load_model("mobilenet_v2", device="cpu")
        figures["render_images_per_s"].update({  # type: ignore[union-attr]
            "direct_224_rgb": _render_rate(DirectEncoding(224, 3), 224),
            "cppn_224_rgb": _render_rate(CppnEncoding(3), 224),
        })
        figures["imagenet_throughput_mobilenet_v2"] = {
            name: _throughput(mobilenet, make_encoding(name, mobilenet), 64, 5)
            for name in ("direct", "cppn")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(figures, indent=1) + "\n")
    lines = [f"bench_fooling ({args.seeds} seeds; LeNet on 1 thread, MobileNetV2 on "
             f"{default_threads})"]
    for key, value in figures.items():
        if key == "mnist_time_to_all_10_at_9999":
            for name, target in value.items():  # type: ignore[union-attr]
                lines.append(f"  {name}: all 10 >= 99.99% in {target['seeds_all_10']}/"
                             f"{args.seeds} seeds, median generation "
                             f"{target['median_generation']}, median {target['median_seconds']} s")
        else:
            lines.append(f"  {key}: {value}")
    text = "\n".join(lines) + "\n"
    Path(args.out).with_suffix(".txt").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
