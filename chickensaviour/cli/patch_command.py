"""``patch --print`` and ``patch --evaluate``: patches meant for paper, and how well they work.

``patch --print --target hog --out patch.pdf`` trains a decoy patch through the
print-and-camera simulation (expectation over transformation: printer gamut, paper and
ink, light, the camera's colour and tone, blur, noise, JPEG, perspective) on the
training media, and writes a printable sheet (the patch at ``--size-cm``, a scale bar,
crop marks, what it was made for) plus the patch as PNG beside it. The PNG carries the
model and goal as text chunks, so ``patch --evaluate patch.png --on photos...`` knows
what to measure: success under the simulation at random placements and scales, beside
a grey and a noise square of the same size, and a contact sheet of examples.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, PngImagePlugin

from chickensaviour import files
from chickensaviour.assets import SAMPLE_PHOTOS, sample
from chickensaviour.attacks.patch.evaluate import (
    ClassifierEvaluation,
    evaluate_classifier_patch,
    evaluate_hide_patch,
)
from chickensaviour.attacks.patch.objectives import ClassifierDecoy, DetectorHide
from chickensaviour.attacks.patch.placement import PatchSize
from chickensaviour.attacks.patch.scenes import SceneSet
from chickensaviour.attacks.patch.trainer import PatchTraining, train_patch
from chickensaviour.cli import options
from chickensaviour.cli.bars import progress_bar
from chickensaviour.cli.inputs import video_frames
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.imaging import bgr_to_tensor, tensor_to_bgr
from chickensaviour.models import load_model
from chickensaviour.models.registry import model_labels
from chickensaviour.models.wrapper import ImageClassifier
from chickensaviour.printing import SheetInfo, max_patch_size_cm, patch_sheet_pdf
from chickensaviour.transforms.print_camera import PrintCameraRanges

#: Print patches: Adam steps, learning rate, printability weight (defaults of --print).
PRINT_STEPS = 400
PRINT_LR = 0.03
PRINTABILITY = 0.5
#: A classifier patch's side relative to the object's shorter side.
OBJECT_FRACTION = 0.5
#: Views per photo: the whole photo plus random square crops (other zooms and places).
CROPS_PER_PHOTO = 15
VIDEO_EVERY = 5
VIDEO_LIMIT = 120
SIMULATIONS = {"print-camera": PrintCameraRanges.full, "none": PrintCameraRanges.none}


# --- media -> scenes -----------------------------------------------------------------

def media_frames(paths: list[Path]) -> list[tuple[np.ndarray, bool]]:
    """BGR frames of photos and videos (every 5th frame), each with "is a photo"."""
    from chickensaviour.imaging import read_frame
    from chickensaviour.video.sources import IMAGE_SUFFIXES

    frames: list[tuple[np.ndarray, bool]] = []
    for path in paths:
        if not path.is_file():
            raise ChickenSaviourError(f"no such file: {path}")
        if path.suffix.lower() in IMAGE_SUFFIXES:
            frames.append((read_frame(path), True))
            continue
        frames.extend((frame, False) for frame in video_frames(path, every=VIDEO_EVERY,
                                                               limit=VIDEO_LIMIT))
    if not frames:
        raise ChickenSaviourError("the media hold no frames")
    return frames


def classifier_scenes(model: ImageClassifier, paths: list[Path], *, crops: int,
                      seed: int) -> SceneSet:
    """The hunter's views of the media: each frame whole (the object is the frame), and
    for photos ``crops`` random square crops of 55-100 % of the shorter side; labelled
    with the hunter's clean answers."""
    generator = np.random.default_rng(seed)
    frames: list[torch.Tensor] = []
    boxes: list[tuple[float, float, float, float]] = []
    for frame, is_photo in media_frames(paths):
        image = bgr_to_tensor(frame, device=model.device)
        height, width = frame.shape[:2]
        frames.append(image)
        boxes.append((0.0, 0.0, float(width), float(height)))
        for _ in range(crops if is_photo else 0):
            side = generator.uniform(0.55, 1.0) * min(width, height)
            left = generator.uniform(0, width - side)
            top = generator.uniform(0, height - side)
            frames.append(image)
            boxes.append((left, top, left + side, top + side))
    scenes = SceneSet.region_views(frames, boxes, model.input_size)
    with torch.no_grad():
        labels = model.with_fit("stretch").probabilities(scenes.images).argmax(dim=1)
    return scenes.with_labels(labels)


# --- the patch PNG with what it was made for -----------------------------------------

