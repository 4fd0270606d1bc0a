"""Hide patches against NanoDet: detection rates of people on held-out frames.

Run from the repository root (OpenCV's pedestrian clip comes with Debian ``opencv-doc``)::

    .venv/bin/python benchmarks/bench_hide.py [--video PATH] [--steps 400] [--size 64]
        [--json PATH] [--save DIR]

Every 5th frame of the clip is used. For each person NanoDet finds (score >= 0.4) a square
crop of 2.2 x the person's height around them becomes a scene (people in ``vtest.avi`` are
small; the crop brings them to webcam-like size). Scenes from the first 60 % of the clip
train the patch (:func:`make_hide_patch`, EOT + TV); scenes from the last 40 % - other
moments, other people positions - are held out. On them the report counts the people
NanoDet still finds (IoU >= 0.5 with the clean box, score >= 0.35): clean, with the
trained patch on each person, and with a uniform-noise patch of the same size.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from chickensaviour.attacks.hide import (
    HideSettings,
    hide_rates,
    make_hide_patch,
    paste,
    scenes_from_frames,
)
from chickensaviour.coco import coco_index
from chickensaviour.imaging import bgr_to_tensor, tensor_to_bgr
from chickensaviour.models.nanodet.detector import NanoDetDetector

DEFAULT_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def person_crops(detector: NanoDetDetector, frames: list[np.ndarray], person: int,
                 zoom: float = 2.2) -> list[np.ndarray]:
    crops = []
    for frame in frames:
        found = detector.detect(bgr_to_tensor(frame))
        height, width = frame.shape[:2]
        for box, cls, score in zip(found.xyxy, found.class_id, found.confidence, strict=True):
            if cls != person or score < 0.4:
                continue
            side = int(min(zoom * (box[3] - box[1]), height, width))
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            x1 = int(np.clip(cx - side / 2, 0, width - side))
            y1 = int(np.clip(cy - side / 2, 0, height - side))
            crops.append(frame[y1 : y1 + side, x1 : x1 + side])
    return crops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--save", type=Path, help="folder for the patch and example images")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    capture = cv2.VideoCapture(str(args.video))
    frames = []
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % args.every == 0:
            frames.append(frame)
        index += 1
    capture.release()
    if not frames:
        raise SystemExit(f"cannot read {args.video}")
    split = int(0.6 * len(frames))
    detector = NanoDetDetector(device="cpu", score_threshold=0.35)
    person = coco_index("person")
    train_crops = person_crops(detector, frames[:split], person)
    test_crops = person_crops(detector, frames[split:], person)
    train = scenes_from_frames(detector, train_crops, [person], size=320)
    test = scenes_from_frames(detector, test_crops, [person], size=320)
    settings = HideSettings(steps=args.steps)
    started = time.perf_counter()
    patch = make_hide_patch(detector, train, [person], size=args.size, settings=settings)
    seconds = time.perf_counter() - started
    report = hide_rates(detector, test, patch, [person], settings=settings)
    train_report = hide_rates(detector, train[:60], patch, [person], settings=settings)
    result = {
        "video": str(args.video), "frames_used": len(frames), "every": args.every,
        "train_scenes": len(train), "train_people": sum(len(s.boxes) for s in train),
        "test_scenes": len(test), "test_people": report.objects,
        "steps": args.steps, "patch_size": args.size, "train_seconds": round(seconds, 1),
        "held_out_detected": {"clean": report.rate(report.clean),
                              "random_patch": report.rate(report.with_random_patch),
                              "hide_patch": report.rate(report.with_patch)},
        "train_detected": {"clean": train_report.rate(train_report.clean),
                           "random_patch": train_report.rate(train_report.with_random_patch),
                           "hide_patch": train_report.rate(train_report.with_patch)},
        "torch_threads": torch.get_num_threads(), "machine": platform.processor() or "cpu",
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.save / "hide_patch_person.png"), tensor_to_bgr(patch))
        examples = [paste(s.image[None], patch[0], [s.boxes], settings) for s in test[:4]]
        cv2.imwrite(str(args.save / "hide_examples.png"),
                    np.hstack([tensor_to_bgr(e) for e in examples]))


if __name__ == "__main__":
    main()
