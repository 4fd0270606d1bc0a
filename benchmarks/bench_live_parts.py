"""The pieces behind the live window's rate, one at a time (no window).

Run from the repository root::

    .venv/bin/python benchmarks/bench_live_parts.py [--json PATH]

1. forward-only engines: ONNX Runtime against PyTorch eager, one thread each,
   alternating call by call: MobileNetV2 at batch 1 and 2, NanoDet at 416x320;
2. the conversions at 640x480: ``tensor_to_bgr`` / ``bgr_to_tensor`` against the
   formulas they replaced (a torch round/flip/permute and a numpy flip + copy);
3. the pipeline in block mode on the bundled clip: ``process`` frame after frame against
   ``process_overlapped`` (detector one frame ahead, hunter one frame behind);
4. refinement alone: the first block and the first hide patch on the regions of the
   clip's first 12 frames, and the block's decoy rate on held-out placements (frames 60
   and on) for the default settings and for half the work.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from chickensaviour.device import torch_threads
from chickensaviour.imaging import bgr_to_tensor, quantize, tensor_to_bgr
from chickensaviour.labels import CAT_CLASS_INDICES
from chickensaviour.live import FramePipeline, PatchStore, PipelineSettings
from chickensaviour.live.modes.block import quick_block
from chickensaviour.live.overlap import process_overlapped
from chickensaviour.models import load_model
from chickensaviour.models.engines import classifier_engine, nanodet_engine
from chickensaviour.models.nanodet.detector import letterbox, plan_letterbox
from chickensaviour.overlay.blocks import RefineSettings, flip_rate, refine_in_context
from chickensaviour.video.sources import VideoFileSource

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "chickensaviour" / "assets" / "samples" / "chelsea_clip.mp4"
HOG = 341


def alternate(calls: dict[str, Callable[[], object]], repeats: int = 20) -> dict[str, float]:
    """Median milliseconds of each call, the calls alternating (after one warm-up each)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: round(statistics.median(t) * 1000, 2) for name, t in times.items()}


def old_tensor_to_bgr(images: torch.Tensor) -> np.ndarray:
    levels = quantize(images[0]).mul(255.0).round().clamp(0, 255).to(torch.uint8)
    return np.ascontiguousarray(levels.permute(1, 2, 0).numpy()[:, :, ::-1])


def old_bgr_to_tensor(frame: np.ndarray) -> torch.Tensor:
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    return torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    figures: dict[str, object] = {}
    model = load_model("mobilenet_v2")
    clip = VideoFileSource(CLIP)
    frames = []
    while (frame := clip.read()) is not None:
        frames.append(frame)
    clip.close()

    # 1. engines
    fast, slow = classifier_engine(model), classifier_engine(model, engine="torch")
    crops = torch.rand(2, 3, 224, 224)
    pipeline = FramePipeline(model, store=PatchStore(False))
    net = pipeline.tools.nanodet
    fast_det, slow_det = nanodet_engine(net), nanodet_engine(net, engine="torch")
    image = bgr_to_tensor(frames[0])
    x = letterbox(image, plan_letterbox(640, 480))
    figures["forward_ms"] = {
        **{f"mobilenet_v2 batch {b} {e.name}": ms for b in (1, 2) for e, ms in zip(
            (fast, slow), alternate({"f": lambda b=b: fast(crops[:b]),
                                     "s": lambda b=b: slow(crops[:b])}).values(), strict=True)},
        **{f"nanodet 416x320 {e.name}": ms for e, ms in zip(
            (fast_det, slow_det), alternate({"f": lambda: fast_det(x),
                                             "s": lambda: slow_det(x)}).values(), strict=True)},
    }
    print("forward ms:", figures["forward_ms"], flush=True)

    # 2. conversions
    figures["conversion_ms"] = alternate({
        "tensor_to_bgr": lambda: tensor_to_bgr(image), "old tensor_to_bgr":
        lambda: old_tensor_to_bgr(image), "bgr_to_tensor": lambda: bgr_to_tensor(frames[0]),
        "old bgr_to_tensor": lambda: old_bgr_to_tensor(frames[0])})
    print("conversions ms:", figures["conversion_ms"], flush=True)

    # 3. sequential against overlapped, block mode (the block made once, shared)
    settings = PipelineSettings(protected=tuple(CAT_CLASS_INDICES), target=HOG, mode="block")
    store = PatchStore(False)
    rates = {}
    for name in ("process", "process_overlapped", "process again", "overlapped again"):
        pipe = FramePipeline(model, store=store)
        pipe.process(frames[0], settings)  # the starting block, engines, detector
        start = time.perf_counter()
        if "overlapped" in name:
            with torch_threads(1):
                done = sum(1 for _ in process_overlapped(pipe, frames[1:61], settings))
        else:
            done = sum(1 for f in frames[1:61] if pipe.process(f, settings) is not None)
        rates[name] = round(done / (time.perf_counter() - start), 1)
    figures["block_pipeline_fps"] = rates
    print("block pipeline fps:", rates, flush=True)

    # 4. refinement alone, 2 threads (a job gets every CPU)
    torch.set_num_threads(2)
    looking = settings.with_changes(mode="off")
    pipe = FramePipeline(model, store=PatchStore(False))
    for frame in frames[:12]:
        pipe.process(frame, looking)
    training = pipe.recent_regions
    for frame in frames[60::6]:
        pipe.process(frame, looking)
    held_out = pipe.recent_regions[len(training):] or pipe.recent_regions
    start_block = quick_block(pipe.tools, HOG, settings.block_size)
    refine = {}
    for name, rs in (("40 steps x 8 (default)", RefineSettings()),
                     ("20 steps x 8, 8/255", RefineSettings(steps=20, step_size=8 / 255)),
                     ("40 steps x 4", RefineSettings(batch=4))):
        start = time.perf_counter()
        block = refine_in_context(model, start_block, HOG, training, rs)
        seconds = time.perf_counter() - start
        stats = flip_rate(model, block, HOG, held_out, trials=96)
        refine[name] = {"seconds": round(seconds, 1), "decoy_rate": round(stats.to_target, 3)}
        print(f"refine {name}: {refine[name]}", flush=True)
    hide = FramePipeline(model, store=PatchStore(False))
    for frame in frames[:12]:
        hide.process(frame, settings.with_changes(mode="off"))
    start = time.perf_counter()
    hide.refine(settings.with_changes(mode="hide"))
    refine["hide patch (60 steps)"] = {"seconds": round(time.perf_counter() - start, 1)}
    print("refine hide patch:", refine["hide patch (60 steps)"], flush=True)
    figures["refine_alone"] = {"train_regions": len(training), "held_out": len(held_out),
                               **refine}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
