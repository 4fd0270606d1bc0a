"""Print how far the PyTorch NanoDet is from the TF.js reference outputs.

    .venv/bin/python tools/nanodet_reference/check_parity.py

For each reference photo: the largest absolute difference of the best class probability
of every anchor (3549), and of the full class probabilities and box logits of the 300
strongest anchors. ``tests/models/test_nanodet_detector.py`` asserts these stay below 1e-4 / 1e-3.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from chickensaviour.imaging import bgr_to_tensor
from chickensaviour.models.nanodet.detector import NanoDetDetector

REFERENCE = Path(__file__).resolve().parents[2] / "tests/models/data/nanodet_tfjs_reference.npz"


def main() -> None:
    detector = NanoDetDetector(device="cpu")
    with np.load(REFERENCE) as data:
        reference = dict(data)
    names = sorted({key.split("_")[0] for key in reference})
    for name in names:
        image = cv2.imdecode(reference[f"{name}_image_png"], cv2.IMREAD_COLOR)
        with torch.no_grad():
            scores, logits = detector.net(detector.normalize(bgr_to_tensor(image)))
        scores, logits = scores[0].numpy(), logits[0].numpy()
        anchors = reference[f"{name}_anchors"]
        best = np.abs(scores.max(axis=1) - reference[f"{name}_best"]).max()
        top = np.abs(scores[anchors] - reference[f"{name}_scores"]).max()
        boxes = np.abs(logits[anchors] - reference[f"{name}_boxes"]).max()
        print(f"{name:<10} best-score max |diff| {best:.2e}   top-300 scores {top:.2e}   "
              f"top-300 box logits {boxes:.2e}")


if __name__ == "__main__":
    main()
