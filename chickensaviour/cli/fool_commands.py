"""``fool`` and ``fool-retrain``: fooling images (Nguyen et al. 2015), checked, run, written.

``fool`` evolves (direct or CPPN encoding, MAP-Elites or one class) or optimises
(gradient) one image per class and writes a gallery, the champions as PNGs, ``fool.json``
(each confidence measured on the PNG as written), the per-generation history and,
with ``--gif``, the evolution as an animation. ``fool-retrain`` runs the MNIST
retraining rounds and writes their table, plot, JSON and each round's network as a
model card. Everything is checked before the run and written at the end, all or nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from chickensaviour import files
from chickensaviour.cli import options
from chickensaviour.cli.bars import progress_bar
from chickensaviour.cli.fool_outputs import (
    GRADIENT_STEPS,
    animation,
    champion_files,
    compared_classes,
    comparison,
    gallery,
    gallery_order,
    png_bytes,
    remove_stale,
    summary,
)
from chickensaviour.device import torch_threads
from chickensaviour.errors import ChickenSaviourError, WeightsNotFoundError
from chickensaviour.lab.report import json_bytes
from chickensaviour.labels import parse_class_list

logger = logging.getLogger(__name__)

ENCODINGS = ("direct", "cppn", "gradient")
SEARCHES = ("map-elites", "single")
#: Without --classes, gradient ascent on a model with more classes than this takes this
#: many evenly spaced ones (one optimisation per class is slow on 1000 classes).
GRADIENT_DEFAULT_CLASSES = 10
GIF_FRAMES = 40
LENET = "lenet5_mnist"
#: Inputs up to this side count as small models (LeNet's 28): a larger population is
#: cheap there, and one torch thread is faster than two (thread wake-ups cost more than
#: the work of a 28x28 batch).
SMALL_INPUT = 64
SMALL_POPULATION = 400
LARGE_POPULATION = 64
SMALL_FOCUS = 0.9999
#: Images per forward pass.
MAX_BATCH = 512


def add_fool_parsers(sub: argparse._SubParsersAction,
                     add_model: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``fool`` and ``fool-retrain`` on the top-level subparsers."""
    fool = sub.add_parser("fool", help="images a model labels with near certainty that "
                          "people see as noise or patterns (evolution or gradients)")
    fool.add_argument("--encoding", choices=ENCODINGS, default="cppn",
                      help="direct (one gene per pixel), cppn (pattern-producing network; "
                      "default) or gradient (gradient ascent from noise)")
    fool.add_argument("--search", choices=SEARCHES, default="map-elites",
                      help="map-elites (one champion per class; default) or single (one "
                      "class, truncation selection)")
    fool.add_argument("--classes", help="comma-separated class names or indices "
                      "(default: all of the model's)")
    fool.add_argument("--generations", default="200",
                      help="generations (gradient: steps; default 200)")
    fool.add_argument("--population", help=f"images per generation (default "
                      f"{SMALL_POPULATION} for small models such as MNIST's, "
                      f"{LARGE_POPULATION} for ImageNet's)")
    fool.add_argument("--focus", help="draw half the parents from champions below this "
                      "confidence, e.g. 0.9999, or none: uniformly, as in the paper "
                      "(default: 0.9999 for models of <= 20 classes, else none)")
    fool.add_argument("--minutes", help="stop after this many minutes (default: no limit); the "
                      "generations run then depend on the machine, not only on --seed")
    fool.add_argument("--top", help="write PNGs of the N most confident champions only "
                      "(default: all)")
    fool.add_argument("--gif", action="store_true", help="also write evolution.gif")
    fool.add_argument("--compare-gradient", action="store_true",
                      help="also fool the gallery's first ten classes by gradient ascent "
                      "from noise and show both (compare.png, gradient/, fool.json's "
                      "'gradient')")
    fool.add_argument("--seed", default="0", help="random seed (default 0)")
    fool.add_argument("--out", required=True, help="output directory")
    add_model(fool)
    fool.set_defaults(handler=run_fool)

    from chickensaviour.cli.fool_retrain_command import add_fool_retrain_parser

    add_fool_retrain_parser(sub)


