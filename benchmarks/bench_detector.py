"""NanoDet on the CPU: ms per frame, and fps of the live pipeline with each detector.

Run from the repository root, with nothing else busy on the machine::

    .venv/bin/python benchmarks/bench_detector.py [--repeats 30] [--frames 60] [--json PATH]

1. The network alone (no grad) at NanoDet's 416 x 416 input, and at 416 x 320 (the
   tight letterbox of a 4:3 frame that :class:`NanoDetDetector` uses by default).
2. ``detect()`` end to end on a 640 x 480 frame: letterbox, network, GFL decoding, NMS.
3. Forward + backward at 320 x 320 (one step of hide-patch training, per image).
4. The live pipeline (``FramePipeline.process`` + drawing) on the bundled clip at
   640 x 480 in block mode, with ``--detector nanodet`` and with ``cam``, detecting every
   3rd frame (the default) and every frame; and hide mode (detector on the after frame too).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fold_bn import timed
from bench_pipeline import read_frames, run_mode

from chickensaviour.imaging import bgr_to_tensor
from chickensaviour.labels import CAT_CLASS_INDICES
from chickensaviour.live import FramePipeline, PatchStore, PipelineSettings
from chickensaviour.models import load_model
from chickensaviour.models.nanodet.detector import NanoDetDetector


def warm_timed(call, repeats: int) -> float:
    """Median milliseconds of ``call()`` over ``repeats`` runs, after 3 warm-up runs."""
    for _ in range(3):
        call()
    return timed(call, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    detector = NanoDetDetector(device="cpu")
    net = detector.net
    results: dict[str, float] = {}
    with torch.no_grad():
        for width, height in ((416, 416), (416, 320)):
            x = torch.randn(1, 3, height, width)
            key = f"network_{width}x{height}_ms"
            results[key] = warm_timed(lambda x=x: net(x), args.repeats)
    frames = read_frames(args.frames, (640, 480))
    frame = bgr_to_tensor(frames[0][0])
    results["detect_640x480_ms"] = warm_timed(lambda: detector.detect(frame), args.repeats)
    x = torch.randn(1, 3, 320, 320, requires_grad=True)

    def forward_backward() -> None:
        scores, _ = net(x)
        scores[..., 0].max().backward()

    results["forward_backward_320_ms"] = warm_timed(forward_backward, max(5, args.repeats // 3))

    model = load_model("mobilenet_v2")
    pipeline = FramePipeline(model, store=PatchStore(False))
    live: dict[str, dict[str, object]] = {}
    for name, settings in {
        "nanodet, detect every 3rd frame": PipelineSettings(protected=CAT_CLASS_INDICES),
        "nanodet, detect every frame": PipelineSettings(protected=CAT_CLASS_INDICES,
                                                        detect_every=1),
        "cam, detect every 3rd frame": PipelineSettings(protected=CAT_CLASS_INDICES,
                                                        detector="cam"),
        "cam, detect every frame": PipelineSettings(protected=CAT_CLASS_INDICES,
                                                    detector="cam", detect_every=1),
        "nanodet, hide mode": PipelineSettings(protected=CAT_CLASS_INDICES, mode="hide"),
    }.items():
        for frame_, _ in frames[:6]:  # warm up: detector, seed block, oneDNN kernels
            pipeline.process(frame_, settings)
        figures = run_mode(pipeline, frames, settings)
        live[name] = {"fps": round(figures.fps, 2), "ms_per_frame": round(figures.ms_per_frame, 1),
                      "stage_ms": {k: round(v, 1) for k, v in figures.stage_ms.items()},
                      "regions_per_frame": round(figures.regions_per_frame, 2)}

    print(f"machine: python {platform.python_version()}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, cpus {os.cpu_count()}")
    for key, value in results.items():
        print(f"{key:<28}{value:8.1f}")
    print(f"\nlive pipeline, {len(frames)} frames of the bundled clip at 640x480, block mode:")
    for name, fig in live.items():
        stages = ", ".join(f"{k} {v:.0f}" for k, v in fig["stage_ms"].items())  # type: ignore[union-attr]
        print(f"  {name:<34}{fig['fps']:6.1f} fps  ({stages} ms; "
              f"{fig['regions_per_frame']} regions/frame)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"detector": results, "live": live}, indent=2) + "\n")


if __name__ == "__main__":
    main()
