"""``chickensaviour lab transfer|defend|ensemble``: check inputs, run the lab, write files.

Everything is checked before the (long) run; every output is written at the end, all or
nothing (:func:`chickensaviour.files.write_all`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from chickensaviour import files
from chickensaviour.cli import options
from chickensaviour.errors import ChickenSaviourError

#: Photos larger than this (400x400) are shrunk (area averaging) before the lab attacks
#: them: the models see 224-260 pixel crops, and attack cost grows with the input size.
LAB_PIXELS = 160_000
#: Frames sampled evenly from each video file.
FRAMES_PER_VIDEO = 8
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def add_lab_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``lab`` and its three subcommands on the top-level subparsers."""
    lab = sub.add_parser("lab", help="robustness lab: transfer across models, defences, "
                         "ensembles (tables, heatmaps, report)")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, metavar="LAB_COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("images", nargs="*", metavar="IMAGES",
                       help="photos, folders of photos or videos (frames are sampled); "
                       "default: the bundled sample photos")
        p.add_argument("--seed", type=int, default=0, help="attack seed (default 0)")
        p.add_argument("--steps", help="iterations of iterative attacks (default 10)")
        p.add_argument("--ray", action="store_true", help="run on a local Ray cluster "
                       "(pip install chickensaviour[cluster])")
        p.add_argument("--ray-address", help="run on an existing Ray cluster at ADDR")
        p.add_argument("--workers", default="2", help="Ray workers (CPUs) of the local "
                       "cluster (default 2)")
        p.add_argument("--out", required=True, help="output directory")

    transfer = lab_sub.add_parser("transfer", help="craft on each model, judge with every model")
    transfer.add_argument("--models", required=True, help="comma-separated models")
    transfer.add_argument("--attacks", default="fgsm,pgd,mi-fgsm,di-fgsm",
                          help="comma-separated attacks (default %(default)s)")
    transfer.add_argument("--eps", default="8", help="comma-separated budgets in 1/255 units")
    transfer.add_argument("--targeted", metavar="CLASS", help="targeted attack to CLASS "
                          "(name, partial name or index); default untargeted")
    common(transfer)
    transfer.set_defaults(handler=run_lab_transfer)

    defend = lab_sub.add_parser("defend", help="clean accuracy, naive and adaptive attack "
                                "success behind each defence")
    defend.add_argument("--model", required=True)
    defend.add_argument("--defences", default="blur:1.5,median:3,jpeg:75,bits:4,resize",
                        help="comma-separated defences (default %(default)s)")
    defend.add_argument("--attack", default="pgd")
    defend.add_argument("--eps", default="8", help="budget in 1/255 units (default 8)")
    defend.add_argument("--targeted", metavar="CLASS", help="targeted attack to CLASS, as "
                        "in the seed (success: the defended model answers CLASS); default "
                        "untargeted")
    common(defend)
    defend.set_defaults(handler=run_lab_defend)

    ensemble = lab_sub.add_parser("ensemble", help="attack an ensemble; success on its "
                                  "members and on held-out models")
    ensemble.add_argument("--models", required=True, help="comma-separated members (>= 2)")
    ensemble.add_argument("--hold-out", default="", help="comma-separated held-out models")
    ensemble.add_argument("--attack", default="pgd")
    ensemble.add_argument("--eps", default="8", help="budget in 1/255 units (default 8)")
    common(ensemble)
    ensemble.set_defaults(handler=run_lab_ensemble)


