"""Hide patches: a printed square that makes a detector miss the object wearing it.

The recipe of Thys, Van Ranst and Goedemé, "Fooling automated surveillance cameras:
adversarial patches to attack person detection" (CVPR-W 2019): paste the patch on every
object of the protected class in a batch of scenes, each copy randomly scaled, rotated,
shifted, brightened, contrast-changed and noised (expectation over transformation, so the
patch survives a camera), and minimise the detector's *maximum* protected-class score
over the anchors of each object (those whose cell centre lies inside its box), plus a
total-variation term that keeps the patch smooth enough to print. Adam on the patch
pixels, clamped to ``[0, 1]``. The loop is the one patch trainer
(:mod:`chickensaviour.attacks.patch`); ``HideSettings.simulation`` trains through the
print-and-camera simulation for a patch meant to be printed.

Scenes are letterboxed once to squares (:func:`scenes_from_frames`), so the loop runs
the network directly on a batch of equal-sized inputs; :func:`hide_rates` detects on the
same squares at the same size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from chickensaviour.attacks.patch.objectives import DetectorHide, max_class_score
from chickensaviour.attacks.patch.placement import PatchSize
from chickensaviour.attacks.patch.placement import paste as place_patch
from chickensaviour.attacks.patch.scenes import SceneBatch, SceneSet
from chickensaviour.attacks.patch.trainer import PatchTraining, total_variation, train_patch
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.imaging import bgr_to_tensor
from chickensaviour.models.nanodet.detector import letterbox, plan_letterbox
from chickensaviour.models.protocols import DifferentiableDetector
from chickensaviour.progress import ProgressFn, StopFn
from chickensaviour.transforms.print_camera import PrintCameraRanges

logger = logging.getLogger(__name__)

__all__ = ["HideReport", "HideSettings", "Scene", "hide_rates", "make_hide_patch",
           "max_class_score", "paste", "scenes_from_frames", "total_variation"]


@dataclass(frozen=True)
class Scene:
    """One image in detector-input space and the boxes of the objects to hide in it."""

    image: torch.Tensor  # (3, S, S) RGB in [0, 1], letterboxed
    boxes: torch.Tensor  # (K, 4) xyxy in the same pixels, K >= 1

    @classmethod
    def from_frame(cls, frame: torch.Tensor, boxes: torch.Tensor, size: int) -> Scene:
        """Letterbox a frame ``(1, 3, H, W)`` to ``size`` x ``size``, boxes with it."""
        plan = plan_letterbox(frame.shape[-1], frame.shape[-2], size, square=True)
        return cls(letterbox(frame, plan)[0], plan.to_input(boxes.to(frame.device,
                                                                      frame.dtype)))


@dataclass(frozen=True)
class HideSettings:
    """Optimisation and transformation settings of :func:`make_hide_patch`.

    ``scale`` is the patch side as a fraction of ``sqrt(box area)`` (about a torso on a
    standing person); the jitters are the ranges of the random transformations.
    """

    steps: int = 150
    batch: int = 4
    lr: float = 0.05
    scale: float = 0.45
    scale_jitter: float = 0.15
    rotation_degrees: float = 20.0
    shift: float = 0.08  # of the box size
    brightness: float = 0.1
    contrast: float = 0.15
    noise: float = 0.05
    tv_weight: float = 2.5
    printability: float = 0.0  # weight of the non-printability score
    simulation: PrintCameraRanges | None = None  # None: the jitters above, nothing printed
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 1:
            raise ChickenSaviourError("steps and batch must be >= 1")
        if not 0.01 <= self.scale <= 1.5:
            raise ChickenSaviourError(f"patch scale must be in 0.01..1.5, got {self.scale}")
        if not 0 <= self.scale_jitter < 1 or not 0 <= self.contrast < 1:
            raise ChickenSaviourError("scale and contrast jitters must be in [0, 1)")


def scenes_from_frames(detector: DifferentiableDetector, frames: Sequence[np.ndarray],
                       classes: Sequence[int], *, min_score: float = 0.4,
                       size: int | None = None) -> list[Scene]:
    """Letterbox BGR frames to ``size`` x ``size`` squares and find the objects to hide.

    The detector runs on the squares themselves, so the objects are the ones it finds at
    the size the patch is trained and measured at. Squares where it sees no object of
    ``classes`` above ``min_score`` are dropped: there is nothing to hide in them.
    """
    square = detector.at_size(size or detector.input_size)
    scenes = []
    for frame in frames:
        image = bgr_to_tensor(frame, device=detector.device)
        scene = Scene.from_frame(image, torch.zeros(0, 4), square.input_size)
        found = square.detect(scene.image.unsqueeze(0))
        keep = np.isin(found.class_id, list(classes)) & (found.confidence >= min_score)
        if keep.any():
            scenes.append(Scene(scene.image, torch.as_tensor(found.xyxy[keep],
                                                             device=detector.device)))
    return scenes


def hide_training(settings: HideSettings) -> PatchTraining:
    """:class:`HideSettings` as the patch trainer's settings (Adam, TV, EOT ranges)."""
    return PatchTraining(steps=settings.steps, batch=settings.batch, optimiser="adam",
                         lr=settings.lr, size=patch_size(settings), shift=settings.shift,
                         simulation=hide_simulation(settings), smoothness=settings.tv_weight,
                         printability=settings.printability, seed=settings.seed)


