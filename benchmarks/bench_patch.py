"""Patches that survive print and camera: success rates and training time against ART.

Run from the repository root (2 cores: run the parts one at a time)::

    .venv/bin/python benchmarks/bench_patch.py classifier [--steps 600] [--json PATH]
    .venv/bin/python benchmarks/bench_patch.py detector [--steps 1200] [--json PATH]
    .venv/bin/python benchmarks/bench_patch.py art [--stop-at 0.8] [--json PATH]

``classifier``: the protected class is the cat. Training scenes are 64 random square crops
of the bundled ``chelsea.png``; held-out scenes are every 3rd frame of the bundled clip
(a synthetic camera pans and zooms over the same cat printed on a desk: other views,
background, lighting and compression), cropped on NanoDet's cat box
(``benchmarks/patch_data.py``). A 64 px patch, side half of the object's shorter side,
is trained towards "hog" and away from the five cats, twice with the same steps:
through the full print-and-camera simulation (``PrintCameraRanges.full()``,
non-printability weight 0.5) and purely digitally (``none()``). Both are judged on the
held-out scenes at 8 random placements each, under the full simulation and digitally,
beside a grey and a noise square (the same placements and draws). Untargeted success:
MobileNetV2's top-1 is none of the five ImageNet cats.

``detector``: the hide patch against NanoDet's "person" on OpenCV's ``vtest.avi`` (Debian
``opencv-doc``), the scenes of ``bench_hide.py`` (first 60 % of the clip trains, last 40 %
is held out), trained through the full simulation and digitally; the share of held-out
people still detected under the full simulation, with grey and noise baselines.

``art``: time to the same success as IBM ART's ``AdversarialPatchPyTorch`` on the same
model (MobileNetV2), the same training scenes and target, in ART's own setting (patch
anywhere in the image at 0.4-0.6 of its side, rotation +-22.5 degrees, perspective 0.2,
nothing else), judged by the same evaluator (ART's own ``apply_patch`` at scale 0.5 on
the held-out scenes). ART runs first until it reaches ``--stop-at`` (or its budget), then
ours until it reaches ART's final success; the ratio of training seconds is the figure.
ART is installed into ``benchmarks/.art-site`` only (``art_env.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch_data import CAT_CLASS_INDICES, cat_scenes

from chickensaviour.attacks.patch.evaluate import (
    evaluate_classifier_patch,
    evaluate_hide_patch,
)
from chickensaviour.attacks.patch.objectives import ClassifierDecoy, DetectorHide
from chickensaviour.attacks.patch.placement import PatchSize
from chickensaviour.attacks.patch.scenes import SceneSet
from chickensaviour.attacks.patch.trainer import PatchTraining, train_patch
from chickensaviour.errors import OperationCancelled
from chickensaviour.models import load_model
from chickensaviour.transforms.print_camera import PrintCameraRanges

logger = logging.getLogger("bench_patch")
HOG = 341
SIDE = 64


def scene_set(split: str, model: Any) -> SceneSet:
    data = cat_scenes(split, model=model)  # type: ignore[arg-type]
    return SceneSet(data.images, list(data.boxes[:, None]), data.clean_classes)


def rates(report: Any) -> dict[str, Any]:
    rows = {"patch": report.patch, **report.baselines}
    return {k: {"targeted": r.targeted, "untargeted": r.untargeted, "trials": r.trials}
            for k, r in rows.items()}


def classifier_part(args: argparse.Namespace) -> dict[str, Any]:
    model = load_model("mobilenet_v2", device="cpu")
    train, held_out = scene_set("train", model), scene_set("held_out", model)
    size = PatchSize(0.5)
    results: dict[str, Any] = {"train_scenes": len(train), "held_out_scenes": len(held_out),
                               "steps": args.steps, "patch_side_px": SIDE,
                               "patch_fraction": size.fraction}
    for name, ranges, printability in (("print-camera", PrintCameraRanges.full(), 0.5),
                                       ("digital", PrintCameraRanges.none(), 0.0)):
        if name not in args.variants:
            continue
        training = PatchTraining(steps=args.steps, batch=8, lr=args.lr, size=size,
                                 simulation=ranges, printability=printability, seed=0)
        trained = train_patch(torch.full((1, 3, SIDE, SIDE), 0.5), train,
                              ClassifierDecoy(model, HOG, protected=CAT_CLASS_INDICES),
                              training, progress=_every(50, f"{name} patch"))
        entry: dict[str, Any] = {"train_seconds": round(trained.seconds, 1),
                                 "last_losses": [round(v, 4) for v in trained.losses[-5:]]}
        for judged, judge_ranges in (("full", PrintCameraRanges.full()),
                                     ("none", PrintCameraRanges.none())):
            report = evaluate_classifier_patch(model, trained.patch, held_out, target=HOG,
                                               size=size, simulation=judge_ranges,
                                               placements=args.placements, examples=24,
                                               protected=CAT_CLASS_INDICES)
            entry[f"held_out_under_{judged}"] = rates(report)
            logger.info("%s patch, held out, simulation %s: %s", name, judged,
                        entry[f"held_out_under_{judged}"])
            if args.save and judged == "full":
                _save(args.save, f"classifier_{name}", trained.patch, report.examples)
        results[name] = entry
    return results


def detector_part(args: argparse.Namespace) -> dict[str, Any]:
    from bench_hide import person_crops

    from chickensaviour.attacks.hide import HideSettings, hide_training, scenes_from_frames
    from chickensaviour.attacks.hide import patch_size as hide_size
    from chickensaviour.attacks.hide import scene_set as hide_scene_set
    from chickensaviour.coco import coco_index
    from chickensaviour.models.nanodet.detector import NanoDetDetector
    from chickensaviour.video.sources import VideoFileSource

    person = coco_index("person")
    detector = NanoDetDetector([person], score_threshold=0.35, device="cpu")
    video = VideoFileSource(Path(args.video))
    frames = []
    try:
        index = 0
        while (frame := video.read()) is not None:
            if index % 5 == 0:
                frames.append(frame)
            index += 1
    finally:
        video.close()
    cut = int(len(frames) * 0.6)
    train = scenes_from_frames(detector, person_crops(detector, frames[:cut], person),
                               [person], size=320)
    test = scenes_from_frames(detector, person_crops(detector, frames[cut:], person),
                              [person], size=320)
    objective = DetectorHide(detector.at_size(320), [person])
    results: dict[str, Any] = {"train_scenes": len(train), "held_out_scenes": len(test),
                               "steps": args.steps, "tv_weight": args.tv}
    for name, ranges in (("print-camera", PrintCameraRanges.full()), ("digital", None)):
        if name not in args.variants:
            continue
        settings = HideSettings(steps=args.steps, seed=0, simulation=ranges,
                                printability=0.5 if ranges is not None else 0.0,
                                tv_weight=args.tv)
        began = time.perf_counter()
        trained = train_patch(torch.full((1, 3, SIDE, SIDE), 0.5), hide_scene_set(train),
                              objective, hide_training(settings),
                              progress=_every(100, f"{name} hide patch"))
        entry: dict[str, Any] = {"train_seconds": round(time.perf_counter() - began, 1)}
        for judged, judge_ranges in (("full", PrintCameraRanges.full()),
                                     ("none", PrintCameraRanges.none())):
            report = evaluate_hide_patch(objective, trained.patch, hide_scene_set(test),
                                         size=hide_size(settings), simulation=judge_ranges,
                                         placements=1, examples=12)
            entry[f"held_out_detected_under_{judged}"] = {"patch": report.patch,
                                                          **report.baselines,
                                                          "objects": report.objects}
            logger.info("%s hide patch, simulation %s: %s", name, judged,
                        entry[f"held_out_detected_under_{judged}"])
            if args.save and judged == "full":
                _save(args.save, f"hide_{name}", trained.patch,
                      [_Example(v) for v in report.examples])
        results[name] = entry
    return results


def art_part(args: argparse.Namespace) -> dict[str, Any]:
    from art_patch import art_paste_evaluator, train_art_patch

    model = load_model("mobilenet_v2", device="cpu")
    train, held_out = scene_set("train", model), scene_set("held_out", model)
    evaluate = art_paste_evaluator(model, held_out.images, HOG, scale=0.5)
    art = train_art_patch(model, train.images, HOG, patch_side_fraction=0.5,
                          batch_size=8, learning_rate=args.art_lr,
                          chunk_iterations=args.art_chunk, max_iterations=args.art_max,
                          evaluate=evaluate, stop_at=args.stop_at, seed=0)
    goal = art[-1]["success"]
    art_seconds = art[-1]["train_seconds"]
    # Ours in ART's setting: the patch anywhere in the scene (centre within +-0.25 of the
    # box, which is the whole crop), side 0.4-0.6 of it, rotation +-22.5, tilt 0.1.
    ranges = replace(PrintCameraRanges.none(), scale=(0.8, 1.2),
                     rotation_degrees=(-22.5, 22.5), tilt=0.1)
    ours: list[dict[str, Any]] = []
    clock = {"began": time.perf_counter(), "evaluating": 0.0, "done": False}

    def check(done: int, total: int, value: float) -> None:
        if done % args.ours_chunk and done != total:
            return
        started = time.perf_counter()
        seconds = started - clock["began"] - clock["evaluating"]  # training alone
        success = evaluate(trained_so_far["patch"])
        clock["evaluating"] += time.perf_counter() - started
        ours.append({"steps": done, "train_seconds": round(seconds, 2), "success": success})
        logger.info("ours: %d steps, %.1f s training, success %.3f", done, seconds, success)
        clock["done"] = success >= goal

    trained_so_far: dict[str, torch.Tensor] = {}
    training = PatchTraining(steps=args.ours_max, batch=8, lr=args.lr, size=PatchSize(0.5),
                             shift=0.25, simulation=ranges, seed=0)
    try:
        train_patch(torch.full((1, 3, SIDE, SIDE), 0.5), train, ClassifierDecoy(model, HOG),
                    training, progress=check, should_stop=lambda: bool(clock["done"]),
                    on_patch=lambda patch: trained_so_far.__setitem__("patch", patch))
    except OperationCancelled:
        pass  # reached ART's success
    for record in art:
        record.pop("patch", None)
    reached = ours[-1]["success"] >= goal
    return {"art": art, "ours": ours, "art_success": goal, "art_seconds": round(art_seconds, 2),
            "ours_seconds": ours[-1]["train_seconds"], "ours_reached_art_success": reached,
            "time_ratio_ours_over_art": round(ours[-1]["train_seconds"] / art_seconds, 3)
            if reached else None,
            "settings": {"art_lr": args.art_lr, "ours_lr": args.lr, "batch": 8,
                         "ours_check_every": args.ours_chunk}}


class _Example:
    def __init__(self, view: torch.Tensor) -> None:
        self.view = view


def _save(folder: str, name: str, patch: torch.Tensor, examples: Any) -> None:
    import cv2

    from chickensaviour.imaging import tensor_to_bgr

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out / f"{name}_patch.png"), tensor_to_bgr(patch))
    tiles = [tensor_to_bgr(e.view[None]) for e in list(examples)[:12]]
    if tiles:
        rows = [cv2.hconcat(tiles[i : i + 6]) for i in range(0, len(tiles) - len(tiles) % 6, 6)]
        if rows:
            cv2.imwrite(str(out / f"{name}_examples.jpg"), cv2.vconcat(rows))


def _every(count: int, what: str):
    def show(done: int, total: int, value: float) -> None:
        if done % count == 0 or done == total:
            logger.info("%s: step %d/%d, loss %.4f", what, done, total, value)

    return show


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=("classifier", "detector", "art"))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--lr", type=float, default=0.03)
    parser.add_argument("--placements", type=int, default=8)
    parser.add_argument("--video", default="/usr/share/doc/opencv-doc/examples/data/vtest.avi")
    parser.add_argument("--stop-at", type=float, default=0.8)
    parser.add_argument("--art-lr", type=float, default=0.1)
    parser.add_argument("--art-chunk", type=int, default=2, help="ART iterations per check")
    parser.add_argument("--art-max", type=int, default=60)
    parser.add_argument("--ours-chunk", type=int, default=16)
    parser.add_argument("--ours-max", type=int, default=800)
    parser.add_argument("--tv", type=float, default=2.5,
                        help="detector: total-variation weight (HideSettings default 2.5)")
    parser.add_argument("--variants", nargs="+", choices=("print-camera", "digital"),
                        default=["print-camera", "digital"],
                        help="classifier/detector: which patches to train (default both)")
    parser.add_argument("--save", help="folder for the patches and example views")
    parser.add_argument("--json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.steps is None:
        args.steps = {"classifier": 600, "detector": 1200, "art": 0}[args.part]
    began = time.perf_counter()
    part = {"classifier": classifier_part, "detector": detector_part, "art": art_part}
    result = part[args.part](args)
    result.update({"part": args.part, "seconds": round(time.perf_counter() - began, 1),
                   "torch_threads": torch.get_num_threads(), "machine": platform.machine()})
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