# -- fool -----------------------------------------------------------------------------
def run_fool(args: argparse.Namespace) -> int:
    from chickensaviour.models.registry import model_labels

    generations = options.positive_int(args.generations, "--generations", 0 if
                                       args.encoding != "gradient" else 1, 1_000_000)
    minutes = None if args.minutes is None else options.finite_float(args.minutes, "--minutes")
    if minutes is not None and not minutes > 0:
        raise ChickenSaviourError(f"--minutes must be > 0, got {args.minutes}")
    top = None if args.top is None else options.positive_int(args.top, "--top", 1, 1_000_000)
    if args.encoding == "gradient" and (args.search != "map-elites" or args.gif or minutes
                                        or args.compare_gradient or args.focus
                                        or args.population):
        raise ChickenSaviourError("--search, --gif, --minutes, --focus, --population and "
                                  "--compare-gradient are for the evolutionary encodings "
                                  "(direct, cppn)")
    seed = seed_option(args.seed)
    labels = model_labels(args.model)
    classes = _classes(args.classes, labels, args.encoding)
    if args.search == "single" and len(classes) != 1:
        raise ChickenSaviourError("--search single evolves one class: give --classes NAME")
    focus = focus_option(args.focus, len(labels.names))
    requested = (None if args.population is None
                 else options.positive_int(args.population, "--population", 1, 100_000))
    out = files.check_creatable_dir(Path(args.out))
    model = load_fooled_model(args.model, args.device)
    small = int(model.input_size) <= SMALL_INPUT
    evolutionary = args.encoding != "gradient"
    population = requested or (SMALL_POPULATION if small else LARGE_POPULATION)
    started = time.perf_counter()
    frames: list[np.ndarray] = []
    history: list[Any] = []
    compared: list[Any] = []
    with torch_threads(1 if small and model.device.type == "cpu" else None):
        if not evolutionary:
            champions, ran = _gradient(model, classes, generations, seed), generations
        else:
            champions, history, ran = _evolve(model, args, classes, generations, population,
                                              minutes, focus, seed, frames)
            if args.compare_gradient:
                shown = [c.index for c in compared_classes(champions, len(classes))]
                compared = _gradient(model, shown, GRADIENT_STEPS, seed)
        seconds = time.perf_counter() - started
        outputs, records = champion_files(model, champions, out, top, "champions")
        gradient_outputs, gradient_records = champion_files(model, compared, out, None,
                                                           "gradient")
    outputs.update(gradient_outputs)
    document: dict[str, Any] = {
        "model": args.model, "encoding": args.encoding,
        "search": args.search if evolutionary else None,
        "seed": seed, "generations": ran,
        "population": population if evolutionary else None,
        "focus": focus if evolutionary and args.search == "map-elites" else None,
        "fit": "stretch",  # the whole PNG, resized to the model's input: see fool.json docs
        "seconds": round(seconds, 1),
        "summary": summary(records),
        "classes": records,
    }
    if compared:
        document["gradient"] = {"steps": GRADIENT_STEPS, "summary": summary(gradient_records),
                                "classes": gradient_records}
    outputs[out / "fool.json"] = json_bytes(document)
    fooled = document["summary"]["at_99"]
    title = (f"{model.name} · {args.encoding} · {fooled}/{len(records)} classes >= 99% · "
             f"{_ran(args.encoding, ran)}")
    outputs[out / "gallery.png"] = png_bytes(gallery(champions, title, len(classes)))
    if history:
        from chickensaviour.fooling.report import history_csv, history_png

        outputs[out / "history.csv"] = history_csv(history).encode()
        outputs[out / "history.png"] = history_png(history, title)
    if frames:
        outputs[out / "evolution.gif"] = animation(frames)
    if compared:
        outputs[out / "compare.png"] = png_bytes(comparison(champions, compared, model.name,
                                                        args.encoding, len(classes)))
    written = files.write_all(outputs)
    remove_stale(out, set(outputs))
    totals = document["summary"]
    print(f"{model.name} {args.encoding}: {totals['at_99']}/{len(records)} classes >= 99%, "
          f"{totals['at_9999']} >= 99.99%, median {totals['median']:.4f} "
          f"({_ran(args.encoding, ran)}, {seconds:.0f} s)")
    print(f"wrote {len(written)} files to {out} (gallery.png, fool.json, ...)")
    return 0