def encode_patch_png(patch: torch.Tensor, made_for: dict[str, str]) -> bytes:
    """The patch as an RGB PNG with ``made_for`` as text chunks (``chickensaviour:*``)."""
    rgb = tensor_to_bgr(patch)[:, :, ::-1]
    info = PngImagePlugin.PngInfo()
    for key, value in made_for.items():
        info.add_text(f"chickensaviour:{key}", value)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def read_patch(path: Path) -> tuple[torch.Tensor, dict[str, str]]:
    """A square patch image ``(1, 3, S, S)`` and the text chunks it was written with."""
    if not path.is_file():
        raise ChickenSaviourError(f"no such file: {path}")
    try:
        with Image.open(path) as image:
            text = {k.split(":", 1)[1]: v for k, v in getattr(image, "text", {}).items()
                    if k.startswith("chickensaviour:")}
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as error:
        raise ChickenSaviourError(f"cannot read the patch {path}: {error}") from error
    if rgb.shape[0] != rgb.shape[1] or rgb.shape[0] < 8:
        raise ChickenSaviourError(f"a patch must be a square image of at least 8 px, "
                                  f"{path} is {rgb.shape[1]}x{rgb.shape[0]}")
    patch = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float().div(255).unsqueeze(0)
    return patch, text


# --- patch --print -------------------------------------------------------------------

def run_print_patch(args: argparse.Namespace) -> int:
    """``patch --print``: train through the simulation, write the sheet and the PNG."""
    out = Path(args.out)
    if out.suffix.lower() != ".pdf":
        raise ChickenSaviourError("with --print, --out is the printable sheet: a .pdf path "
                                  "(the patch PNG is written beside it)")
    paper = args.paper or "A4"
    size_cm = options.finite_float(args.size_cm or "10", "size-cm")
    if size_cm <= 0:
        raise ChickenSaviourError(f"--size-cm must be greater than 0, got {size_cm:g}")
    if size_cm > max_patch_size_cm(paper):
        raise ChickenSaviourError(f"--size-cm {size_cm:g} does not fit on {paper}: the "
                                  f"maximum is {max_patch_size_cm(paper):g} cm")
    png = out.with_suffix(".png")
    files.check_creatable_file(out)
    files.check_creatable_file(png)
    size = options.positive_int(args.size or "64", "size", 8, 512)
    steps = options.positive_int(args.steps or str(PRINT_STEPS), "steps", 1, 100_000)
    if args.against == "nanodet":
        patch, made_for = _print_hide_patch(args, size, steps)
    else:
        patch, made_for = _print_decoy_patch(args, size, steps)
    rgb = np.ascontiguousarray(tensor_to_bgr(patch)[:, :, ::-1])
    info = SheetInfo(model=made_for["model"], goal=made_for["goal"],
                     made=datetime.date.today(),
                     notes=f"trained through the print-camera simulation, {steps} steps, "
                           f"{made_for['scenes']} scenes; patch side {made_for['size']}")
    sheet = patch_sheet_pdf(rgb, size_cm=size_cm, paper=paper, info=info)
    files.write_all({png: encode_patch_png(patch, made_for), out: sheet})
    print(f"wrote {out} ({paper}, patch {size_cm:g} cm) and {png}")
    print(f"check it: chickensaviour patch --evaluate {png} --on PHOTOS... "
          "--simulate print-camera --out contact.png")
    return 0


def _print_decoy_patch(args: argparse.Namespace, size: int,
                       steps: int) -> tuple[torch.Tensor, dict[str, str]]:
    if args.target is None:
        raise ChickenSaviourError("--print needs --target CLASS (or --against nanodet "
                                  "--hide CLASS)")
    if args.hide is not None:
        raise ChickenSaviourError("--hide goes with --against nanodet")
    target = model_labels(args.model).resolve(args.target)
    paths = [Path(p) for p in args.train] if args.train else [sample(n) for n in SAMPLE_PHOTOS]
    model = load_model(args.model, device=args.device)
    scenes = classifier_scenes(model, paths, crops=CROPS_PER_PHOTO, seed=args.seed)
    name = model.classes.name(target)
    protected = protected_classes(args, model, {})
    training = PatchTraining(steps=steps, batch=8, lr=PRINT_LR, size=PatchSize(OBJECT_FRACTION),
                             simulation=PrintCameraRanges.full(), printability=PRINTABILITY,
                             seed=args.seed)
    print(f"training a {size}x{size} patch for {name!r} on {len(scenes)} views of "
          f"{len(paths)} file(s), {steps} steps through the print-camera simulation",
          file=sys.stderr)
    with progress_bar(steps, "patch") as bar:
        trained = train_patch(torch.full((1, 3, size, size), 0.5), scenes,
                              ClassifierDecoy(model, target, protected), training,
                              progress=bar)
    evaluation = evaluate_classifier_patch(model, trained.patch, scenes, target=target,
                                           size=training.size,
                                           simulation=PrintCameraRanges.full(),
                                           placements=2, examples=0, protected=protected)
    _print_rates("training views, print-camera simulation", evaluation, name)
    made_for = {} if protected is None else {
        "protect": ",".join(str(c) for c in protected)}
    return trained.patch, {**made_for, "model": args.model, "against": "classifier",
                           "target": name,
                           "goal": f"targeted: {name} (class {target})",
                           "scenes": str(len(scenes)),
                           "size": f"{OBJECT_FRACTION:g} of the object's shorter side"}


