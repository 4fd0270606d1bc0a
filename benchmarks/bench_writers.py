"""How fast ``VideoWriter`` encodes a recording of the app's size: MP4 and GIF at 1286x480.

The app records its before|after view, two 643x480 panes side by side (1286x480). This
builds such frames from the bundled clip, then times writing them and closing the file
(finish, flush, reopen and count the frames, rename), as a recording does; it prints the
median frames per second of a few runs for each format.

    .venv/bin/python benchmarks/bench_writers.py [--frames 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chickensaviour.video.sources import VideoFileSource  # noqa: E402
from chickensaviour.video.writers import VideoWriter  # noqa: E402

CLIP = ROOT / "chickensaviour" / "assets" / "samples" / "chelsea_clip.mp4"
PANE = (643, 480)  # width, height of one pane: two side by side make 1286x480


def app_frames(count: int) -> list[np.ndarray]:
    """``count`` 1286x480 BGR frames: the clip's frames (looped) as both panes."""
    source = VideoFileSource(CLIP)
    clip = []
    while (frame := source.read()) is not None:
        clip.append(cv2.resize(frame, PANE, interpolation=cv2.INTER_AREA))
    source.close()
    return [np.hstack([clip[i % len(clip)], clip[(i + 1) % len(clip)]])
            for i in range(count)]


def encode(path: Path, frames: list[np.ndarray], fps: float) -> tuple[float, str]:
    """Write and close one file; returns (seconds, codec)."""
    started = time.perf_counter()
    with VideoWriter(path, fps=fps) as writer:
        for frame in frames:
            writer.write(frame)
    return time.perf_counter() - started, writer.codec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fps", type=float, default=15.0, help="frame rate in the file")
    args = parser.parse_args()
    frames = app_frames(args.frames)
    height, width = frames[0].shape[:2]
    print(f"{len(frames)} frames at {width}x{height}, median of {args.repeats} runs")
    print(f"{'format':<6} {'codec':<6} {'median s':>9} {'fps':>7} {'kB/frame':>9}")
    with tempfile.TemporaryDirectory() as folder:
        for suffix in (".mp4", ".gif"):
            path = Path(folder) / f"bench{suffix}"
            runs = [encode(path, frames, args.fps) for _ in range(args.repeats)]
            median = statistics.median(seconds for seconds, _ in runs)
            print(f"{suffix[1:]:<6} {runs[0][1]:<6} {median:9.2f} "
                  f"{len(frames) / median:7.1f} {path.stat().st_size / len(frames) / 1e3:9.1f}")


if __name__ == "__main__":
    main()
