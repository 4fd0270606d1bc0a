"""``FramePipeline``: one frame in, before/after frames and per-track predictions out.

Pure and synchronous (no threads, no windows): the live app calls :meth:`process` from
its inference thread, ``render`` from a loop, tests directly. Settings arrive as an
immutable :class:`PipelineSettings` snapshot with every frame, so a slider change takes
effect on the next frame without shared mutable state.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch

from chickensaviour.attacks import FGSM, PGD, targeted
from chickensaviour.attacks.hide import HideSettings, Scene, make_hide_patch, paste
from chickensaviour.coco import coco_for_imagenet
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.hunt.detections import Detections
from chickensaviour.hunt.localiser import CamLocaliser, Detector
from chickensaviour.hunt.nanodet import NanoDetDetector
from chickensaviour.hunt.tracker import BoxTracker
from chickensaviour.imaging import bgr_to_tensor, quantize, tensor_to_bgr
from chickensaviour.overlay.blocks import (
    BlockCache,
    Box,
    Context,
    RefineSettings,
    refine_in_context,
    seed_block,
    square_crop,
)
from chickensaviour.overlay.compositor import PatchCompositor, placement_in_box
from chickensaviour.zoo.nanodet import NanoDet, load_nanodet
from chickensaviour.zoo.wrapper import ImageClassifier, Prediction, top_k

logger = logging.getLogger(__name__)

Mode = Literal["block", "ghost", "hide", "off"]
MODES: tuple[Mode, ...] = ("block", "ghost", "hide", "off")
DetectorName = Literal["nanodet", "cam"]
DETECTORS: tuple[DetectorName, ...] = ("nanodet", "cam")
HEN, COCK, HOG = 8, 7, 341


@dataclass(frozen=True)
class PipelineSettings:
    """Everything the user can change, as one immutable snapshot.

    Attributes:
        protected: ImageNet classes the hunter must not see (default: hen, cock).
        target: the decoy class blocks and ghosts push towards (default: hog).
        mode: "block" (adversarial block pasted on each region), "ghost" (targeted FGSM
            on the region every frame), "hide" (a patch trained to make the NanoDet
            detector miss the region's COCO class) or "off".
        detector: what finds the regions: "nanodet" (COCO detector; the protected
            ImageNet classes are looked for as their COCO classes - hen and cock as
            bird) or "cam" (the hunter's own class activation maps).
        eps: ghost-mode budget in ``[0, 1]`` (the slider shows 1/255 units).
        ghost_steps: 1 = FGSM as in the seed; more = iterative FGSM.
        patch_fraction: block side as a fraction of the region's shorter side.
        alpha: block opacity.
        block_size: side of the block image in pixels, before scaling.
        detect_every: run the localiser every N frames, track in between.
        manual_boxes: regions drawn by hand (frame pixels), protected as they are.
    """

    protected: tuple[int, ...] = (HEN, COCK)
    target: int = HOG
    mode: Mode = "block"
    detector: DetectorName = "nanodet"
    eps: float = 8 / 255
    ghost_steps: int = 1
    patch_fraction: float = 0.5
    alpha: float = 1.0
    block_size: int = 64
    detect_every: int = 3
    manual_boxes: tuple[Box, ...] = ()

    def __post_init__(self) -> None:
        if not self.protected:
            raise ChickenSaviourError("choose at least one protected class")
        if self.mode not in MODES:
            raise ChickenSaviourError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.detector not in DETECTORS:
            raise ChickenSaviourError(
                f"detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        if self.mode == "hide" and self.detector != "nanodet":
            raise ChickenSaviourError("hide mode fools the NanoDet detector: use detector "
                                      "nanodet with it")
        if not 0.0 <= self.eps <= 1.0:
            raise ChickenSaviourError(f"eps must be in [0, 1], got {self.eps}")
        if not 0.0 < self.patch_fraction <= 1.0:
            raise ChickenSaviourError(
                f"patch fraction must be in (0, 1], got {self.patch_fraction}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ChickenSaviourError(f"alpha must be in [0, 1], got {self.alpha}")
        if not 8 <= self.block_size <= 512:
            raise ChickenSaviourError(f"block size must be in 8..512, got {self.block_size}")
        if self.detect_every < 1 or self.ghost_steps < 1:
            raise ChickenSaviourError("detect_every and ghost_steps must be >= 1")

    def with_changes(self, **changes: object) -> PipelineSettings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def coco_classes(self) -> tuple[int, ...]:
        """The COCO classes the detector looks for (hen, cock -> bird)."""
        return coco_for_imagenet(self.protected)


@dataclass(frozen=True)
class TrackResult:
    """One protected region: its box and the hunter's top-5 before and after."""

    track_id: int  # negative for hand-drawn regions
    box: Box
    before: Prediction
    after: Prediction


@dataclass(frozen=True)
class StageTimings:
    """Seconds spent in each stage of one frame."""

    localise: float = 0.0
    track: float = 0.0
    patch: float = 0.0
    classify: float = 0.0

    @property
    def total(self) -> float:
        return self.localise + self.track + self.patch + self.classify


@dataclass(frozen=True)
class FrameResult:
    """The output of :meth:`FramePipeline.process` for one frame."""

    index: int
    before: np.ndarray  # BGR uint8, the frame as captured
    after: np.ndarray  # BGR uint8, with blocks or ghosts applied
    tracks: tuple[TrackResult, ...]
    settings: PipelineSettings
    timings: StageTimings = field(default_factory=StageTimings)
    block_refined: bool = False
    # Hide mode: what the detector finds (protected classes only) on the frame as captured
    # (its latest run) and on the "after" frame.
    before_detections: Detections | None = None
    after_detections: Detections | None = None

    def __post_init__(self) -> None:
        if self.before.shape != self.after.shape:
            raise ValueError("before and after frames must have the same shape")


DetectorFactory = Callable[[ImageClassifier, tuple[int, ...]], Detector]


def no_coco_class_error(protected: tuple[int, ...], classes: tuple[str, ...]) -> str:
    names = ", ".join(classes[i] for i in protected)
    return (f"no COCO class of the NanoDet detector covers {names}; use the cam detector "
            "(--detector cam) or protect e.g. person, bird, cat, dog")


class FramePipeline:
    """Localise -> track -> patch -> classify, one frame at a time.

    Args:
        model: the hunter (an :class:`ImageClassifier`).
        detector_factory: builds the localiser for a set of protected classes, whatever
            ``settings.detector`` says (tests); default: NanoDet or class activation
            maps, as the settings choose.
        refine: settings of the in-context block refinement.
        hide: settings of the hide-patch training (hide mode).
        nanodet: the NanoDet network, if already loaded (else loaded on first use).
    """

    def __init__(self, model: ImageClassifier, *,
                 detector_factory: DetectorFactory | None = None,
                 refine: RefineSettings | None = None, hide: HideSettings | None = None,
                 nanodet: NanoDet | None = None, top: int = 5) -> None:
        self.model = model
        self.judge = model.with_fit("stretch")
        self.detector_factory = detector_factory
        self.refine_settings = refine or RefineSettings()
        self.hide_settings = hide or HideSettings(steps=60)
        self.hide_patches: dict[tuple[tuple[int, ...], int], tuple[torch.Tensor, bool]] = {}
        self._nanodet = nanodet
        self.top = top
        self.tracker = BoxTracker()
        self.blocks = BlockCache()
        self.compositor = PatchCompositor()
        self.recent_contexts: deque[Context] = deque(maxlen=16)
        self._detector: Detector | None = None
        self._detector_key: tuple[str, tuple[int, ...]] | None = None
        self._last_detections = Detections.empty()
        self._index = 0

    # -- blocks -----------------------------------------------------------------------
    def block_for(self, settings: PipelineSettings) -> tuple[torch.Tensor, bool]:
        """The best block available now (refined if it exists) and whether it is refined."""
        key = (self.model.name, settings.target, settings.block_size)
        refined = self.blocks.get(*key, refined=True)
        if refined is not None:
            return refined, True
        block = self.blocks.get(*key, refined=False)
        if block is None:
            block = seed_block(self.model, settings.target, settings.block_size)
            self.blocks.put(*key, refined=False, block=block)
        return block, False

    def refine_block(self, settings: PipelineSettings, contexts: list[Context] | None = None,
                     *, progress: Callable[[int, int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> torch.Tensor:
        """Refine the block for ``settings`` on ``contexts`` (default: recent frames).

        In hide mode this trains the hide patch instead (:meth:`train_hide_patch`).
        Safe to call from another thread than :meth:`process`: the finished block is put
        in the cache in one assignment, and frames use it from then on. ``progress`` and
        ``should_stop`` are passed to :func:`refine_in_context`.
        """
        # deque.copy() is atomic, so the inference thread may keep appending meanwhile.
        contexts = list(self.recent_contexts.copy()) if contexts is None else contexts
        if not contexts:
            raise ChickenSaviourError("no protected region seen yet to refine the block on")
        if settings.mode == "hide":
            return self.train_hide_patch(settings, contexts, progress=progress,
                                         should_stop=should_stop)
        block, _ = self.block_for(settings)
        refined = refine_in_context(self.model, block, settings.target, contexts,
                                    self.refine_settings, progress=progress,
                                    should_stop=should_stop)
        self.blocks.put(self.model.name, settings.target, settings.block_size, refined=True,
                        block=refined)
        return refined

    # -- hide patches -----------------------------------------------------------------
    def hide_patch_for(self, settings: PipelineSettings) -> tuple[torch.Tensor, bool]:
        """The hide patch for the settings' COCO classes and whether it was trained.

        Before training it is a mid-grey square: it shows where the patch goes and, as
        the measured baseline, hides nothing.
        """
        key = (self._coco_classes(settings), settings.block_size)
        found = self.hide_patches.get(key)
        if found is None:
            grey = torch.full((1, 3, settings.block_size, settings.block_size), 0.5,
                              device=self.model.device)
            found = (grey, False)
            self.hide_patches[key] = found
        return found

    def train_hide_patch(self, settings: PipelineSettings, contexts: list[Context], *,
                         progress: Callable[[int, int], None] | None = None,
                         should_stop: Callable[[], bool] | None = None) -> torch.Tensor:
        """Train the hide patch on the regions of ``contexts`` (frames and boxes)."""
        classes = self._coco_classes(settings)
        detector = self._nanodet_detector(classes)
        by_frame: dict[int, tuple[torch.Tensor, list[Box]]] = {}
        for context in contexts:  # one scene per frame, with every region of that frame
            by_frame.setdefault(id(context.frame), (context.frame, []))[1].append(context.box)
        # Squares at the detector's input size: the objects train at the scale they are
        # detected at live (a 4:3 frame's letterbox has the same scale).
        scenes = [Scene.from_frame(frame.to(detector.device), torch.tensor(boxes),
                                   detector.input_size)
                  for frame, boxes in by_frame.values()]
        start, _ = self.hide_patch_for(settings)
        patch = make_hide_patch(
            detector, scenes, classes, size=settings.block_size,
            settings=self._hide_settings(settings),
            start=start[0],
            progress=None if progress is None else (lambda done, total, _: progress(done, total)),
            should_stop=should_stop)
        self.hide_patches[(classes, settings.block_size)] = (patch, True)
        return patch

    def _hide_settings(self, settings: PipelineSettings) -> HideSettings:
        # The patch-size slider sets the hide patch's side too (x sqrt(box area)).
        return replace(self.hide_settings, scale=settings.patch_fraction)

    def set_hide_patch(self, settings: PipelineSettings, patch: torch.Tensor) -> None:
        """Use a hide patch made elsewhere (``chickensaviour patch --against nanodet``)."""
        if patch.dim() != 4 or patch.shape[:2] != (1, 3):
            raise ChickenSaviourError(
                f"a hide patch must be (1, 3, s, s), got {tuple(patch.shape)}")
        self.hide_patches[(self._coco_classes(settings), settings.block_size)] = (
            patch.to(self.model.device), True)

    # -- frames -----------------------------------------------------------------------
    def process(self, frame: np.ndarray, settings: PipelineSettings, *,
                advance: bool = True) -> FrameResult:
        """Run every stage on one BGR ``uint8`` frame.

        ``advance=False`` re-applies ``settings`` to a frame already processed (a paused
        view whose slider moved): the tracks stay where they are and no detector runs.
        """
        self._check_classes(settings)
        image = bgr_to_tensor(frame, device=self.model.device)
        height, width = image.shape[-2:]

        started = time.perf_counter()
        detections: Detections | None = None
        # Hide mode detects on every frame: the before and after verdicts shown side by
        # side must be of the same moment.
        every = 1 if settings.mode == "hide" else settings.detect_every
        if advance and self._index % every == 0:
            detections = self._detector_for(settings).detect(image)
            self._last_detections = detections
        localised = time.perf_counter()
        tracks = self.tracker.update(detections) if advance else self.tracker.current()
        tracked = tracks.clipped(width, height)
        regions: list[tuple[int, Box]] = [
            (int(tid), tuple(float(v) for v in box))  # type: ignore[misc]
            for tid, box in zip(tracked.tracker_id, tracked.xyxy, strict=True)
            if box[2] - box[0] >= 4 and box[3] - box[1] >= 4
        ]
        regions += [(-(i + 1), _clip_box(b, width, height))
                    for i, b in enumerate(settings.manual_boxes)]
        if detections is not None and len(detections):
            for box in detections.clipped(width, height).xyxy:
                self.recent_contexts.append(Context(image, tuple(float(v) for v in box)))
        track_time = time.perf_counter()

        after, refined = self._apply_mode(image, regions, settings)
        # Judge the 8-bit frame that is shown and saved, not the unrounded tensor.
        after = quantize(after)
        before_detections = after_detections = None
        if settings.mode == "hide" and regions:
            before_detections = self._last_detections
            after_detections = self._detector_for(settings).detect(after)
        patched = time.perf_counter()
        results = self._classify(image, after, regions)
        classified = time.perf_counter()

        timings = StageTimings(localised - started, track_time - localised,
                               patched - track_time, classified - patched)
        index = self._index if advance else max(0, self._index - 1)
        result = FrameResult(index, frame, tensor_to_bgr(after) if regions else frame.copy(),
                             results, settings, timings, refined, before_detections,
                             after_detections)
        if advance:
            self._index += 1
        return result

    def reset(self) -> None:
        """Forget tracks (e.g. when the source changes); blocks stay cached."""
        self.tracker.reset()
        self.recent_contexts.clear()
        self._last_detections = Detections.empty()
        self._index = 0

    def _check_classes(self, settings: PipelineSettings) -> None:
        count = len(self.model.classes)
        if not 0 <= settings.target < count:
            raise ChickenSaviourError(f"decoy class {settings.target} is not one of the "
                                      f"model's {count} classes")
        for index in settings.protected:
            if not 0 <= index < count:
                raise ChickenSaviourError(f"protected class {index} is not one of the "
                                          f"model's {count} classes")

    def _detector_for(self, settings: PipelineSettings) -> Detector:
        key = (settings.detector, settings.protected)
        if self._detector is None or self._detector_key != key:
            if self.detector_factory is not None:
                self._detector = self.detector_factory(self.model, settings.protected)
            elif settings.detector == "cam":
                self._detector = CamLocaliser(self.model, settings.protected)
            else:
                self._detector = self._nanodet_detector(self._coco_classes(settings))
            self._detector_key = key
            self.tracker.reset()
        return self._detector

    def _coco_classes(self, settings: PipelineSettings) -> tuple[int, ...]:
        classes = settings.coco_classes
        if not classes:
            raise ChickenSaviourError(no_coco_class_error(settings.protected,
                                                          self.model.classes.names))
        return classes

    def _nanodet_detector(self, classes: tuple[int, ...]) -> NanoDetDetector:
        if self._nanodet is None:
            self._nanodet = load_nanodet(self.model.device)
        return NanoDetDetector(classes, device=self.model.device, net=self._nanodet,
                               score_threshold=0.3)

    def _apply_mode(self, image: torch.Tensor, regions: list[tuple[int, Box]],
                    settings: PipelineSettings) -> tuple[torch.Tensor, bool]:
        if not regions or settings.mode == "off":
            return image, False
        height, width = image.shape[-2:]
        if settings.mode == "hide":
            patch, refined = self.hide_patch_for(settings)
            boxes = torch.tensor([box for _, box in regions], device=image.device)
            return paste(image, patch[0], [boxes], self._hide_settings(settings)), refined
        if settings.mode == "block":
            block, refined = self.block_for(settings)
            compositor = PatchCompositor(alpha=settings.alpha)
            after = image
            for _, box in regions:
                place = placement_in_box(box, settings.patch_fraction, width, height)
                if place is not None:
                    after = compositor(after, block, [place])
            return after, refined
        return self._ghost(image, regions, settings), False

    def _ghost(self, image: torch.Tensor, regions: list[tuple[int, Box]],
               settings: PipelineSettings) -> torch.Tensor:
        if settings.eps == 0:
            return image
        # quantize=True: the frame is shown and saved in 8 bits, so the perturbation is
        # snapped to the 8-bit grid inside the budget rather than rounded past it.
        if settings.ghost_steps == 1:
            attack: FGSM | PGD = FGSM(eps=settings.eps, quantize=True)
        else:
            attack = PGD(eps=settings.eps, steps=settings.ghost_steps, random_start=False,
                         step_size=settings.eps / max(1, settings.ghost_steps // 2),
                         quantize=True)
        after = image.clone()
        for _, box in regions:
            crop, (left, top) = square_crop(image, box)
            if crop.shape[-1] < 4:
                continue
            adversarial = attack(self.judge, crop, targeted(settings.target, 1, image.device))
            # The hunter judges the square around the region, but only the region itself
            # is changed: no noise spills onto the background above or below it.
            x1, y1, x2, y2 = (round(v) for v in box)
            x1, y1 = max(x1, left), max(y1, top)
            x2 = min(x2, left + crop.shape[-1])
            y2 = min(y2, top + crop.shape[-2])
            after[:, :, y1:y2, x1:x2] = adversarial[:, :, y1 - top : y2 - top,
                                                    x1 - left : x2 - left]
        return after

    @torch.no_grad()
    def _classify(self, before: torch.Tensor, after: torch.Tensor,
                  regions: list[tuple[int, Box]]) -> tuple[TrackResult, ...]:
        if not regions:
            return ()
        crops = [self.judge.to_input_size(square_crop(source, box)[0])
                 for source in (before, after) for _, box in regions]
        probabilities = self.judge.probabilities(torch.cat(crops))
        predictions = top_k(probabilities, self.top, self.model.classes)
        n = len(regions)
        return tuple(
            TrackResult(track_id, box, predictions[i], predictions[n + i])
            for i, (track_id, box) in enumerate(regions)
        )


def _clip_box(box: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = box
    x1, x2 = sorted((min(max(x1, 0.0), width), min(max(x2, 0.0), width)))
    y1, y2 = sorted((min(max(y1, 0.0), height), min(max(y2, 0.0), height)))
    return (x1, y1, x2, y2)
