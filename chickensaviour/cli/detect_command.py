"""``chickensaviour detect``: COCO objects in an image or a video, boxes drawn and listed.

An image gives an image (``--out x.png``) and one line per object; a video gives a video
(``--out x.mp4`` or ``.gif``, written all-or-nothing by :class:`VideoWriter`) and a
per-class summary.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from chickensaviour import files
from chickensaviour.cli import options
from chickensaviour.cli.render_command import BACKEND_ERRORS, frames_of, open_video
from chickensaviour.coco import COCO_CLASSES, coco_index
from chickensaviour.errors import ChickenSaviourError, one_line
from chickensaviour.imaging import (
    WRITABLE_SUFFIXES,
    bgr_to_tensor,
    encode_bgr,
    read_image,
    tensor_to_bgr,
)
from chickensaviour.live.draw import draw_label, text_scale
from chickensaviour.models.detections import Detections
from chickensaviour.models.nanodet.detector import NanoDetDetector
from chickensaviour.video.sources import IMAGE_SUFFIXES, VideoFileSource
from chickensaviour.video.writers import VIDEO_SUFFIXES, VideoWriter


def parse_coco_classes(text: str | None) -> tuple[int, ...] | None:
    """``"person, cat"`` -> COCO indices; ``None`` means every class."""
    if text is None:
        return None
    found = tuple(dict.fromkeys(coco_index(part) for part in text.split(",") if part.strip()))
    if not found:
        raise ChickenSaviourError("--classes needs at least one COCO class name")
    return found


def parse_threshold(text: str) -> float:
    value = options.finite_float(text, "threshold")
    if not 0.0 < value < 1.0:
        raise ChickenSaviourError(f"threshold must be in (0, 1), got {text}")
    return value


def draw_detections(frame: np.ndarray, found: Detections) -> np.ndarray:
    """A copy of a BGR frame with each detection's box and "class score" label."""
    out = frame.copy()
    scale = text_scale(out)
    line = max(2, round(scale * 3))
    order = np.argsort(found.confidence)  # strongest drawn last, on top
    for box, cls, score in zip(found.xyxy[order], found.class_id[order],
                               found.confidence[order], strict=True):
        colour = class_colour(int(cls))
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, line)
        draw_label(out, f"{COCO_CLASSES[cls]} {score:.2f}", (x1, y1), colour, scale)
    return out


def class_colour(index: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour per class (golden-angle hues)."""
    hue = int((index * 137.508) % 180)
    hsv = np.array([[[hue, 200, 210]]], dtype=np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def run_detect(args: argparse.Namespace) -> int:
    source, out = Path(args.source), Path(args.out)
    classes = parse_coco_classes(args.classes)
    threshold = parse_threshold(args.threshold)
    is_image = source.suffix.lower() in IMAGE_SUFFIXES
    allowed = WRITABLE_SUFFIXES if is_image else VIDEO_SUFFIXES
    if out.suffix.lower() not in allowed:
        kind = "an image" if is_image else "a video"
        raise ChickenSaviourError(f"{source.name} is {kind}: --out must end in one of "
                                  f"{', '.join(allowed)}")
    if is_image and args.max_frames is not None:
        raise ChickenSaviourError("--max-frames is for videos")
    max_frames = (None if args.max_frames is None
                  else options.positive_int(args.max_frames, "max-frames", 1, 1_000_000))
    files.check_creatable_file(out)
    if out.exists() and source.exists() and out.resolve() == source.resolve():
        raise ChickenSaviourError("--out must not be the input")
    if is_image:
        image = read_image(source)
        detector = NanoDetDetector(classes, score_threshold=threshold, device=_device(args))
        found = detector.detect(image)
        drawn = draw_detections(tensor_to_bgr(image), found)
        files.write_all({out: encode_bgr(drawn, out.suffix)})
        for box, cls, score in zip(found.xyxy, found.class_id, found.confidence, strict=True):
            x1, y1, x2, y2 = (round(float(v)) for v in box)
            print(f"{COCO_CLASSES[cls]:<14} {score:.3f}  box {x1},{y1},{x2},{y2}")
        print(f"{len(found)} object(s); wrote {out}")
        return 0
    video = open_video(source)
    try:
        detector = NanoDetDetector(classes, score_threshold=threshold, device=_device(args))
        counts, frames, seconds = _detect_video(detector, video, out, max_frames)
    finally:
        video.close()
    rate = frames / seconds if seconds > 0 else float("inf")
    summary = ", ".join(f"{COCO_CLASSES[c]} {n}" for c, n in counts.most_common()) or "nothing"
    print(f"{frames} frames in {seconds:.1f} s ({rate:.1f} fps); detections: {summary}")
    print(f"wrote {out}")
    return 0


def _detect_video(detector: NanoDetDetector, video: VideoFileSource, out: Path,
                  max_frames: int | None) -> tuple[Counter[int], int, float]:
    counts: Counter[int] = Counter()
    frames = 0
    writer = VideoWriter(out, video.fps)
    total = video.frame_count if video.frame_count > 0 else None
    if max_frames is not None:
        total = max_frames if total is None else min(total, max_frames)
    progress = tqdm(total=total, unit="frame", desc=f"detect {out.name}", file=sys.stderr,
                    dynamic_ncols=True)
    started = time.perf_counter()
    try:
        for frame in frames_of(video, [], max_frames):
            found = detector.detect(bgr_to_tensor(frame, device=detector.device))
            counts.update(found.class_id.tolist())
            writer.write(draw_detections(frame, found))
            frames += 1
            progress.update()
        progress.close()
        writer.close()
    except BACKEND_ERRORS as exc:
        progress.close()
        writer.abort()
        raise ChickenSaviourError(f"detect failed after {frames} frames: {one_line(exc)}") from exc
    except BaseException:
        progress.close()
        writer.abort()
        raise
    return counts, frames, time.perf_counter() - started



def _device(args: argparse.Namespace) -> str | None:
    return None if args.device == "auto" else args.device
