"""Ghost mode: how many steps per frame, with and without the warm start.

Run from the repository root::

    .venv/bin/python benchmarks/bench_ghost_steps.py [--model mobilenet_v2]
        [--eps 8 4 2] [--every 2] [--json PATH]

The bundled clip (every ``--every``-th frame) goes through the live pipeline in ghost
mode (cats protected, decoy hog, NanoDet regions, tracking) for each configuration:
1 and 2 steps per frame warm-started from the track's previous perturbation (1 is the
default), the same from the clean frame (1 step is then the seed's FGSM), and 5 steps
from the clean frame (the old default). It prints how many regions the hunter read as
the decoy after the attack and the median time of the ghost stage per frame.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from chickensaviour.labels import CAT_CLASS_INDICES
from chickensaviour.live import FramePipeline, PatchStore, PipelineSettings
from chickensaviour.live.modes.ghost import GhostMode
from chickensaviour.models import load_model
from chickensaviour.video.sources import VideoFileSource

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "chickensaviour" / "assets" / "samples" / "chelsea_clip.mp4"
HOG = 341
CONFIGS = ((1, True), (1, False), (2, True), (2, False), (5, False))  # (steps, warm start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--eps", type=float, nargs="+", default=[8.0, 4.0, 2.0])
    parser.add_argument("--every", type=int, default=2, help="use every N-th frame")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = load_model(args.model)
    clip = VideoFileSource(CLIP)
    frames = []
    while (frame := clip.read()) is not None:
        frames.append(frame)
    clip.close()
    frames = frames[:: args.every]
    rows = []
    for eps in args.eps:
        for steps, warm in CONFIGS:
            pipeline = FramePipeline(model, store=PatchStore(cache_dir=None),
                                     modes={"ghost": GhostMode(warm_start=warm)})
            settings = PipelineSettings(protected=tuple(CAT_CLASS_INDICES), target=HOG,
                                        mode="ghost", eps=eps / 255, ghost_steps=steps)
            hits = regions = 0
            times = []
            for frame in frames:
                result = pipeline.process(frame, settings)
                regions += len(result.tracks)
                hits += sum(t.after.top1[0] == HOG for t in result.tracks)
                if result.tracks:
                    times.append(result.timings.patch)
            row = {"model": args.model, "eps": eps, "steps": steps, "warm_start": warm,
                   "decoy_top1": hits, "regions": regions,
                   "ghost_ms": round(statistics.median(times) * 1000, 1) if times else None}
            rows.append(row)
            print(f"{args.model} eps {eps:g}/255 {steps} steps "
                  f"{'warm' if warm else 'cold'}: hog top-1 {hits}/{regions}, "
                  f"{row['ghost_ms']} ms a frame", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
