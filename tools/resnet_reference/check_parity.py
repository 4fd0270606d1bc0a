"""How close the converted ResNet-50 is to the original TF.js model, and what it says.

Run from the repository root (after ``chickensaviour models --fetch resnet50``)::

    .venv/bin/python tools/resnet_reference/check_parity.py

For each photo of ``tests/models/data/resnet50_tfjs_reference.npz`` (the 224 crops TF.js
was run on): the largest difference of the 1000 probabilities and of the logits, and
the top-1 on the crop; then the top-1 of ``load_model("resnet50")`` on the full bundled
photo (its own antialiased resize and centre crop). ``test_keras_resnet.py`` asserts the
differences stay below 1e-5 and 1e-4.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from chickensaviour.assets import sample
from chickensaviour.imaging import read_image
from chickensaviour.models import load_model
from chickensaviour.models.keras_resnet import KerasResNet50, caffe_preprocess
from chickensaviour.models.sources.npm import RESNET50_KERAS

REFERENCE = (Path(__file__).resolve().parents[2] / "tests" / "models" / "data"
             / "resnet50_tfjs_reference.npz")
PHOTOS = ("chelsea", "coffee", "astronaut", "camera")


def main() -> None:
    reference = np.load(REFERENCE)
    net = KerasResNet50()
    net.load_state_dict(torch.load(RESNET50_KERAS.require(), weights_only=True))
    net.eval()
    model = load_model("resnet50", device="cpu")
    print(f"{'photo':<10} {'max |dp|':>9} {'max |dlogit|':>13}  crop top-1        "
          "load_model top-1")
    for name in PHOTOS:
        crop = torch.from_numpy(reference[f"{name}_crop"]).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            logits = net(caffe_preprocess(crop))[0]
        probabilities = logits.softmax(0).numpy()
        dp = np.abs(probabilities - reference[f"{name}_probs"]).max()
        dl = np.abs(logits.numpy() - reference[f"{name}_logits"]).max()
        whole = model.predict(read_image(sample(f"{name}.png")), 1)[0]
        print(f"{name:<10} {dp:>9.1e} {dl:>13.1e}  {int(probabilities.argmax()):>4} "
              f"p {probabilities.max():.3f}   {whole.names[0]} p {whole.probabilities[0]:.3f}")


if __name__ == "__main__":
    main()
