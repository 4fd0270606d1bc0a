"""Time per image of the visualisation commands on the CPU, and what they reach.

Run from the repository root::

    .venv/bin/python benchmarks/bench_visualize.py [--json PATH]

mobilenet_v2 (batch norms not folded, as the commands load it), one image each:
``filters`` (one layer's channels + the kernel grid) and ``dream`` (defaults: 4 octaves
x 10 steps) on chelsea.png (451 x 300); ``visualize`` (200 steps, 224 x 224) for four
classes with ``--reg none``, ``yosinski`` and ``all``, with the class probability reached.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from chickensaviour.cli.visualize_commands import PIXEL_REGULARISERS
from chickensaviour.imaging import read_image
from chickensaviour.labels import imagenet_classes
from chickensaviour.models import load_model
from chickensaviour.visualize import objectives as obj
from chickensaviour.visualize import transforms as tf
from chickensaviour.visualize.dream import DreamSettings, deep_dream
from chickensaviour.visualize.filters import activation_grid, kernel_grid, layer_output
from chickensaviour.visualize.params import fourier_image, pixel_image
from chickensaviour.visualize.render import render_vis

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ("gorilla", "hartebeest", "school bus", "pirate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    model = load_model("mobilenet_v2", fold_bn=False)
    judge = model.with_fit("stretch")
    photo = read_image(ROOT / "chickensaviour" / "assets" / "samples" / "chelsea.png")
    results: dict[str, object] = {}

    started = time.perf_counter()
    activations = layer_output(model, photo, "features.4")
    activation_grid(activations, range(32))
    kernel_grid(model)
    results["filters_s"] = time.perf_counter() - started
    for layer in ("features.6", "features.12"):
        started = time.perf_counter()
        deep_dream(model, photo, obj.layer_activation(layer), DreamSettings())
        results[f"dream_{layer}_s"] = time.perf_counter() - started

    classes = imagenet_classes()
    for name in CLASSES:
        index = classes.resolve(name)
        for reg in ("none", "yosinski", "all"):
            if reg == "all":
                param, lr, regs, transforms = fourier_image(224), 0.05, (), tf.STANDARD
            else:
                regs = PIXEL_REGULARISERS if reg == "yosinski" else ()
                transforms = tf.STANDARD if reg == "yosinski" else ()
                param, lr = pixel_image(224), (0.02 if reg == "yosinski" else 0.01)
            started = time.perf_counter()
            image = render_vis(model, obj.class_logit(index), param, transforms=transforms,
                               steps=200, lr=lr, regularisers=regs)
            seconds = time.perf_counter() - started
            probability = float(judge.probabilities(image)[0, index])
            results[f"visualize_{name}_{reg}"] = {"seconds": round(seconds, 1),
                                                  "probability": round(probability, 4)}

    print(f"machine: python {platform.python_version()}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, cpus {os.cpu_count()}")
    for key, value in results.items():
        shown = f"{value:.2f} s" if isinstance(value, float) else value
        print(f"{key:<36}{shown}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
