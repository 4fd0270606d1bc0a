"""Scenes for the adversarial-patch benchmark: the protected cat, seen by the hunter.

The hunter is MobileNetV2 (``load_model("mobilenet_v2")``, judged with ``fit="stretch"``:
a 224 x 224 scene goes in unchanged). Two splits of the same cat, ``chelsea``:

- ``"train"``: random square crops of the bundled photo ``chelsea.png`` (300 x 451, the
  cat fills it): side 55-100 % of the photo's height, anywhere in it, mirrored half of
  the time, resized to 224 with antialiasing.
- ``"held_out"``: every 3rd frame of the bundled clip ``chelsea_clip.mp4`` (a camera
  panning and zooming over the same photo printed on a desk: other views, a desk around
  it, H.264 artefacts); on each, the square around the cat box NanoDet finds (COCO
  "cat", best score) is cut out (shifted to stay inside the frame) and resized to 224.

Only scenes the hunter calls a domestic cat (top-1 in ImageNet 281-285) are kept: a
patch cannot be credited with turning a cat into a hog when the clean scene was not a
cat to begin with. Nothing is cached on disk; both splits take a few seconds on a CPU.

Example: ``scenes = cat_scenes("train"); scenes.images.shape == (64, 3, 224, 224)``
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from chickensaviour.assets import sample
from chickensaviour.coco import coco_index
from chickensaviour.imaging import bgr_to_tensor, read_image
from chickensaviour.labels import CAT_CLASS_INDICES
from chickensaviour.models import ImageClassifier, load_model
from chickensaviour.models.nanodet.detector import NanoDetDetector
from chickensaviour.video.sources import VideoFileSource

logger = logging.getLogger(__name__)

Split = Literal["train", "held_out"]
SPLITS: tuple[Split, ...] = ("train", "held_out")
SCENE_SIZE = 224  # MobileNetV2's input side
PHOTO = "chelsea.png"
CLIP = "chelsea_clip.mp4"
FRAME_STEP = 3  # held-out: every 3rd frame of the clip
TRAIN_SIDE_RANGE = (0.55, 1.0)  # train crop side, as a fraction of the photo's shorter side
DETECTOR_THRESHOLD = 0.3  # NanoDet finds the printed cat at 0.43-0.77 in the clip


@dataclass(frozen=True)
class ClassifierScenes:
    """Square scenes at the classifier's input size and the protected object's box in each.

    Attributes:
        images: ``(N, 3, S, S)`` float RGB in ``[0, 1]``.
        boxes: ``(N, 4)`` float ``x1, y1, x2, y2`` of the object, in the scene's pixels.
        clean_classes: ``(N,)`` the hunter's top-1 ImageNet class on each clean scene.
        dropped: scenes left out because the hunter did not call them a cat.
        missed: held-out frames left out because NanoDet found no cat in them (0 for train).
        source: where the scenes come from, for reports.
    """

    images: torch.Tensor
    boxes: torch.Tensor
    clean_classes: torch.Tensor
    dropped: int
    missed: int
    source: str

    def __post_init__(self) -> None:
        n = self.images.shape[0] if self.images.ndim == 4 else -1
        if self.images.ndim != 4 or self.images.shape[1] != 3 or n == 0:
            raise ValueError(f"images must be (N, 3, H, W) with N >= 1, "
                             f"got {tuple(self.images.shape)}")
        if tuple(self.boxes.shape) != (n, 4) or tuple(self.clean_classes.shape) != (n,):
            raise ValueError(f"boxes must be ({n}, 4) and clean_classes ({n},), got "
                             f"{tuple(self.boxes.shape)} and {tuple(self.clean_classes.shape)}")
        if self.dropped < 0 or self.missed < 0:
            raise ValueError("dropped and missed must be >= 0")

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _square_around(box: np.ndarray, width: int, height: int) -> tuple[int, int, int]:
    """``(left, top, side)`` of the square on ``box``'s centre with side its longer edge,
    shrunk to fit the frame and shifted into it."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = min(round(max(x2 - x1, y2 - y1)), width, height)
    left = int(np.clip(round((x1 + x2 - side) / 2), 0, width - side))
    top = int(np.clip(round((y1 + y2 - side) / 2), 0, height - side))
    return left, top, side