def seed_option(text: str) -> int:
    """``--seed``: an integer in 0..2**63-1."""
    return options.positive_int(text, "--seed", 0, 2 ** 63 - 1)


def focus_option(text: str | None, class_count: int) -> float | None:
    """``--focus``: a confidence, ``none``, or the default for ``class_count`` classes."""
    if text is None:
        return SMALL_FOCUS if class_count <= 20 else None
    if text.strip().lower() == "none":
        return None
    value = options.finite_float(text, "--focus")
    if not 0.0 < value <= 1.0:
        raise ChickenSaviourError(f"--focus must be a confidence in (0, 1] or none, got {text}")
    return value



def _ran(encoding: str, count: int) -> str:
    return f"{count} steps" if encoding == "gradient" else f"{count} generations"


def _classes(text: str | None, labels: Any, encoding: str) -> list[int]:
    count = len(labels.names)
    if text is not None:
        return list(parse_class_list(text, labels))
    if encoding == "gradient" and count > GRADIENT_DEFAULT_CLASSES * 10:
        step = count // GRADIENT_DEFAULT_CLASSES
        print(f"note: gradient ascent on {GRADIENT_DEFAULT_CLASSES} of {count} classes (every "
              f"{step}th); name others with --classes", file=sys.stderr)
        return list(range(0, step * GRADIENT_DEFAULT_CLASSES, step))
    return list(range(count))


def load_fooled_model(reference: str, device: str) -> Any:
    """``load_model``, training ``lenet5_mnist`` first (once) when it is missing."""
    from chickensaviour.models import load_model, model_spec

    try:
        return load_model(reference, device=device)
    except WeightsNotFoundError:
        if reference != LENET:
            raise
    weights: Any = model_spec(LENET).weights
    print(f"{LENET}: {weights.fetch_note}", file=sys.stderr, flush=True)
    weights.fetch()
    return load_model(reference, device=device)


def _evolve(model: Any, args: argparse.Namespace, classes: list[int], generations: int,
            population: int, minutes: float | None, focus: float | None, seed: int,
            frames: list[np.ndarray]) -> tuple[list[Any], list[Any], int]:
    from chickensaviour.fooling import evolved_champions, make_encoding
    from chickensaviour.fooling.evolution import SearchSettings, evolve
    from chickensaviour.fooling.gallery import gallery_image

    encoding = make_encoding(args.encoding, model)
    settings = SearchSettings(generations=generations, population=population, seed=seed,
                              batch_size=min(population, MAX_BATCH),
                              time_limit_s=None if minutes is None else minutes * 60.0,
                              focus=focus)
    every = max(1, generations // GIF_FRAMES)
    frame_seconds = None if minutes is None else minutes * 60.0 / GIF_FRAMES
    next_frame = 0.0

    def frame(stats: Any, archive: Any) -> None:
        nonlocal next_frame
        if frame_seconds is not None:  # a time budget: frames evenly in time
            if stats.seconds < next_frame:
                return
            next_frame = stats.seconds + frame_seconds
        elif stats.generation % every and stats.generation != generations:
            return
        shown = evolved_champions(model, encoding, archive, best=min(len(classes), 16),
                                  rescore=False)
        frames.append(gallery_image(gallery_order(shown, len(classes)),
                                    title=f"generation {stats.generation}", cell=96))

    single = classes[0] if args.search == "single" else None
    with progress_bar(generations, f"fool {args.encoding}", unit="gen", value="median",
                      value_format=".4f") as update:
        result = evolve(model, encoding, settings,
                        classes=None if single is not None else classes,
                        single_class=single, on_generation=frame if args.gif else None,
                        progress=update)
    return evolved_champions(model, encoding, result.archive), result.history, \
        result.generations


def _gradient(model: Any, classes: list[int], steps: int, seed: int) -> list[Any]:
    from chickensaviour.fooling import gradient_champions

    with progress_bar(steps * len(classes), "fool gradient", value="log_p") as update:
        return gradient_champions(model, classes, steps=steps, seed=seed, progress=update)
