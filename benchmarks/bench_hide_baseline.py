"""Does the trained hide patch beat a plain square of the same size? (the live demo)

On the bundled clip, hide mode's patch is trained on the regions of the first 30 frames
(as ``render`` and the app do), then the remaining frames are run with the pipeline's
honest tally: frames in which NanoDet misses the cat with the trained patch, and with a
same-size grey square in the same place, for each hide-patch size.

    .venv/bin/python benchmarks/bench_hide_baseline.py [--fractions 0.5 0.35 0.25]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chickensaviour.labels import CAT_CLASS_INDICES  # noqa: E402
from chickensaviour.live import FramePipeline, PatchStore, PipelineSettings  # noqa: E402
from chickensaviour.models import load_model  # noqa: E402
from chickensaviour.video.sources import VideoFileSource  # noqa: E402

CLIP = ROOT / "chickensaviour" / "assets" / "samples" / "chelsea_clip.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.5, 0.35, 0.25])
    parser.add_argument("--train-frames", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    model = load_model("mobilenet_v2")
    source = VideoFileSource(CLIP)
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    rows = []
    for fraction in args.fractions:
        pipeline = FramePipeline(model, store=PatchStore(False))
        settings = PipelineSettings(protected=CAT_CLASS_INDICES, mode="hide",
                                    hide_fraction=fraction)
        for frame in frames[:args.train_frames]:
            pipeline.process(frame, settings.with_changes(mode="off"))
        started = time.perf_counter()
        pipeline.refine(settings)
        seconds = time.perf_counter() - started
        pipeline.reset()
        result = None
        for frame in frames[args.train_frames:]:
            result = pipeline.process(frame, settings)
        assert result is not None and result.hide is not None
        rows.append({"hide_fraction": fraction, "train_seconds": round(seconds, 1),
                     "patch_hidden": result.hide.patch.rate,
                     "grey_hidden": result.hide.baseline.rate,
                     "frames": result.hide.patch.frames})
        print(f"hide fraction {fraction:.2f}: trained in {seconds:.0f} s; "
              f"{result.hide.describe()}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