def _print_hide_patch(args: argparse.Namespace, size: int,
                      steps: int) -> tuple[torch.Tensor, dict[str, str]]:
    from chickensaviour.attacks.hide import HideSettings, make_hide_patch
    from chickensaviour.cli.hide_command import hide_scenes

    if args.hide is None:
        raise ChickenSaviourError("--against nanodet needs --hide CLASS (e.g. --hide person)")
    for given, option in ((args.target, "--target"), (args.protect, "--protect"),
                          (args.model_given or None, "--model")):
        if given is not None:
            raise ChickenSaviourError(f"{option} is for classifier patches; a hide patch is "
                                      "trained against nanodet")
    detector, cls, train = hide_scenes(args, args.train)
    settings = HideSettings(steps=steps, seed=args.seed, simulation=PrintCameraRanges.full(),
                            printability=PRINTABILITY)
    with progress_bar(steps, "hide patch") as bar:
        patch = make_hide_patch(detector, train, [cls], size=size, settings=settings,
                                progress=bar)
    from chickensaviour.coco import COCO_CLASSES

    name = COCO_CLASSES[cls]
    return patch, {"model": "nanodet", "against": "nanodet", "hide": name,
                   "goal": f"hide: {name} from nanodet", "scenes": str(len(train)),
                   "size": f"{settings.scale:g} of sqrt(object area)"}


# --- patch --evaluate ----------------------------------------------------------------

def run_evaluate_patch(args: argparse.Namespace) -> int:
    """``patch --evaluate PATCH --on MEDIA...``: success under the simulation."""
    if not args.on:
        raise ChickenSaviourError("--evaluate needs --on PHOTOS/VIDEOS to paste the patch on")
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ChickenSaviourError("with --evaluate, --out is the contact sheet: a .png or "
                                  ".jpg path")
    files.check_creatable_file(out)
    json_path = Path(args.json) if args.json else None
    if json_path is not None:
        files.check_creatable_file(json_path)
    patch, made_for = read_patch(Path(args.evaluate))
    placements = options.positive_int(args.placements or "8", "placements", 1, 1000)
    args.simulate = args.simulate or "print-camera"
    simulation = SIMULATIONS[args.simulate]()
    against = made_for.get("against", args.against) if args.against is None else args.against
    paths = [Path(p) for p in args.on]
    if against == "nanodet":
        summary, examples = _evaluate_hide(args, patch, made_for, paths, simulation,
                                           placements)
    else:
        summary, examples = _evaluate_decoy(args, patch, made_for, paths, simulation,
                                            placements)
    outputs = {out: contact_sheet(examples, out.suffix)}
    if json_path is not None:
        outputs[json_path] = (json.dumps(summary, indent=2) + "\n").encode()
    files.write_all(outputs)
    for path in outputs:
        print(f"wrote {path}")
    return 0


def _evaluate_decoy(args: argparse.Namespace, patch: torch.Tensor, made_for: dict[str, str],
                    paths: list[Path], simulation: PrintCameraRanges,
                    placements: int) -> tuple[dict[str, object], list[tuple[np.ndarray, str]]]:
    model_name = args.model if args.model_given else made_for.get("model", args.model)
    target_name = args.target or made_for.get("target")
    target = model_labels(model_name).resolve(target_name) if target_name else None
    model = load_model(model_name, device=args.device)
    scenes = classifier_scenes(model, paths, crops=CROPS_PER_PHOTO, seed=args.seed + 1)
    evaluation = evaluate_classifier_patch(model, patch.to(model.device), scenes,
                                           target=target, size=PatchSize(OBJECT_FRACTION),
                                           simulation=simulation, placements=placements,
                                           seed=args.seed + 1234, examples=24,
                                           protected=protected_classes(args, model, made_for))
    name = model.classes.name(target) if target is not None else None
    protected = protected_classes(args, model, made_for)
    if protected is not None:
        seen = int(torch.isin(scenes.labels.cpu(), torch.tensor(protected)).sum())
        print(f"clean, {model.name} sees a protected class in {seen} of {len(scenes)} views"
              + ("" if seen == len(scenes) else ": untargeted success counts the others "
                 "too (pass photos where the object fills the frame)"))
    _print_rates(f"{len(scenes)} views x {placements} placements, simulation "
                 f"{args.simulate} ({model.name})", evaluation, name)
    examples = [(tensor_to_bgr(e.view[None]),
                 f"{model.classes.name(e.top1)[:22]} {e.probability:.2f}")
                for e in evaluation.examples]
    rows = {"patch": evaluation.patch, **evaluation.baselines}
    summary = {"model": model.name, "target": name, "simulation": args.simulate,
               "views": len(scenes), "placements": placements,
               "rates": {k: {"trials": r.trials, "targeted": r.targeted,
                             "untargeted": r.untargeted} for k, r in rows.items()}}
    return summary, examples


