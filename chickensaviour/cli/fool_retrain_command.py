"""``fool-retrain``: the paper's retraining rounds on MNIST, checked, run, written.

Writes ``rounds.json``, ``rounds.md`` (the table), ``rounds.png`` (the plot) and, per
round, a gallery of both encodings' champions and the round's network as a model card
(``round_K/CARD.json``: ``fool --model DIR/round_3/CARD.json`` fools it again). All
arguments are checked before the run; everything is written at the end, all or nothing.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chickensaviour import files
from chickensaviour.cli import options
from chickensaviour.cli.bars import progress_bar
from chickensaviour.cli.fool_commands import (
    LENET,
    SMALL_FOCUS,
    focus_option,
    load_fooled_model,
    seed_option,
)
from chickensaviour.cli.fool_outputs import png_bytes
from chickensaviour.device import torch_threads
from chickensaviour.fooling.retraining import RetrainingSettings
from chickensaviour.lab.report import json_bytes


def add_fool_retrain_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``fool-retrain`` on the top-level subparsers."""
    retrain = sub.add_parser("fool-retrain", help="MNIST: retrain LeNet with a 'fooling' "
                             "class, round after round, and fool it again")
    retrain.add_argument("--rounds", default="5", help="retraining rounds (default 5)")
    retrain.add_argument("--encodings", default="direct,cppn",
                         help="comma-separated: direct, cppn (default both)")
    retrain.add_argument("--generations", default="200",
                         help="generations per search (default 200)")
    retrain.add_argument("--population", default=str(RetrainingSettings.population),
                         help="images per generation (default %(default)s)")
    retrain.add_argument("--focus", help=f"parent selection of the searches, as for fool "
                         f"(default {SMALL_FOCUS}; none: uniform, as in the paper)")
    retrain.add_argument("--model", default=LENET, help="the 10-class LeNet-5 to start "
                         "from: lenet5_mnist (trained here once) or its model card")
    retrain.add_argument("--epochs", default="1", help="retraining epochs per round (1)")
    retrain.add_argument("--train-digits", help="train on N digits (default: all 50,000)")
    retrain.add_argument("--seed", default="0", help="random seed (default 0)")
    retrain.add_argument("--out", required=True, help="output directory")
    retrain.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    retrain.set_defaults(handler=run_fool_retrain)


def run_fool_retrain(args: argparse.Namespace) -> int:
    from chickensaviour.fooling.retraining import check_base, retraining_rounds
    from chickensaviour.training.mnist import load_mnist

    encodings = tuple(part.strip() for part in args.encodings.split(",") if part.strip())
    settings = RetrainingSettings(
        rounds=options.positive_int(args.rounds, "--rounds", 1, 100),
        encodings=encodings,
        generations=options.positive_int(args.generations, "--generations", 1, 100_000),
        population=options.positive_int(args.population, "--population", 1, 100_000),
        focus=focus_option(args.focus, 10),
        epochs=options.positive_int(args.epochs, "--epochs", 1, 50),
        train_digits=(None if args.train_digits is None else
                      options.positive_int(args.train_digits, "--train-digits", 100, 50_000)),
        seed=seed_option(args.seed))
    out = files.check_creatable_dir(Path(args.out))
    data = load_mnist()
    base = load_fooled_model(args.model, args.device)
    check_base(base.net)  # before the progress bar: the error is then the only line
    started = time.perf_counter()
    steps = (settings.rounds + 1) * len(settings.encodings)
    # LeNet-sized work: one thread is faster than two (see fool's SMALL_INPUT)
    with torch_threads(1 if base.device.type == "cpu" else None), \
            progress_bar(steps, "fool-retrain", unit="search", value="fooled",
                         value_format=".0f") as update:
        results = retraining_rounds(base.net, data, settings, progress=update)
    seconds = time.perf_counter() - started
    written = files.write_all(_outputs(results, settings, out, data.source, seconds))
    for result in results:
        fooled = ", ".join(f"{s.encoding} {s.fooled}/10" for s in result.searches)
        caught = ("" if result.caught is None else
                  f", calls {result.caught:.0%} of last round's held-out fooling images "
                  "'fooling'")
        print(f"round {result.round}: accuracy {result.test_accuracy:.4f}{caught}; "
              f"fooled at 99.99%: {fooled}")
    print(f"{settings.rounds} rounds in {seconds:.0f} s; wrote {len(written)} files to {out}")
    return 0


def _outputs(results: list[Any], settings: Any, out: Path, source: str,
             seconds: float) -> dict[Path, bytes]:
    from chickensaviour.fooling.gallery import gallery_image
    from chickensaviour.fooling.report import rounds_markdown, rounds_png
    from chickensaviour.fooling.retraining import rounds_table
    from chickensaviour.training.checkpoints import card_files

    rows = rounds_table(results)
    document = {"settings": asdict(settings), "mnist": source, "seconds": round(seconds, 1),
                "rounds": rows}
    outputs = {
        out / "rounds.json": json_bytes(document),
        out / "rounds.md": rounds_markdown(rows).encode(),
        out / "rounds.png": rounds_png(rows),
    }
    for result in results:
        folder = out / f"round_{result.round}"
        champions = [c for search in result.searches for c in search.champions]
        if champions:
            title = (f"round {result.round}: " + ", ".join(
                f"{s.encoding} {s.fooled}/10 at 99.99%" for s in result.searches)
                + " (rows: " + ", ".join(s.encoding for s in result.searches) + ")")
            outputs[folder / "gallery.png"] = png_bytes(gallery_image(
                champions, title=title, cell=96, columns=10, threshold=0.9999))
        outputs.update(card_files(
            result.model.net, folder, name=f"lenet5_round{result.round}",
            labels=result.model.classes,
            description=f"LeNet-5 of fooling round {result.round} (accuracy "
                        f"{result.test_accuracy:.4f}, {result.fooling_images} fooling "
                        "images in training)"))
    return outputs
