"""``FramePipeline``: one frame in, before/after frames and per-track predictions out.

Pure and synchronous (no threads, no windows): the live app calls :meth:`process` from
its inference thread, ``render`` from a loop, tests directly. Settings arrive as an
immutable :class:`PipelineSettings` snapshot with every frame, so a slider change takes
effect on the next frame without shared mutable state.

Owner: one thread at a time (the inference thread in the app). The tracker, the recent
regions, the modes and the detector belong to it. What crosses threads: the
:class:`PatchStore` (a locked hand-off that jobs put finished patches into) and the
regions snapshot in every :class:`FrameResult` (immutable; jobs train on it).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.imaging import bgr_to_tensor, quantize, tensor_to_bgr
from chickensaviour.live.modes import LiveTools, Mode, ModeInput, create_mode
from chickensaviour.live.modes.base import ModeOutput
from chickensaviour.live.patches import PatchStore
from chickensaviour.live.results import FrameResult, StageTimings, Tally, TrackResult
from chickensaviour.live.settings import Box, PipelineSettings
from chickensaviour.live.tracking import BoxTracker
from chickensaviour.models.detections import Detections
from chickensaviour.models.localiser import CamLocaliser
from chickensaviour.models.nanodet.detector import NanoDetDetector
from chickensaviour.models.nanodet.net import NanoDet
from chickensaviour.models.protocols import Detector
from chickensaviour.models.wrapper import ImageClassifier, Prediction, top_k
from chickensaviour.overlay.blocks import Context, square_crop
from chickensaviour.progress import ProgressFn, StopFn

logger = logging.getLogger(__name__)

DetectorFactory = Callable[[ImageClassifier, tuple[int, ...]], Detector]
#: Regions (frame and box) kept for refinement jobs.
RECENT_REGIONS = 16


class FramePipeline:
    """Localise -> track -> apply the mode -> classify, one frame at a time.

    Args:
        model: the hunter (an :class:`ImageClassifier`).
        store: where blocks and hide patches are found and put (default: a new store
            with the user's disk cache); share one between pipelines to keep patches
            across source and model switches.
        detector_factory: builds the localiser for a set of protected classes, whatever
            ``settings.detector`` says (tests); default: NanoDet or class activation
            maps, as the settings choose.
        nanodet: the NanoDet network, if already loaded (else loaded on first use).
        modes: mode objects to use instead of the registry's (tests, custom settings).
        engine: what runs the forward-only stages: "auto" (ONNX Runtime where the model
            exports, else PyTorch), "onnxruntime" or "torch" (see :class:`LiveTools`).
        engine_threads: intra-op threads of each ONNX Runtime session (default 1).
    """

    def __init__(self, model: ImageClassifier, *, store: PatchStore | None = None,
                 detector_factory: DetectorFactory | None = None,
                 nanodet: NanoDet | None = None, modes: dict[str, Mode] | None = None,
                 top: int = 5, engine: str = "auto",
                 engine_threads: int | None = None) -> None:
        self.model = model
        self.tools = LiveTools(model, store if store is not None else PatchStore(),
                               nanodet=nanodet, engine=engine, engine_threads=engine_threads)
        self.detector_factory = detector_factory
        self.top = top
        self.tracker = BoxTracker()
        self._modes: dict[str, Mode] = dict(modes or {})
        self._recent: deque[Context] = deque(maxlen=RECENT_REGIONS)
        self._detector: Detector | None = None
        self._detector_key: tuple[str, tuple[int, ...]] | None = None
        self._last_detections = Detections.empty()
        self._hunter_saw = Tally()
        self._index = 0

    @property
    def store(self) -> PatchStore:
        return self.tools.store

    @property
    def frame_index(self) -> int:
        """The index the next frame processed with ``advance=True`` gets."""
        return self._index

    def mode(self, name: str) -> Mode:
        """This pipeline's object for the mode ``name`` (made on first use)."""
        if name not in self._modes:
            self._modes[name] = create_mode(name)
        return self._modes[name]

    @property
    def recent_regions(self) -> tuple[Context, ...]:
        """The recent regions as an immutable snapshot (what refinement trains on)."""
        return tuple(self._recent)

    def refine(self, settings: PipelineSettings, regions: tuple[Context, ...] | None = None,
               *, progress: ProgressFn | None = None,
               should_stop: StopFn | None = None) -> torch.Tensor:
        """Refine the patch of ``settings.mode`` on ``regions`` (default: recent ones).

        Synchronous, for scripts and ``render``; the app runs the same through
        :class:`~chickensaviour.live.jobs.RefineJob` on its own thread.
        """
        regions = self.recent_regions if regions is None else regions
        if not regions:
            raise ChickenSaviourError("no protected region seen yet to refine on")
        return self.mode(settings.mode).refine(regions, settings, self.tools,
                                               progress=progress, should_stop=should_stop)

    def use_patch(self, settings: PipelineSettings, image: torch.Tensor, *,
                  origin: str = "file") -> None:
        """Use ``image`` ``(1, 3, S, S)`` as the ready patch of ``settings.mode`` (a hide
        patch made by ``chickensaviour patch --against nanodet``, a block from a file)."""
        key = self.mode(settings.mode).patch_key(settings, self.model.identity)
        if key is None:
            raise ChickenSaviourError(f"{settings.mode} mode uses no patch")
        self.store.put(key, image.to(self.model.device), ready=True, origin=origin, save=False)

    # -- frames -----------------------------------------------------------------------
    def process(self, frame: np.ndarray, settings: PipelineSettings, *,
                advance: bool = True, should_stop: StopFn | None = None) -> FrameResult:
        """Run every stage on one BGR ``uint8`` frame: :meth:`prepare`, then :meth:`judge`.

        ``advance=False`` re-applies ``settings`` to a frame already processed (a paused
        view whose slider moved): the tracks stay where they are and no detector runs.
        ``should_stop`` lets a long mode (iterative ghosts, the first block) end early
        with :class:`~chickensaviour.errors.OperationCancelled`.
        """
        return self.judge(self.prepare(frame, settings, advance=advance,
                                       should_stop=should_stop))

    def prepare(self, frame: np.ndarray, settings: PipelineSettings, *,
                advance: bool = True, should_stop: StopFn | None = None,
                found: FoundRegions | None = None, detect: bool = True) -> PreparedFrame:
        """The first stage: localise, track and apply the mode (see :meth:`process`).

        Uses the tracker, the recent regions, the detector and the modes: call it from
        the pipeline's owner thread only. :meth:`judge` of the previous frame may run on
        another thread meanwhile (the app overlaps the two).

        ``detect=False`` leaves detection to the caller, who runs the detector of
        :meth:`detector_for_another_thread` on another thread and passes what it
        ``found`` when it is ready: on this frame (a mode that detects every frame), or
        on an earlier one (the tracker takes those boxes on this frame and carries the
        tracks forward on the others). Regions found by another detector than this
        pipeline's current one are ignored (a mode that needs them detects itself).
        """
        self._check_classes(settings)
        mode = self.mode(settings.mode)
        started = time.perf_counter()
        image = bgr_to_tensor(frame, device=self.model.device)
        height, width = image.shape[-2:]

        detections: Detections | None = None
        every = 1 if mode.detect_every_frame else settings.detect_every
        # A paused frame seen again keeps its tracks: the detector is not even looked up
        # (a new one, for other classes, would reset the tracker).
        detector = self._detector_for(settings) if advance else self._detector
        found_on = image
        if advance and found is not None and found.detector is detector:
            detections, found_on = found.detections, found.image
            self._last_detections = detections
        elif advance and (detect or mode.detect_every_frame) and self._index % every == 0:
            detections = detector.detect(image)
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
                self._recent.append(Context(found_on, tuple(float(v) for v in box)))
        track_time = time.perf_counter()

        output = mode.apply(ModeInput(image, tuple(regions), settings, should_stop, advance),
                            self.tools)
        # Judge the 8-bit frame that is shown and saved, not the unrounded tensor.
        after = quantize(output.after)
        index = self._index if advance else max(0, self._index - 1)
        if advance:
            self._index += 1
        engines = {"localise": _engine_name(detector, self.tools)}
        if output.engine:
            engines["patch"] = output.engine
        engines = {stage: name for stage, name in engines.items() if name}
        # The judge's inputs are made here, so that the two stages take about as long.
        crops = self._crops(image, after, regions, output)
        after_bgr = frame.copy() if output.unchanged or not regions else tensor_to_bgr(after)
        patched = time.perf_counter()
        return PreparedFrame(
            index=index, frame=frame, after=after_bgr, crops=crops, regions=tuple(regions),
            settings=settings, output=output, advance=advance,
            before_detections=self._last_detections if output.after_detections is not None
            else None,
            recent=self.recent_regions,
            timings=StageTimings(localised - started, track_time - localised,
                                 patched - track_time),
            engines=tuple(sorted(engines.items())))

    def judge(self, prepared: PreparedFrame) -> FrameResult:
        """The second stage: the hunter's top-k before and after for every region, and the
        :class:`FrameResult`. Touches only the forward-only engine (thread-safe) and the
        "hunter saw" tally, which belongs to whichever thread runs this stage (one at a
        time, in frame order)."""
        started = time.perf_counter()
        output, settings = prepared.output, prepared.settings
        results, whole_frame = self._classify(prepared.crops, prepared.regions, output)
        if prepared.advance and results:
            protected = set(settings.protected)
            self._hunter_saw = self._hunter_saw.add(
                any(r.before.top1[0] in protected for r in results))
        classified = time.perf_counter()
        timings = replace(prepared.timings, classify=classified - started)
        engines = dict(prepared.engines)
        if prepared.crops is not None:
            engines["classify"] = self.tools.judge_engine.name
        return FrameResult(prepared.index, prepared.frame, prepared.after, results, settings,
                           timings,
                           output.patch_ready, output.patch_origin,
                           prepared.before_detections, output.after_detections, output.hide,
                           self._hunter_saw, prepared.recent,
                           engines=tuple(sorted(engines.items())), whole_frame=whole_frame)

    def warm_up(self, settings: PipelineSettings) -> None:
        """Make the forward-only engines now (an export, or a cached graph and its
        check: a second or two) rather than on the first frames. Any thread; the app
        calls it where the pipeline is built, off the GUI thread."""
        _ = self.tools.judge_engine
        if settings.detector == "nanodet" and self.detector_factory is None:
            _ = self.tools.nanodet_engine

    def detector_for_another_thread(self, settings: PipelineSettings) -> Detector | None:
        """The detector for ``settings`` when it may run on another thread while this
        pipeline goes on (NanoDet: it only reads its network; not class activation maps,
        which run the hunter itself), else ``None``. Call from the owner thread."""
        detector = self._detector_for(settings)
        return detector if isinstance(detector, NanoDetDetector) else None

    def reset(self) -> None:
        """Forget tracks and regions (a looped file starting again); patches stay."""
        self.tracker.reset()
        for mode in self._modes.values():  # modes that remember tracks forget them
            forget = getattr(mode, "reset", None)
            if forget is not None:
                forget()
        self._recent.clear()
        self._last_detections = Detections.empty()
        self._hunter_saw = Tally()
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
                self._detector = _cam_or_nothing(self.model, settings.protected)
            else:
                self._detector = self.tools.detector(self.tools.coco_classes(settings))
            self._detector_key = key
            self.tracker.reset()
        return self._detector

    @torch.no_grad()
    def _crops(self, before: torch.Tensor, after: torch.Tensor,
               regions: list[tuple[int, Box]], output: ModeOutput) -> torch.Tensor | None:
        """One batch at the hunter's input size ``(B, 3, S, S)``: the square around every
        region before, then after (not when the mode left the frame ``unchanged``), then
        the whole frame at the hunter's own fit if the mode asks for it; ``None`` if empty."""
        judge = self.tools.judge
        sources = (before,) if output.unchanged else (before, after)
        crops = [judge.to_input_size(square_crop(source, box)[0])
                 for source in sources for _, box in regions]
        if output.whole_frame:
            crops.append(self.model.to_input_size(before))
        return torch.cat(crops) if crops else None

    @torch.no_grad()
    def _classify(self, crops: torch.Tensor | None, regions: tuple[tuple[int, Box], ...],
                  output: ModeOutput) -> tuple[tuple[TrackResult, ...], Prediction | None]:
        """Per region its top-k before and after, and the whole frame's (if judged): one
        forward of the batch that :meth:`_crops` made."""
        if crops is None:
            return (), None
        predictions = top_k(self.tools.classify(crops), self.top, self.model.classes)
        whole_frame = predictions.pop() if output.whole_frame else None
        after = 0 if output.unchanged else len(regions)  # where the after verdicts start
        return tuple(
            TrackResult(track_id, box, predictions[i], predictions[after + i])
            for i, (track_id, box) in enumerate(regions)
        ), whole_frame


def _clip_box(box: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = box
    x1, x2 = sorted((min(max(x1, 0.0), width), min(max(x2, 0.0), width)))
    y1, y2 = sorted((min(max(y1, 0.0), height), min(max(y2, 0.0), height)))
    return (x1, y1, x2, y2)


@dataclass(frozen=True)
class FoundRegions:
    """What a detector found on a frame, run on another thread (see
    :meth:`FramePipeline.prepare`): the frame as a tensor ``(1, 3, H, W)``, the boxes, and
    the detector that found them (results of a detector since replaced are ignored)."""

    image: torch.Tensor
    detections: Detections
    detector: Detector
    seconds: float = 0.0  # how long finding them took


def find_regions(detector: Detector, frame: np.ndarray, device: torch.device) -> FoundRegions:
    """Run ``detector`` on a BGR frame (for a thread of its own)."""
    started = time.perf_counter()
    image = bgr_to_tensor(frame, device=device)
    detections = detector.detect(image)
    return FoundRegions(image, detections, detector, time.perf_counter() - started)


@dataclass(frozen=True)
class PreparedFrame:
    """A frame after :meth:`FramePipeline.prepare` (localised, tracked, the mode applied),
    waiting for :meth:`FramePipeline.judge`. Immutable; the tensors are never modified.

    ``frame`` and ``after`` are the BGR ``uint8`` frames as captured and with the mode
    applied; ``crops`` the square around every region, before then after, at the
    hunter's input size, and the whole frame last when ``output.whole_frame`` (see
    :meth:`FramePipeline._crops`; ``None`` when empty); ``timings`` has every stage but
    ``classify``; ``engines`` names what ran each stage's network so far.
    """

    index: int
    frame: np.ndarray
    after: np.ndarray
    crops: torch.Tensor | None
    regions: tuple[tuple[int, Box], ...]
    settings: PipelineSettings
    output: ModeOutput
    advance: bool
    before_detections: Detections | None
    recent: tuple[Context, ...]
    timings: StageTimings
    engines: tuple[tuple[str, str], ...] = ()


def _engine_name(detector: Detector | None, tools: LiveTools) -> str:
    """What runs the localiser's network: the NanoDet engine's name, else PyTorch (class
    activation maps need the hunter's features), "none" for no detector, "" unknown."""
    if detector is None:
        return ""
    if isinstance(detector, NoRegions):
        return "none"
    if isinstance(detector, NanoDetDetector) and detector.fast_forward is not None:
        return tools.nanodet_engine.name
    return "pytorch"


class NoRegions:
    """A detector that finds nothing: for a model without class activation maps
    (LeNet-5, ONNX cards) the frames still flow and hand-drawn boxes still work."""

    def detect(self, frame: torch.Tensor) -> Detections:
        return Detections.empty()


def _cam_or_nothing(model: ImageClassifier, protected: tuple[int, ...]) -> Detector:
    try:
        return CamLocaliser(model, protected)
    except ChickenSaviourError as exc:
        logger.warning("no automatic regions: %s", exc)
        return NoRegions()
