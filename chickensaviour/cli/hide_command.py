"""``chickensaviour patch --against nanodet --hide CLASS``: a patch that hides a COCO class.

Training media are photos and/or videos (every few frames) that show the class; with no
``--train`` the bundled sample photos that show it are used. Each photo also appears
zoomed out at random places on a grey canvas, so the patch learns smaller objects too.
The report gives the detection rate of the class on the training scenes - and, with
``--eval``, on held-out media - clean, with the patch, and with a same-size noise patch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from chickensaviour import files
from chickensaviour.assets import SAMPLE_PHOTOS, sample
from chickensaviour.attacks.hide import (
    HideReport,
    HideSettings,
    Scene,
    hide_rates,
    make_hide_patch,
    scenes_from_frames,
)
from chickensaviour.cli import options
from chickensaviour.cli.inputs import video_frames
from chickensaviour.coco import COCO_CLASSES, coco_index
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.imaging import WRITABLE_SUFFIXES, encode_image, read_image, tensor_to_bgr
from chickensaviour.models.nanodet.detector import NanoDetDetector
from chickensaviour.progress import ProgressFn
from chickensaviour.video.sources import IMAGE_SUFFIXES

VIDEO_EVERY = 5  # frames
MAX_SIDE = 960  # frames are shrunk to this longer side as they are read
VIDEO_LIMIT = 200  # frames kept per video
ZOOMED_COPIES = 3
SCENE_SIZE = 320


def read_media(paths: list[Path]) -> list[np.ndarray]:
    """BGR frames from photos (plus zoomed-out copies) and videos (every 5th frame)."""
    frames: list[np.ndarray] = []
    generator = np.random.default_rng(0)
    for path in paths:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            photo = _shrunk(tensor_to_bgr(read_image(path)))
            frames.append(photo)
            frames.extend(_zoomed_out(photo, generator) for _ in range(ZOOMED_COPIES))
            continue
        frames.extend(_shrunk(frame) for frame in video_frames(path, every=VIDEO_EVERY,
                                                                limit=VIDEO_LIMIT))
    return frames


def _shrunk(frame: np.ndarray) -> np.ndarray:
    scale = MAX_SIDE / max(frame.shape[:2])
    if scale >= 1:
        return frame
    size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _zoomed_out(photo: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    height, width = photo.shape[:2]
    scale = generator.uniform(0.45, 0.8)
    # At least one pixel: a tiny photo must not become an empty (invalid) resize target.
    small = cv2.resize(photo, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    canvas = np.full_like(photo, int(generator.integers(60, 180)))
    top = int(generator.integers(0, height - small.shape[0] + 1))
    left = int(generator.integers(0, width - small.shape[1] + 1))
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def hide_scenes(args: argparse.Namespace, media: list[str] | None, *,
                option: str = "--train") -> tuple[NanoDetDetector, int, list[Scene]]:
    """NanoDet, the class to hide (``--hide``) and the scenes of ``media`` that show it
    (the bundled sample photos that show it when ``media`` is None)."""
    cls = coco_index(args.hide)
    paths = [Path(p) for p in media] if media else [sample(name) for name in SAMPLE_PHOTOS]
    for path in paths:
        if not path.is_file():
            raise ChickenSaviourError(f"no such file: {path}")
    detector = NanoDetDetector([cls], device=None if args.device == "auto" else args.device,
                               score_threshold=0.35)
    scenes = scenes_from_frames(detector, read_media(paths), [cls], size=SCENE_SIZE)
    if not scenes:
        where = "the bundled sample photos" if not media else f"the {option} media"
        raise ChickenSaviourError(f"NanoDet finds no {COCO_CLASSES[cls]} in {where}: pass "
                                  "photos or videos that show one")
    return detector, cls, scenes


def run_hide_patch(args: argparse.Namespace) -> int:
    if args.hide is None:
        raise ChickenSaviourError("--against nanodet needs --hide CLASS (e.g. --hide person)")
    cls = coco_index(args.hide)
    size = options.positive_int(args.size, "size", 8, 512)
    steps = options.positive_int(args.steps or "200", "steps", 1, 100_000)
    out = Path(args.out)
    if out.suffix.lower() not in WRITABLE_SUFFIXES:
        raise ChickenSaviourError(f"--out must end in one of {', '.join(WRITABLE_SUFFIXES)}")
    for path in [Path(p) for p in (args.train or []) + (args.eval or [])]:
        if not path.is_file():
            raise ChickenSaviourError(f"no such file: {path}")
    files.check_creatable_file(out)

    detector, cls, train = hide_scenes(args, args.train)
    # Held-out media are read and checked before training, so a bad one costs no time.
    held_out: list[Scene] = []
    if args.eval:
        held_out = scenes_from_frames(detector, read_media([Path(p) for p in args.eval]),
                                      [cls], size=SCENE_SIZE)
        if not held_out:
            raise ChickenSaviourError(f"NanoDet finds no {COCO_CLASSES[cls]} in the --eval "
                                      "media: pass held-out photos or videos that show one")
    settings = HideSettings(steps=steps, seed=args.seed)
    print(f"training a {size}x{size} patch to hide {COCO_CLASSES[cls]!r} on {len(train)} "
          f"scenes ({sum(len(s.boxes) for s in train)} objects), {steps} steps",
          file=sys.stderr)
    start = {"grey": None, "black": torch.zeros(3, size, size),
             "noise": torch.rand(3, size, size, generator=torch.Generator().manual_seed(args.seed))
             }[args.start]
    patch = make_hide_patch(detector, train, [cls], size=size, settings=settings, start=start,
                            progress=_progress_printer(steps))
    data = encode_image(patch, out.suffix)
    _report("training scenes", hide_rates(detector, train, patch, [cls], settings=settings))
    if held_out:
        _report("held-out scenes", hide_rates(detector, held_out, patch, [cls],
                                              settings=settings))
    files.write_all({out: data})
    print(f"wrote {out}")
    return 0


def _progress_printer(steps: int) -> ProgressFn:
    every = max(1, steps // 10)

    def show(step: int, total: int, score: float) -> None:
        if step % every == 0 or step == total:
            print(f"  step {step}/{total}: highest score in batch {score:.3f}", file=sys.stderr)

    return show


def _report(what: str, report: HideReport) -> None:
    print(f"{what}: {report.objects} objects detected clean {report.rate(report.clean):.0%}, "
          f"with noise patch {report.rate(report.with_random_patch):.0%}, "
          f"with hide patch {report.rate(report.with_patch):.0%}")