def _names(text: str, option: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ChickenSaviourError(f"{option} needs at least one name")
    return names


def _check_models(models: list[str]) -> None:
    from chickensaviour.cli.commands import _check_model_name

    for model in models:
        for part in model.split("+"):
            _check_model_name(part.strip())


#: Attacks whose budget is not an L-inf one (the lab's eps lists are 1/255 L-inf budgets).
NOT_IN_LAB = ("pgd-l2",)


def _check_attacks(attacks: list[str]) -> None:
    from chickensaviour.attacks.registry import ATTACK_NAMES

    lab_attacks = [name for name in ATTACK_NAMES if name not in NOT_IN_LAB]
    for attack in attacks:
        if attack in NOT_IN_LAB:
            raise ChickenSaviourError(f"{attack} takes an L2 budget; the lab's --eps are "
                                      f"L-inf budgets in 1/255 units: use {', '.join(lab_attacks)}")
        if attack not in ATTACK_NAMES:
            raise ChickenSaviourError(f"unknown attack {attack!r}; choose from "
                                      f"{', '.join(lab_attacks)}")


def _epsilons(text: str) -> tuple[float, ...]:
    levels = [options.eps_levels(part.strip()) for part in text.split(",") if part.strip()]
    if not levels or len(set(levels)) != len(levels):
        raise ChickenSaviourError(f"--eps needs distinct budgets, got {text!r}")
    return tuple(level / 255.0 for level in levels)


def _steps(args: argparse.Namespace) -> int | None:
    return None if args.steps is None else options.positive_int(args.steps, "--steps", 1, 1000)


def _runner(args: argparse.Namespace, description: str):
    from chickensaviour.runners import LocalRunner

    workers = options.positive_int(args.workers, "--workers", 1, 1024)
    if args.ray or args.ray_address:
        from chickensaviour.runners.ray_runner import RayRunner, check_reachable, import_ray

        import_ray()  # a missing ray is one line, before any work
        if args.ray_address:
            check_reachable(args.ray_address)
        return RayRunner(args.ray_address, workers, description=description)
    # One torch thread, as each Ray worker has: more threads can flip a borderline
    # success bit through float summation order, and the two runners must agree.
    return LocalRunner(threads=1, description=description)


def _media(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir()
                            if p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
            if not inside:
                raise ChickenSaviourError(f"no photos or videos in folder {path}")
            found += inside
        elif not path.exists():
            raise ChickenSaviourError(f"not found: {path}")
        elif path.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
            raise ChickenSaviourError(f"not a photo or video (by its suffix): {path}")
        else:
            found.append(path)
    return found


def _video_frames(path: Path) -> list[tuple[str, np.ndarray]]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if not capture.isOpened() or total <= 0:
            raise ChickenSaviourError(f"cannot read video {path}")
        wanted = sorted({round(i * (total - 1) / max(1, FRAMES_PER_VIDEO - 1))
                         for i in range(min(FRAMES_PER_VIDEO, total))})
        frames = []
        for index in wanted:
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = capture.read()
            if ok and frame is not None:
                frames.append((f"{path.name}#{index}", frame))
    finally:
        capture.release()
    if not frames:
        raise ChickenSaviourError(f"no frames could be read from {path}")
    return frames


def load_lab_images(paths: list[str]) -> tuple[list[str], list[np.ndarray]]:
    """Names and uint8 RGB arrays of the photos / sampled video frames (bundled photos
    when ``paths`` is empty), each at most :data:`LAB_PIXELS` pixels."""
    from chickensaviour.imaging import read_frame, shrink_to_pixels

    if not paths:
        from chickensaviour.assets import SAMPLE_PHOTOS, sample

        media = [sample(name) for name in SAMPLE_PHOTOS]
    else:
        media = _media(paths)
    names, images = [], []
    for path in media:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            frames = _video_frames(path)
        else:
            frames = [(path.name, read_frame(path))]
        for name, frame in frames:
            small = shrink_to_pixels(frame, LAB_PIXELS)
            names.append(name)
            images.append(np.ascontiguousarray(small[:, :, ::-1]))
    return names, images


def _write(outputs: dict[Path, bytes]) -> int:
    files.ensure_writable_dir(next(iter(outputs)).parent)
    for path in files.write_all(outputs):
        print(f"wrote {path}")
    return 0


def run_lab_transfer(args: argparse.Namespace) -> int:
    from chickensaviour.lab import report
    from chickensaviour.lab.jobs import class_names
    from chickensaviour.lab.transfer import check_names, run_transfer, seed_table

    models = _names(args.models, "--models")
    attacks = _names(args.attacks, "--attacks")
    epsilons = _epsilons(args.eps)
    check_names(models, attacks, epsilons)
    _check_models(models)
    _check_attacks(attacks)
    steps = _steps(args)
    target = None if args.targeted is None else class_names(models[0]).resolve(args.targeted)
    files.check_creatable_dir(args.out)
    runner = _runner(args, "transfer jobs")
    names, images = load_lab_images(args.images)
    result = run_transfer(images, models, attacks, epsilons, target_class=target,
                          seed=args.seed, steps=steps, runner=runner)
    counted = np.flatnonzero(result.counted)
    image = int(counted[0]) if counted.size else 0
    source = "resnet50" if "resnet50" in models else models[0]
    eps_index = len(epsilons) - 1
    from chickensaviour.lab.transfer import eps_key

    caption = (f"{names[image]} attacked with {attacks[0]} on {source} at eps "
               f"{eps_key(epsilons[eps_index])}/255")
    rows = seed_table(result, image, source, attacks[0], eps_index)
    out = Path(args.out)
    outputs = {
        out / "transfer.json": report.json_bytes(result.to_json()),
        out / "transfer.csv": report.transfer_csv(result).encode(),
        out / "report.md": report.transfer_markdown(result, names, rows, caption).encode(),
        out / "details.json": report.json_bytes(_transfer_details(result, names)),
    }
    for attack in attacks:
        for ei, eps in enumerate(epsilons):
            title = f"{attack}, eps {eps_key(eps)}/255 ({int(result.counted.sum())} images)"
            outputs[out / report.heatmap_name(attack, eps)] = report.heatmap_png(
                result.rates(attack, ei), result.models, title)
    print(f"{int(result.counted.sum())} of {len(names)} images counted (every model right)")
    for attack in attacks:
        for ei, eps in enumerate(epsilons):
            print(f"\n{attack}, eps {eps_key(eps)}/255 (rows: source, columns: target)")
            print(report.rates_markdown(result.rates(attack, ei), result.models))
    print(f"\n{caption}\n{report.seed_table_markdown(rows)}")
    return _write(outputs)


def _transfer_details(result, names: list[str]) -> dict[str, object]:
    """Per image: counted or not, every model's clean top-1 and, per attack, eps and
    source, every model's adversarial top-1."""
    from chickensaviour.lab.transfer import eps_key

    images = []
    for n, name in enumerate(names):
        images.append({
            "image": name, "counted": bool(result.counted[n]),
            "clean": {m: {"index": int(result.clean_pred[t, n]),
                          "confidence": float(result.clean_conf[t, n])}
                      for t, m in enumerate(result.models)},
            "adversarial": {
                attack: {eps_key(eps): {source: {m: {
                    "index": int(result.adv_pred[a, e, s, t, n]),
                    "confidence": float(result.adv_conf[a, e, s, t, n]),
                    "success": bool(result.success[a, e, s, t, n])}
                    for t, m in enumerate(result.models)}
                    for s, source in enumerate(result.models)}
                    for e, eps in enumerate(result.epsilons)}
                for a, attack in enumerate(result.attacks)},
        })
    return {"seed": result.seed, "target_class": result.target_class, "images": images}


def run_lab_defend(args: argparse.Namespace) -> int:
    from chickensaviour.lab import report
    from chickensaviour.lab.defend import run_defend
    from chickensaviour.lab.jobs import class_names
    from chickensaviour.models.defences import parse_defences

    _check_models([args.model])
    _check_attacks([args.attack])
    epsilons = _epsilons(args.eps)
    if len(epsilons) != 1:
        raise ChickenSaviourError("lab defend takes one --eps")
    defences = parse_defences(args.defences)
    names = [d.name for d in defences]
    pairs = [(d.name if names.count(d.name) == 1 else d.spec, d.spec) for d in defences]
    steps = _steps(args)
    files.check_creatable_dir(args.out)
    runner = _runner(args, "defend jobs")
    _, images = load_lab_images(args.images)
    target = None if args.targeted is None else class_names(args.model).resolve(args.targeted)
    result = run_defend(images, args.model, pairs, args.attack, epsilons, seed=args.seed,
                        steps=steps, runner=runner, target_class=target)
    aim = ("untargeted" if target is None
           else f"targeted to {class_names(args.model).name(target)}")
    print(f"{result.model}, {result.attack} ({aim}) at eps {args.eps}/255, "
          f"{result.images} images")
    print(f"{'defence':<16}{'clean acc':>10}{'naive':>8}{'adaptive':>10}")
    for name, row in result.scores.items():
        print(f"{name:<16}{row.clean_accuracy:>10.2f}{row.naive_success[0]:>8.2f}"
              f"{row.adaptive_success[0]:>10.2f}")
    out = Path(args.out)
    return _write({out / "defend.json": report.json_bytes(result.to_json()),
                   out / "defend.png": report.defend_png(result)})


def run_lab_ensemble(args: argparse.Namespace) -> int:
    from chickensaviour.lab import report
    from chickensaviour.lab.ensemble_lab import run_ensemble

    members = _names(args.models, "--models")
    held_out = [part.strip() for part in args.hold_out.split(",") if part.strip()]
    _check_models(members + held_out)
    _check_attacks([args.attack])
    epsilons = _epsilons(args.eps)
    steps = _steps(args)
    files.check_creatable_dir(args.out)
    runner = _runner(args, "ensemble jobs")
    _, images = load_lab_images(args.images)
    result = run_ensemble(images, members, held_out, attack=args.attack, epsilons=epsilons,
                          seed=args.seed, steps=steps, runner=runner)
    print(f"attacking {result.ensemble} with {result.attack}: {result.counted} of "
          f"{result.images} images counted")
    for role, by_model in result.success.items():
        for model, rates in by_model.items():
            shown = ", ".join(f"{r:.2f}" for r in rates)
            print(f"  {role:<9} {model:<36} {shown}")
    out = Path(args.out)
    return _write({out / "ensemble.json": report.json_bytes(result.to_json()),
                   out / "ensemble.png": report.ensemble_png(result)})