def _evaluate_hide(args: argparse.Namespace, patch: torch.Tensor, made_for: dict[str, str],
                   paths: list[Path], simulation: PrintCameraRanges,
                   placements: int) -> tuple[dict[str, object], list[tuple[np.ndarray, str]]]:
    from chickensaviour.attacks.hide import HideSettings, patch_size, scene_set
    from chickensaviour.cli.hide_command import hide_scenes

    if args.hide is None and "hide" in made_for:
        args.hide = made_for["hide"]
    if args.hide is None:
        raise ChickenSaviourError("--against nanodet needs --hide CLASS (e.g. --hide person)")
    detector, cls, scenes = hide_scenes(args, [str(p) for p in paths], option="--on")
    objective = DetectorHide(detector.at_size(scenes[0].image.shape[-1]), [cls])
    evaluation = evaluate_hide_patch(objective, patch.to(detector.device), scene_set(scenes),
                                     size=patch_size(HideSettings()), simulation=simulation,
                                     placements=placements, seed=args.seed + 1234,
                                     examples=24)
    print(f"{evaluation.objects} objects, simulation {args.simulate}: still detected with the "
          f"patch {evaluation.patch:.1%}, grey {evaluation.baselines['grey']:.1%}, "
          f"noise {evaluation.baselines['noise']:.1%}")
    examples = [(tensor_to_bgr(v[None]), "") for v in evaluation.examples]
    summary = {"model": "nanodet", "hide": args.hide, "simulation": args.simulate,
               "objects": evaluation.objects, "still_detected": {
                   "patch": evaluation.patch, **evaluation.baselines}}
    return summary, examples


def protected_classes(args: argparse.Namespace, model: ImageClassifier,
                      made_for: dict[str, str]) -> list[int] | None:
    """``--protect``'s classes, else those the patch PNG was made to protect, else None
    (each view's clean top-1)."""
    from chickensaviour.labels import classes_for

    if args.protect:
        return classes_for(args.protect, model.classes)
    if made_for.get("protect"):
        try:
            return [int(c) for c in made_for["protect"].split(",")]
        except ValueError:
            raise ChickenSaviourError("the patch's protected classes are unreadable: pass "
                                      "--protect") from None
    return None


def _print_rates(what: str, evaluation: ClassifierEvaluation, target: str | None) -> None:
    print(f"{what}:")
    head = f"targeted ({target})" if target else "targeted"
    print(f"  {'':8s} {head:>22s} {'untargeted':>11s}")
    for name, rates in [("patch", evaluation.patch), *evaluation.baselines.items()]:
        targeted = f"{rates.targeted:.1%}" if rates.targeted is not None else "-"
        print(f"  {name:8s} {targeted:>22s} {rates.untargeted:>11.1%}")


def contact_sheet(examples: list[tuple[np.ndarray, str]], suffix: str, *,
                  columns: int = 6, tile: int = 200) -> bytes:
    """The examples in a grid, each with its caption under it, encoded as ``suffix``."""
    if not examples:
        raise ChickenSaviourError("no examples to put on a contact sheet")
    rows = -(-len(examples) // columns)
    caption = 22
    sheet = np.full((rows * (tile + caption), columns * tile, 3), 255, dtype=np.uint8)
    for index, (image, text) in enumerate(examples):
        row, column = divmod(index, columns)
        top, left = row * (tile + caption), column * tile
        sheet[top : top + tile, left : left + tile] = cv2.resize(
            image, (tile, tile), interpolation=cv2.INTER_AREA)
        cv2.putText(sheet, text, (left + 4, top + tile + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (20, 20, 20), 1, cv2.LINE_AA)
    ok, data = cv2.imencode(suffix, sheet)
    if not ok:
        raise ChickenSaviourError(f"could not encode the contact sheet as {suffix}")
    return data.tobytes()


__all__ = ["classifier_scenes", "encode_patch_png", "read_patch", "run_evaluate_patch",
           "run_print_patch"]
