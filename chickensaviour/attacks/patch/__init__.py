"""Adversarial patches: the seed's block and the one patch trainer.

- :mod:`.seed`: a block grown from a black, grey or noise image, judged alone (the
  deep-chicken-saviour recipe: negative-epsilon FGSM with the best epsilon of a sweep).
- :mod:`.scenes`: where patches are trained and judged (photos, video frames, the live
  regions): images with the boxes a patch goes on.
- :mod:`.placement`: pasting a patch on boxes, plainly or through the print-and-camera
  simulation (:mod:`chickensaviour.transforms`).
- :mod:`.objectives`: what a patch is for (a classifier's decoy, targeted or not; hiding
  objects from a detector).
- :mod:`.trainer`: :func:`train_patch`, expectation over transformation on any scene
  source and objective (Brown et al. 2017; Athalye et al. 2018; Eykholt et al. 2018).
- :mod:`.evaluate`: success rates under a simulation beside grey and noise patches.
"""

from __future__ import annotations

from chickensaviour.attacks.patch.seed import (
    PATCH_STEPS,
    Method,
    PatchResult,
    Start,
    make_patch,
    start_image,
)

__all__ = ["PATCH_STEPS", "Method", "PatchResult", "Start", "make_patch", "start_image"]