def patch_size(settings: HideSettings) -> PatchSize:
    return PatchSize(settings.scale, "sqrt-area")


def hide_simulation(settings: HideSettings) -> PrintCameraRanges:
    """The transformations the patch is trained through: ``settings.simulation`` when
    given (e.g. :meth:`PrintCameraRanges.full` for a printed patch), else the jitters.
    The camera's whole-view warp is left out: the loss reads the anchors inside the
    objects' boxes, which must stay where they are."""
    if settings.simulation is not None:
        return settings.simulation.fixed_view()
    jitter, turn = settings.scale_jitter, settings.rotation_degrees
    return replace(PrintCameraRanges.none(), scale=(1 - jitter, 1 + jitter),
                   rotation_degrees=(-turn, turn),
                   brightness=(-settings.brightness, settings.brightness),
                   contrast=(1 - settings.contrast, 1 + settings.contrast),
                   read_noise=(0.0, settings.noise))


def scene_set(scenes: Sequence[Scene]) -> SceneSet:
    """The letterboxed scenes as the trainer's scene source."""
    if not scenes:
        raise ChickenSaviourError("no scene shows an object to hide: nothing to train on")
    return SceneSet.from_images([s.image for s in scenes], [s.boxes for s in scenes])


def paste(images: torch.Tensor, patch: torch.Tensor, boxes: Sequence[torch.Tensor],
          settings: HideSettings) -> torch.Tensor:
    """``images`` ``(B, 3, H, W)`` with ``patch`` ``(3, s, s)`` or ``(1, 3, s, s)`` plainly
    at the centre of every box of each image, at ``settings.scale`` (the live app, the
    evaluation)."""
    if not any(len(b) for b in boxes):
        return images
    owners = torch.cat([torch.full((len(b),), i, dtype=torch.long) for i, b in enumerate(boxes)])
    batch = SceneBatch(images, torch.cat(list(boxes)).to(images.device, images.dtype),
                       owners.to(images.device),
                       torch.full((len(images),), -1, dtype=torch.long, device=images.device))
    return place_patch(batch, patch.view(1, 3, *patch.shape[-2:]).to(images.device),
                       patch_size(settings))


def make_hide_patch(detector: DifferentiableDetector, scenes: Sequence[Scene],
                    classes: Sequence[int], *, size: int = 64,
                    settings: HideSettings | None = None, start: torch.Tensor | None = None,
                    progress: ProgressFn | None = None,
                    should_stop: StopFn | None = None) -> torch.Tensor:
    """Optimise a ``(1, 3, size, size)`` patch that hides ``classes`` in ``scenes``.

    The patch trainer with the :class:`DetectorHide` objective. ``start`` (default: mid
    grey) is the initial patch. ``progress(step, steps, loss)`` is called after each
    step; ``should_stop()`` returning true cancels with :class:`OperationCancelled`.
    """
    settings = settings or HideSettings()
    source = scene_set(scenes)
    if not 8 <= size <= 512:
        raise ChickenSaviourError(f"patch size must be in 8..512, got {size}")
    if start is None:
        patch = torch.full((1, 3, size, size), 0.5)
    else:
        patch = F.interpolate(start.view(1, 3, *start.shape[-2:]).float(), size=(size, size),
                              mode="bilinear", align_corners=False)
    trained = train_patch(patch, source, DetectorHide(detector, classes),
                          hide_training(settings), progress=progress,
                          should_stop=should_stop,
                          what="hide patch training")
    logger.info("hide patch: %d steps, last batch max score %.3f", settings.steps,
                trained.losses[-1] if trained.losses else float("nan"))
    return trained.patch


@dataclass(frozen=True)
class HideReport:
    """How many objects the detector still finds, clean and with each patch pasted."""

    objects: int
    clean: int
    with_patch: int
    with_random_patch: int

    def rate(self, count: int) -> float:
        return count / self.objects if self.objects else 0.0


@torch.no_grad()
def hide_rates(detector: DifferentiableDetector, scenes: Sequence[Scene], patch: torch.Tensor,
               classes: Sequence[int], *, settings: HideSettings | None = None,
               threshold: float | None = None, seed: int = 1) -> HideReport:
    """Detection rates of the protected objects: clean, with ``patch``, with a random
    uniform-noise patch of the same size (IoU >= 0.5 and score >= ``threshold``), the
    patches placed plainly at each object's centre."""
    settings = settings or HideSettings()
    if not scenes:
        return HideReport(0, 0, 0, 0)
    judge = DetectorHide(detector, classes, threshold=threshold)
    random_patch = torch.rand(patch.shape[-3:], generator=torch.Generator().manual_seed(seed))
    counts = {"clean": 0, "patch": 0, "random": 0}
    objects = 0
    for batch in scene_set(scenes).batches(8):
        batch = batch.to(detector.device)
        objects += len(batch.boxes)
        for name, square in (("clean", None), ("patch", patch), ("random", random_patch)):
            views = batch.images if square is None else place_patch(
                batch, square.view(1, 3, *square.shape[-2:]).to(batch.images.device),
                patch_size(settings))
            counts[name] += int(judge.still_found(views, batch).sum())
    return HideReport(objects, counts["clean"], counts["patch"], counts["random"])
