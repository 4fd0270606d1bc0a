"""The ``Mode`` protocol: what the live pipeline does to the protected regions.

A mode is a small object with its own settings fields and an :meth:`Mode.apply` that
turns the captured frame into the "after" frame. Modes are made per pipeline (so any
state, such as hide mode's tally, belongs to the inference thread that owns the
pipeline) and found by name through :mod:`chickensaviour.live.modes`' registry.
Modes with a patch (block, hide) also say how to refine it: :meth:`Mode.refine` runs in
a job thread on an immutable snapshot of regions and puts the result in the
:class:`~chickensaviour.live.patches.PatchStore`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.live.patches import PatchKey, PatchStore
from chickensaviour.live.results import HideTally
from chickensaviour.live.settings import Box, PipelineSettings
from chickensaviour.models.detections import Detections
from chickensaviour.models.engines import ENGINES, ForwardEngine, classifier_engine, nanodet_engine
from chickensaviour.models.nanodet.detector import NanoDetDetector
from chickensaviour.models.nanodet.net import NanoDet, shared_nanodet
from chickensaviour.models.wrapper import ImageClassifier
from chickensaviour.overlay.blocks import Context
from chickensaviour.progress import ProgressFn, StopFn


class LiveTools:
    """What modes and their jobs use: the hunter, the NanoDet network, the patch store,
    and the inference engines of the forward-only stages.

    Shared by the inference thread and job threads: the models are only read (never
    switched to train mode, folded or moved while shared), the store has its own lock,
    and the NanoDet network and the engines are made once, under a lock, on first use
    (a hide-training job makes the detector's engine for its evaluations).

    Args:
        engine: what runs the forward-only stages (the detector's per-frame forward,
            the before/after classification): "auto" (ONNX Runtime exported from the
            same modules where it can, else PyTorch, said once), "onnxruntime" or
            "torch". Gradient stages (ghost, refinement, hide training) are PyTorch.
        engine_threads: intra-op threads of each ONNX Runtime session.
    """

    def __init__(self, model: ImageClassifier, store: PatchStore, *,
                 nanodet: NanoDet | None = None, engine: str = "auto",
                 engine_threads: int | None = None) -> None:
        if engine not in ENGINES:
            raise ChickenSaviourError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        self.model = model
        self.judge = model.with_fit("stretch")
        self.store = store
        self.engine = engine
        self.engine_threads = engine_threads
        self._nanodet = nanodet
        self._judge_engine: ForwardEngine | None = None
        self._nanodet_engine: ForwardEngine | None = None
        self._engine_errors: dict[str, ChickenSaviourError] = {}  # not retried per frame
        self._lock = threading.Lock()
        self._engine_lock = threading.Lock()
        self._local = threading.local()  # detectors cache anchors: one set per thread

    @property
    def judge_engine(self) -> ForwardEngine:
        """The forward-only engine of the hunter: ``(B, 3, S, S)`` at its input size ->
        logits (made on first use)."""
        with self._engine_lock:
            if self._judge_engine is None:
                self._judge_engine = self._build("classifier", lambda: classifier_engine(
                    self.model, engine=self.engine, threads=self.engine_threads))
            return self._judge_engine

    @property
    def nanodet_engine(self) -> ForwardEngine:
        """The forward-only engine of the NanoDet network (made on first use)."""
        net = self.nanodet
        with self._engine_lock:
            if self._nanodet_engine is None:
                self._nanodet_engine = self._build("nanodet", lambda: nanodet_engine(
                    net, engine=self.engine, threads=self.engine_threads))
            return self._nanodet_engine

    def _build(self, kind: str, build: Callable[[], ForwardEngine]) -> ForwardEngine:
        """``build()`` once: a failure (``--engine onnxruntime`` where it cannot run) is
        kept and raised again at once, not retried (an export takes seconds) every frame."""
        if kind in self._engine_errors:
            raise self._engine_errors[kind]
        try:
            return build()
        except ChickenSaviourError as exc:
            self._engine_errors[kind] = exc
            raise

    def _nanodet_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores, box_logits = self.nanodet_engine(x)
        return scores, box_logits

    @torch.no_grad()
    def classify(self, crops: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities ``(B, C)`` of regions already at the hunter's input
        size (``judge.to_input_size``), on the forward-only engine."""
        logits = self.judge_engine(crops.to(self.model.device))
        assert isinstance(logits, torch.Tensor)
        return logits.float().softmax(dim=1)

    @property
    def nanodet(self) -> NanoDet:
        with self._lock:
            if self._nanodet is None:
                self._nanodet = shared_nanodet(self.model.device)  # loaded once per device
            return self._nanodet

    def detector(self, coco_classes: tuple[int, ...], threshold: float = 0.3) -> NanoDetDetector:
        """A NanoDet detector for ``coco_classes``, made once per thread. The network is
        shared and only read, and a detector keeps no state between calls (its anchor
        grids are in a module-level, thread-safe ``lru_cache``), so the live window
        also runs one on its detector thread while the pipeline's thread uses it."""
        cache: dict[tuple[tuple[int, ...], float], NanoDetDetector] = \
            self._local.__dict__.setdefault("detectors", {})
        key = (tuple(coco_classes), threshold)
        if key not in cache:
            cache[key] = NanoDetDetector(coco_classes, device=self.model.device,
                                         net=self.nanodet, score_threshold=threshold,
                                         fast_forward=self._nanodet_forward)
        return cache[key]

    def coco_classes(self, settings: PipelineSettings) -> tuple[int, ...]:
        """The COCO classes NanoDet looks for, or the error saying why it cannot."""
        settings.check_detector(self.model.classes)
        return settings.coco_classes


@dataclass(frozen=True)
class ModeInput:
    """One frame for a mode: the image ``(1, 3, H, W)`` in ``[0, 1]``, the protected
    regions ``(track id, box)`` and the settings snapshot. ``advance`` is False when the
    same frame is processed again (a paused view whose controls moved): modes count
    nothing then."""

    image: torch.Tensor
    regions: tuple[tuple[int, Box], ...]
    settings: PipelineSettings
    should_stop: StopFn | None = None
    advance: bool = True


@dataclass(frozen=True)
class ModeOutput:
    """What a mode made of a frame: the after image, and the patch's state.

    ``unchanged``: the after image is the captured frame itself (printed mode), so the
    pipeline shows the captured frame and judges each region once, not before and after.
    ``whole_frame``: the hunter also judges the whole frame (in the same batch).
    """

    after: torch.Tensor
    patch_ready: bool = False
    patch_origin: str = ""
    after_detections: Detections | None = None
    hide: HideTally | None = None
    engine: str = ""  # what ran a network in this stage ("pytorch", "onnxruntime"), if any
    unchanged: bool = False
    whole_frame: bool = False


class Mode(Protocol):
    """What the pipeline needs of a mode.

    Attributes:
        name: the registry name ("block", ...).
        controls: the :class:`PipelineSettings` fields this mode reads (the GUI enables
            only their controls).
        trains: what :meth:`refine` improves ("block", "hide patch"), or ``None``.
        detect_every_frame: the detector must run on every frame (hide mode compares
            before and after verdicts of the same moment).
        gradients_every_frame: :meth:`apply` back-propagates through the hunter on
            every frame (ghost): the app's thread policy may give it more threads
            (:class:`~chickensaviour.live.threads.LiveThreads`).
    """

    name: ClassVar[str]
    controls: ClassVar[frozenset[str]]
    trains: ClassVar[str | None]
    detect_every_frame: ClassVar[bool]
    gradients_every_frame: ClassVar[bool]

    def apply(self, frame: ModeInput, tools: LiveTools) -> ModeOutput:
        """The after image for ``frame`` (quantisation happens in the pipeline)."""
        ...

    def patch_key(self, settings: PipelineSettings, model: str) -> PatchKey | None:
        """The store key of this mode's patch for ``settings`` and the hunter named
        ``model`` (``None``: no patch)."""
        ...

    def refine(self, regions: tuple[Context, ...], settings: PipelineSettings,
               tools: LiveTools, *, progress: ProgressFn | None = None,
               should_stop: StopFn | None = None) -> torch.Tensor:
        """Improve the patch on ``regions`` (a job thread) and put it in the store."""
        ...


class NoPatch:
    """Mixin for modes without a patch to refine."""

    trains: ClassVar[str | None] = None

    def patch_key(self, settings: PipelineSettings, model: str) -> PatchKey | None:
        return None

    def refine(self, regions: tuple[Context, ...], settings: PipelineSettings,
               tools: LiveTools, *, progress: ProgressFn | None = None,
               should_stop: StopFn | None = None) -> torch.Tensor:
        raise ChickenSaviourError(f"{getattr(self, 'name', 'this')} mode has nothing to refine")
