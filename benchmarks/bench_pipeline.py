"""Live-pipeline throughput: fps and per-stage time at 640x480, block and ghost modes.

Run from the repository root::

    .venv/bin/python benchmarks/bench_pipeline.py [--frames 60] [--detector nanodet|cam]
        [--json PATH]

Frames come from the bundled clip
(``chickensaviour/assets/samples/chelsea_clip.mp4``), decoded once per
mode exactly as ``render`` decodes them. Stages: capture (decode), localise (NanoDet,
or the class activation map with ``--detector cam``, every ``detect_every`` frames),
track, patch (block paste or ghost FGSM), classify (top-5 of every region before and
after) and draw (boxes, labels, side by side).
For comparison the same frames go through the seed's approach, sliding-window
classification (224 px windows, stride 112, batched), which is what the hunter would do
without a localiser. Block-mode flip rates with and without the in-context refinement
are measured on held-out placements.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from chickensaviour.imaging import bgr_to_tensor
from chickensaviour.labels import CAT_CLASS_INDICES, imagenet_classes
from chickensaviour.live import FramePipeline, PatchKey, PatchStore, PipelineSettings
from chickensaviour.live.draw import side_by_side
from chickensaviour.models import load_model
from chickensaviour.overlay.blocks import Context, flip_rate
from chickensaviour.video.sources import VideoFileSource

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "chickensaviour" / "assets" / "samples" / "chelsea_clip.mp4"


@dataclass
class ModeFigures:
    mode: str
    frames: int
    fps: float
    ms_per_frame: float
    stage_ms: dict[str, float]
    regions_per_frame: float
    protected_top1_before: float  # share of regions whose top-1 is a protected class
    protected_top1_after: float


def read_frames(count: int, size: tuple[int, int]) -> list[tuple[np.ndarray, float]]:
    """(frame, decode seconds) pairs from the bundled clip, resized to ``size``."""
    source = VideoFileSource(CLIP)
    frames = []
    try:
        while len(frames) < count:
            started = time.perf_counter()
            frame = source.read()
            if frame is None:
                source.close()
                source = VideoFileSource(CLIP)
                continue
            if (frame.shape[1], frame.shape[0]) != size:
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            frames.append((frame, time.perf_counter() - started))
    finally:
        source.close()
    return frames


def run_mode(pipeline: FramePipeline, frames: list[tuple[np.ndarray, float]],
             settings: PipelineSettings) -> ModeFigures:
    stages: dict[str, list[float]] = {k: [] for k in
                                      ("capture", "localise", "track", "patch", "classify", "draw")}
    totals, regions, before_hits, after_hits = [], [], 0, 0
    pipeline.reset()
    for frame, decode in frames:
        started = time.perf_counter()
        result = pipeline.process(frame, settings)
        drawn = time.perf_counter()
        side_by_side(result)
        done = time.perf_counter()
        stages["capture"].append(decode)
        stages["localise"].append(result.timings.localise)
        stages["track"].append(result.timings.track)
        stages["patch"].append(result.timings.patch)
        stages["classify"].append(result.timings.classify)
        stages["draw"].append(done - drawn)
        totals.append(decode + done - started)
        regions.append(len(result.tracks))
        for track in result.tracks:
            before_hits += track.before.indices[0] in settings.protected
            after_hits += track.after.indices[0] in settings.protected
    count = max(1, sum(regions))
    mean_total = statistics.fmean(totals)
    return ModeFigures(settings.mode, len(frames), 1.0 / mean_total, mean_total * 1000,
                       {k: statistics.fmean(v) * 1000 for k, v in stages.items()},
                       statistics.fmean(regions), before_hits / count, after_hits / count)


@torch.no_grad()
def sliding_window(model, frames: list[tuple[np.ndarray, float]], window: int = 224,
                   stride: int = 112) -> float:
    """Seconds per frame of the seed's approach: classify every window of the frame."""
    judge = model.with_fit("stretch")
    times = []
    for frame, decode in frames:
        started = time.perf_counter()
        image = bgr_to_tensor(frame, device=model.device)
        crops = F.unfold(image, window, stride=stride)  # (1, 3*w*w, N)
        crops = crops.transpose(1, 2).reshape(-1, 3, window, window)
        judge.probabilities(crops)
        times.append(decode + time.perf_counter() - started)
    return statistics.fmean(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-flip", action="store_true", help="skip the flip-rate study")
    parser.add_argument("--detector", choices=("nanodet", "cam"), default="nanodet",
                        help="what finds the cat (figures before issue 4 used cam)")
    args = parser.parse_args()

    model = load_model(args.model)
    hog = imagenet_classes().resolve("hog")
    frames = read_frames(args.frames, (args.width, args.height))
    pipeline = FramePipeline(model, store=PatchStore(False))  # no disk cache: fair start
    base = PipelineSettings(protected=CAT_CLASS_INDICES, target=hog, detector=args.detector)
    # Warm up (first block, oneDNN kernels) and gather contexts for the refinement.
    for frame, _ in frames[:6]:
        pipeline.process(frame, base)
    contexts = pipeline.recent_regions
    key = PatchKey("block", model.name, (hog,), base.block_size)
    start_block = pipeline.store.get(key).image  # type: ignore[union-attr]
    figures = {"block (quick PGD block)": run_mode(pipeline, frames, base)}
    started = time.perf_counter()
    pipeline.refine(base, contexts)
    refine_seconds = time.perf_counter() - started
    figures["block (refined)"] = run_mode(pipeline, frames, base)
    figures["ghost (FGSM)"] = run_mode(pipeline, frames, base.with_changes(mode="ghost"))
    figures["off"] = run_mode(pipeline, frames, base.with_changes(mode="off"))
    window_seconds = sliding_window(model, frames)

    print(f"machine: python {platform.python_version()}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, cpus {os.cpu_count()}, device {model.device}")
    print(f"model {args.model}, detector {args.detector}, {len(frames)} frames of {CLIP.name} "
          f"at {args.width}x{args.height}, protected: cat classes, decoy: hog")
    stage_names = ["capture", "localise", "track", "patch", "classify", "draw"]
    print(f"\n{'mode':<20}{'fps':>7}{'ms':>8}  " + "".join(f"{s:>9}" for s in stage_names)
          + f"{'regions':>9}{'cat@1 before':>14}{'after':>7}")
    for name, fig in figures.items():
        print(f"{name:<20}{fig.fps:7.1f}{fig.ms_per_frame:8.1f}  "
              + "".join(f"{fig.stage_ms[s]:9.1f}" for s in stage_names)
              + f"{fig.regions_per_frame:9.2f}{fig.protected_top1_before:14.2f}"
              f"{fig.protected_top1_after:7.2f}")
    print(f"{'sliding window':<20}{1 / window_seconds:7.1f}{window_seconds * 1000:8.1f}  "
          "(seed approach: 224 px windows, stride 112, batched; classification only)")
    print(f"\nin-context refinement of the block: {refine_seconds:.1f} s "
          "(once per model/decoy/size)")

    flips = {}
    if not args.skip_flip:
        # Held out: the last frames (the refinement saw the first six) and their tracks.
        held_out = []
        for frame, _ in frames[-8:]:
            result = pipeline.process(frame, base.with_changes(mode="off"))
            held_out += [Context(bgr_to_tensor(frame), t.box) for t in result.tracks]
        refined = pipeline.store.get(key).image  # type: ignore[union-attr]
        for label, block in (("starting block", start_block), ("refined block", refined)):
            stats = flip_rate(model, block, hog, held_out, trials=64)
            flips[label] = asdict(stats)
            print(f"{label:<14}: top-1 flipped on {stats.flipped:.0%} of 64 held-out "
                  f"placements, to 'hog' on {stats.to_target:.0%}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "modes": {k: asdict(v) for k, v in figures.items()},
            "sliding_window_ms": window_seconds * 1000, "refine_seconds": refine_seconds,
            "flip_rates": flips}, indent=2) + "\n")


if __name__ == "__main__":
    main()
