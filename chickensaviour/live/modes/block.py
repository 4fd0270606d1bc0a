"""Block: an adversarial block pasted on each region.

The block for (model, decoy, size) comes from the :class:`PatchStore`: a refined one
(this run, or the disk cache of an earlier run) when there is one; otherwise a quick
PGD block grown from grey (under a second on 2 cores, on the first frame that needs it),
which :meth:`BlockMode.refine` then refines in context, Brown et al. style, on the
regions seen so far (a job on its own thread).
"""

from __future__ import annotations

import logging
from typing import ClassVar

import torch

from chickensaviour.attacks.patch import make_patch
from chickensaviour.live.modes.base import LiveTools, ModeInput, ModeOutput
from chickensaviour.live.patches import PatchKey, StoredPatch
from chickensaviour.live.settings import PipelineSettings
from chickensaviour.overlay.blocks import Context, RefineSettings, refine_in_context
from chickensaviour.overlay.compositor import PatchCompositor, placement_in_box
from chickensaviour.progress import ProgressFn, StopFn

logger = logging.getLogger(__name__)

#: The quick starting block: PGD from mid-grey, 20 steps of 8/255. The block alone then
#: reads hog at p = 1.000 (MobileNetV2) and 0.977 (EfficientNet-Lite0). Grown from black
#: with 4/255 steps (the seed's start) it reached p = 0.99 / 0.91 but stayed nearly black
#: (mean 0.05), which shows nothing and is weak pasted on a scene.
QUICK_BLOCK_STEPS = 20
QUICK_BLOCK_STEP_SIZE = 8 / 255


def quick_block(tools: LiveTools, target: int, size: int, *,
                should_stop: StopFn | None = None) -> torch.Tensor:
    """The starting block: a few PGD steps from mid-grey (0.7-0.8 s on 2 CPU cores)."""
    return make_patch(tools.model, target, size, start="grey", method="pgd",
                      steps=QUICK_BLOCK_STEPS, step_size=QUICK_BLOCK_STEP_SIZE,
                      should_stop=should_stop).patch


class BlockMode:
    """Pastes the best block available now on every region."""

    name: ClassVar[str] = "block"
    controls: ClassVar[frozenset[str]] = frozenset({"patch_fraction", "block_size", "alpha"})
    trains: ClassVar[str | None] = "block"
    detect_every_frame: ClassVar[bool] = False
    gradients_every_frame: ClassVar[bool] = False

    def __init__(self, refine: RefineSettings | None = None) -> None:
        self.refine_settings = refine or RefineSettings()

    def patch_key(self, settings: PipelineSettings, model: str) -> PatchKey:
        return PatchKey("block", model, (settings.target,), settings.block_size)

    def block(self, settings: PipelineSettings, tools: LiveTools, *,
              should_stop: StopFn | None = None) -> StoredPatch:
        """The block to paste now (a quick one made once per key when the store has none)."""
        key = self.patch_key(settings, tools.model.identity)

        def start() -> torch.Tensor:
            logger.info("making a starting block for %s", key)
            return quick_block(tools, settings.target, settings.block_size,
                               should_stop=should_stop)

        return tools.store.get_or_start(key, start, origin="pgd")

    def apply(self, frame: ModeInput, tools: LiveTools) -> ModeOutput:
        image, settings = frame.image, frame.settings
        if not frame.regions:
            return ModeOutput(image)
        stored = self.block(settings, tools, should_stop=frame.should_stop)
        block = stored.image.to(image.device)
        height, width = image.shape[-2:]
        compositor = PatchCompositor(alpha=settings.alpha)
        after = image
        for _, box in frame.regions:  # one placement per call: the regions may overlap
            place = placement_in_box(box, settings.patch_fraction, width, height)
            if place is not None:
                after = compositor(after, block, [place])
        return ModeOutput(after, stored.ready, stored.origin)

    def refine(self, regions: tuple[Context, ...], settings: PipelineSettings,
               tools: LiveTools, *, progress: ProgressFn | None = None,
               should_stop: StopFn | None = None) -> torch.Tensor:
        """Refine the current block in context on ``regions``; stores and returns it."""
        start = self.block(settings, tools, should_stop=should_stop)
        refined = refine_in_context(tools.model, start.image, settings.target, regions,
                                    self.refine_settings, progress=progress,
                                    should_stop=should_stop)
        tools.store.put(self.patch_key(settings, tools.model.identity), refined, ready=True,
                        origin="refined")
        return refined


MODE = BlockMode
