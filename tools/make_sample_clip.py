"""Synthesise ``chickensaviour/assets/samples/chelsea_clip.mp4``: a short, open test video.

A virtual camera films the CC0 photo of Chelsea the cat
(``chickensaviour/assets/samples/chelsea.png``, from scikit-image) lying as a
white-bordered print on a plain desk: a slow pan from left
to right, a gentle zoom in (the print grows from about 60 % to 75 % of the frame's
width), a small vertical drift and roll, and a slight change of exposure. The cat fills
a good part of the frame and moves in it, with some background around it, as when a
photo is held up to a webcam.

Deterministic: the camera path and exposure are smooth functions of time, the desk's
texture comes from a fixed seed, and frames are resampled with OpenCV, so the same
NumPy/OpenCV build writes the same bytes (other builds give the same frames up to the
codec's rounding).

Regenerate from the repository root (a few seconds)::

    .venv/bin/python tools/make_sample_clip.py                  # default output
    .venv/bin/python tools/make_sample_clip.py --out /tmp/c.mp4 --seconds 4

The result is an MP4 (``mp4v``), 640x480 at 30 fps, 5 s (150 frames), about 1.3 MB (under
1.5 MB; OpenCV sets no bit rate for mp4v, so this is the quality knob left).
The camera path is a function of time alone, so a different ``--fps`` samples the same
motion more or less densely.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "chickensaviour" / "assets" / "samples" / "chelsea.png"
CLIP = ROOT / "chickensaviour" / "assets" / "samples" / "chelsea_clip.mp4"

WIDTH, HEIGHT = 640, 480
FPS = 30.0
SECONDS = 5.0
SCENE_W, SCENE_H = 1100, 800
SEED = 2024


def ease(t: float) -> float:
    """Cosine ease-in-out on ``[0, 1]``: zero speed at both ends, no jerk."""
    return 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))


def build_scene(photo: np.ndarray) -> np.ndarray:
    """The still world the camera films: the photo as a print lying on a plain desk.

    A white-bordered print with a soft shadow on a smooth, slightly uneven grey-beige
    surface (low-frequency texture from a seeded generator, so no grain for the codec).
    """
    rng = np.random.default_rng(SEED)
    coarse = rng.random((9, 12, 1)).astype(np.float32)
    texture = cv2.resize(coarse, (SCENE_W, SCENE_H), interpolation=cv2.INTER_CUBIC)[..., None]
    desk = np.array([150, 165, 175], np.float32)  # BGR: warm light grey
    scene = desk * (0.85 + 0.2 * texture)
    x = np.linspace(-1.0, 1.0, SCENE_W, dtype=np.float32)[None, :, None]
    scene = scene * (1.0 - 0.08 * x)  # light from the left
    height, width = photo.shape[:2]
    left, top = (SCENE_W - width) // 2, (SCENE_H - height) // 2
    border = 12
    shadow = np.zeros((SCENE_H, SCENE_W), np.float32)
    shadow[top - border + 10 : top + height + border + 10,
           left - border + 8 : left + width + border + 8] = 1.0
    shadow = cv2.GaussianBlur(shadow, (0, 0), 9)[..., None]
    scene = scene * (1.0 - 0.35 * shadow)
    scene[top - border : top + height + border, left - border : left + width + border] = 240.0
    scene[top : top + height, left : left + width] = photo
    return np.clip(np.rint(scene), 0, 255).astype(np.uint8)


def camera(t: float) -> tuple[float, float, float, float]:
    """The camera at time ``t`` in ``[0, 1]``: view centre ``(cx, cy)`` in scene pixels,
    the view's width in scene pixels, and its roll in degrees.

    A slow pan from the left of the print to its right, a gentle zoom in (the print goes
    from about 60 % to 75 % of the frame's width), a small vertical drift and roll.
    """
    cx = SCENE_W / 2 - 55.0 + 110.0 * ease(t)
    cy = SCENE_H / 2 + 12.0 * math.sin(math.pi * t)
    view_width = 760.0 - 160.0 * ease(t)
    roll = 2.5 * math.sin(math.pi * (t - 0.3))
    return cx, cy, view_width, roll


def exposure(t: float) -> float:
    """A slight, smooth brightness change (about +-6 %), as an auto-exposure would make."""
    return 1.0 + 0.06 * math.sin(2.0 * math.pi * t)


def render_frame(scene: np.ndarray, t: float) -> np.ndarray:
    """The BGR ``uint8`` frame ``(HEIGHT, WIDTH, 3)`` the camera sees at ``t``."""
    cx, cy, view_width, roll = camera(t)
    # Rotate and scale the scene about the view centre, then move that centre to the
    # frame's centre: one affine warp per frame.
    matrix = cv2.getRotationMatrix2D((cx, cy), roll, WIDTH / view_width)
    matrix[:, 2] += (WIDTH / 2 - cx, HEIGHT / 2 - cy)
    frame = cv2.warpAffine(scene, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REFLECT_101)
    lit = frame.astype(np.float32) * exposure(t)
    return np.clip(np.rint(lit), 0, 255).astype(np.uint8)


def make_clip(out: Path, seconds: float = SECONDS, fps: float = FPS) -> int:
    """Write the clip to ``out`` (through a temporary file); returns the frame count."""
    photo = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)
    if photo is None:
        raise SystemExit(f"cannot read {PHOTO}")
    scene = build_scene(photo)
    count = max(2, round(seconds * fps))
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.stem}.part{out.suffix}")
    writer = cv2.VideoWriter(str(temp), cv2.VideoWriter.fourcc(*"mp4v"), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise SystemExit("OpenCV cannot write mp4v files here")
    try:
        for index in range(count):
            writer.write(render_frame(scene, index / (count - 1)))
    except BaseException:
        writer.release()
        temp.unlink(missing_ok=True)
        raise
    writer.release()
    temp.replace(out)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=CLIP, help="default: %(default)s")
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--fps", type=float, default=FPS)
    args = parser.parse_args(argv)
    count = make_clip(args.out, args.seconds, args.fps)
    size = args.out.stat().st_size
    print(f"wrote {args.out}: {count} frames, {WIDTH}x{HEIGHT} at {args.fps:g} fps, "
          f"{size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