def _cut(image: torch.Tensor, box: np.ndarray, left: int, top: int, side: int,
         flip: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The square ``(left, top, side)`` of ``image (1, 3, H, W)`` at :data:`SCENE_SIZE` and
    ``box`` clipped to it, both in scene pixels (mirrored when ``flip``)."""
    crop = image[:, :, top : top + side, left : left + side]
    crop = F.interpolate(crop, size=(SCENE_SIZE, SCENE_SIZE), mode="bilinear",
                         align_corners=False, antialias=True).clamp_(0.0, 1.0)
    scale = SCENE_SIZE / side
    x1, x2 = (np.clip(box[[0, 2]] - left, 0, side) * scale).tolist()
    y1, y2 = (np.clip(box[[1, 3]] - top, 0, side) * scale).tolist()
    if flip:
        crop = crop.flip(-1)
        x1, x2 = SCENE_SIZE - x2, SCENE_SIZE - x1
    return crop[0], torch.tensor([x1, y1, x2, y2], dtype=torch.float32)


def _best_cat(detector: NanoDetDetector, frame: torch.Tensor) -> np.ndarray | None:
    found = detector.detect(frame)
    if len(found) == 0:
        return None
    return found.xyxy[int(np.argmax(found.confidence))]


def _train_crops(detector: NanoDetDetector, count: int, seed: int
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    photo = read_image(sample(PHOTO))
    height, width = photo.shape[-2:]
    box = _best_cat(detector, photo)
    if box is None:  # never with the bundled photo; a clear message if it is replaced
        raise RuntimeError(f"NanoDet finds no cat in {PHOTO}")
    rng = np.random.default_rng(seed)
    shorter = min(height, width)
    for _ in range(count):
        side = round(float(rng.uniform(*TRAIN_SIDE_RANGE)) * shorter)
        left = int(rng.integers(0, width - side + 1))
        top = int(rng.integers(0, height - side + 1))
        yield _cut(photo, box, left, top, side, flip=bool(rng.random() < 0.5))


def _held_out_crops(detector: NanoDetDetector) -> tuple[list[tuple[torch.Tensor, torch.Tensor]],
                                                         int]:
    crops: list[tuple[torch.Tensor, torch.Tensor]] = []
    missed = 0
    source = VideoFileSource(sample(CLIP))
    try:
        index = 0
        while (frame := source.read()) is not None:
            if index % FRAME_STEP == 0:
                image = bgr_to_tensor(frame)
                box = _best_cat(detector, image)
                if box is None:
                    missed += 1
                else:
                    left, top, side = _square_around(box, frame.shape[1], frame.shape[0])
                    crops.append(_cut(image, box, left, top, side))
            index += 1
    finally:
        source.close()
    return crops, missed


def cat_scenes(split: Split, *, model: ImageClassifier | None = None,
               detector: NanoDetDetector | None = None, count: int = 64,
               seed: int = 0) -> ClassifierScenes:
    """The protected cat's scenes of ``split`` (``"train"`` or ``"held_out"``), on CPU.

    Args:
        split: ``"train"`` (``count`` random crops of the photo, drawn with ``seed``) or
            ``"held_out"`` (every 3rd frame of the clip, cropped on NanoDet's cat box).
        model: the hunter that filters the scenes (default ``load_model("mobilenet_v2")``);
            it judges the 224 x 224 scenes as they are (``fit="stretch"``).
        detector: finds the cat (default NanoDet restricted to COCO "cat").
        count: crops drawn for ``"train"`` before the filter; ignored for ``"held_out"``.

    Shape:
        - images: ``(N, 3, 224, 224)`` float RGB in ``[0, 1]``; boxes ``(N, 4)`` xyxy.

    Raises ``ValueError`` for an unknown split or a ``count`` below 1.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    hunter = (model if model is not None else load_model("mobilenet_v2")).with_fit("stretch")
    finder = detector if detector is not None else NanoDetDetector(
        [coco_index("cat")], score_threshold=DETECTOR_THRESHOLD, device="cpu")
    if split == "train":
        crops, missed, source = list(_train_crops(finder, count, seed)), 0, PHOTO
    else:
        crops, missed = _held_out_crops(finder)
        source = f"{CLIP} (frames 0, {FRAME_STEP}, {2 * FRAME_STEP}, ...)"
    if not crops:
        raise RuntimeError(f"no {split} scenes: NanoDet found no cat in {source}")
    images = torch.stack([image for image, _ in crops])
    boxes = torch.stack([box for _, box in crops])
    top1 = torch.cat([hunter.probabilities(chunk).argmax(dim=1).cpu()
                      for chunk in images.split(32)])
    keep = torch.isin(top1, torch.tensor(CAT_CLASS_INDICES))
    dropped = int((~keep).sum())
    if not keep.any():
        raise RuntimeError(f"{hunter.name} calls none of the {len(crops)} {split} scenes a cat")
    logger.info("%s: %d scenes from %s, %d dropped (not a cat to %s), %d frames without a "
                "detected cat", split, int(keep.sum()), source, dropped, hunter.name, missed)
    return ClassifierScenes(images[keep].contiguous(), boxes[keep].contiguous(), top1[keep],
                            dropped, missed, source)
