"""Reading the photos the commands work on, at a size that keeps memory bounded.

``attack`` and ``sweep`` keep every pixel of the photo (the adversarial image has the
input's size), so their memory grows with it: about 210 bytes a pixel for PGD, and an
8000x6000 photo ended in an allocator error. ``dream`` runs the network at the photo's
own size, 2 to 2.7 GB a megapixel. Larger photos are shrunk (area averaging, same
aspect ratio) to the limits below, and the command says so on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from chickensaviour.imaging import bgr_to_tensor, read_frame, shrink_to_pixels

#: ``attack`` and ``sweep``: 12 MP (4000x3000 passes unchanged; PGD peaks near 2.6 GB).
WORK_PIXELS = 12_000_000
#: ``dream``: 1 MP (1024x1024 and 1280x720 pass unchanged; peaks near 2.7 GB).
DREAM_PIXELS = 1_048_576


def video_frames(path: str | Path, *, every: int, limit: int) -> list[np.ndarray]:
    """Every ``every``-th BGR frame of a video file, at most ``limit`` of them."""
    from chickensaviour.video.sources import VideoFileSource

    frames: list[np.ndarray] = []
    video = VideoFileSource(Path(path))
    try:
        index = 0
        while len(frames) < limit:
            frame = video.read()
            if frame is None:
                break
            if index % every == 0:
                frames.append(frame)
            index += 1
    finally:
        video.close()
    return frames


def read_photo(path: str | Path, command: str, max_pixels: int) -> torch.Tensor:
    """The photo as float RGB ``(1, 3, H, W)``, shrunk to at most ``max_pixels`` pixels
    with a one-line note on stderr when it was larger."""
    path = Path(path)
    frame = read_frame(path)
    small = shrink_to_pixels(frame, max_pixels)
    if small is not frame:
        height, width = frame.shape[:2]
        print(f"note: {path.name} is {width}x{height}: {command} works on a "
              f"{small.shape[1]}x{small.shape[0]} copy (at most {max_pixels / 1e6:.1f} MP, "
              "to bound memory)", file=sys.stderr)
    return bgr_to_tensor(small)
