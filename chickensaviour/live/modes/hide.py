"""Hide: a patch trained to make the NanoDet detector miss the protected objects.

The patch (from the :class:`PatchStore`; mid-grey until trained) is pasted on every
region, and the detector runs on the after frame: the panes show its verdict. To keep
the demo honest, every frame is also judged with a same-size plain square in the same
place (grey, or noise): the :class:`HideTally` in each result counts the frames in which
the detector missed every protected object with the patch and with the plain square,
since the current patch arrived. ``settings.baseline`` shows the plain square instead.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import numpy as np
import torch

from chickensaviour.attacks.hide import HideSettings, Scene, make_hide_patch, paste
from chickensaviour.attacks.patch.evaluate import baseline_patch
from chickensaviour.coco import COCO_CLASSES
from chickensaviour.imaging import quantize
from chickensaviour.live.modes.base import LiveTools, ModeInput, ModeOutput
from chickensaviour.live.patches import PatchKey, StoredPatch
from chickensaviour.live.results import HideTally
from chickensaviour.live.settings import Box, PipelineSettings
from chickensaviour.models.detections import Detections, box_iou
from chickensaviour.overlay.blocks import Context
from chickensaviour.progress import ProgressFn, StopFn

#: A region counts as still detected when a detection overlaps it this much.
SEEN_IOU = 0.3


def detector_verdicts(boxes: list[Box] | tuple[Box, ...],
                      found: Detections) -> list[tuple[str, float] | None]:
    """Per box, the detection still overlapping it (COCO class name, score) or ``None``
    when the detector no longer sees anything there."""
    if not boxes:
        return []
    if len(found) == 0:
        return [None] * len(boxes)
    iou = box_iou(np.array(boxes, dtype=np.float64), found.xyxy)
    verdicts: list[tuple[str, float] | None] = []
    for row in iou:
        best = int(row.argmax())
        verdicts.append((COCO_CLASSES[found.class_id[best]], float(found.confidence[best]))
                        if row[best] >= SEEN_IOU else None)
    return verdicts


class HideMode:
    """Pastes the hide patch and reports what the detector still finds."""

    name: ClassVar[str] = "hide"
    controls: ClassVar[frozenset[str]] = frozenset({"hide_fraction", "block_size", "baseline"})
    trains: ClassVar[str | None] = "hide patch"
    detect_every_frame: ClassVar[bool] = True
    gradients_every_frame: ClassVar[bool] = False

    def __init__(self, training: HideSettings | None = None) -> None:
        self.training = training or HideSettings(steps=60)
        self._tally = HideTally()
        self._tally_key: tuple[int, str, float, int] | None = None

    def patch_key(self, settings: PipelineSettings, model: str) -> PatchKey:
        # Hide patches fool the detector, whatever the hunter: "nanodet", not ``model``.
        return PatchKey("hide", "nanodet", settings.coco_classes, settings.block_size)

    def patch(self, settings: PipelineSettings, tools: LiveTools) -> StoredPatch:
        """The hide patch now: trained if it exists, else a grey square (not cached)."""
        return tools.store.get_or_start(self.patch_key(settings, tools.model.identity),
                                        lambda: baseline_patch("grey", settings.block_size),
                                        origin="grey")

    def placement(self, settings: PipelineSettings) -> HideSettings:
        # The patch-size slider sets the hide patch's side in hide mode (x sqrt(box area)).
        return replace(self.training, scale=settings.hide_fraction)

    def apply(self, frame: ModeInput, tools: LiveTools) -> ModeOutput:
        image, settings = frame.image, frame.settings
        if not frame.regions:
            return ModeOutput(image)
        stored = self.patch(settings, tools)
        kind = settings.baseline if settings.baseline != "none" else "grey"
        plain = baseline_patch(kind, settings.block_size).to(image.device)
        trained = stored.image.to(image.device)
        shown_is_plain = settings.baseline != "none"
        boxes = [box for _, box in frame.regions]
        box_tensor = torch.tensor(boxes, device=image.device, dtype=image.dtype)
        placement = self.placement(settings)
        with torch.no_grad():
            both = torch.cat([paste(image, patch[0], [box_tensor], placement)
                              for patch in (trained, plain)])
            both = quantize(both)  # judged as shown: on the 8-bit grid
            found = tools.detector(tools.coco_classes(settings)).detect_batch(both)
        hidden = [all(v is None for v in detector_verdicts(boxes, f)) for f in found]
        tally_key = (stored.version, kind, settings.hide_fraction, settings.block_size)
        if tally_key != self._tally_key:  # a new patch, baseline or size: count afresh
            self._tally = HideTally(baseline_kind=kind, patch_trained=stored.ready)
            self._tally_key = tally_key
        if frame.advance:  # a paused frame seen again is not another frame
            self._tally = replace(self._tally, patch=self._tally.patch.add(hidden[0]),
                                  baseline=self._tally.baseline.add(hidden[1]))
        shown = 1 if shown_is_plain else 0
        return ModeOutput(both[shown : shown + 1], stored.ready,
                          kind if shown_is_plain else stored.origin,
                          after_detections=found[shown], hide=self._tally,
                          engine=tools.nanodet_engine.name)

    def refine(self, regions: tuple[Context, ...], settings: PipelineSettings,
               tools: LiveTools, *, progress: ProgressFn | None = None,
               should_stop: StopFn | None = None) -> torch.Tensor:
        """Train the hide patch on ``regions`` (one scene per frame); stores and returns it."""
        classes = tools.coco_classes(settings)
        detector = tools.detector(classes)
        by_frame: dict[int, tuple[torch.Tensor, list[Box]]] = {}
        for region in regions:  # one scene per frame, with every region of that frame
            by_frame.setdefault(id(region.frame), (region.frame, []))[1].append(region.box)
        # Squares at the detector's input size: the objects train at the scale they are
        # detected at live (a 4:3 frame's letterbox has the same scale).
        scenes = [Scene.from_frame(frame.to(detector.device), torch.tensor(boxes),
                                   detector.input_size)
                  for frame, boxes in by_frame.values()]
        start = self.patch(settings, tools)
        patch = make_hide_patch(detector, scenes, classes, size=settings.block_size,
                                settings=self.placement(settings), start=start.image[0],
                                progress=progress, should_stop=should_stop)
        tools.store.put(self.patch_key(settings, tools.model.identity), patch, ready=True,
                        origin="trained")
        return patch


MODE = HideMode
