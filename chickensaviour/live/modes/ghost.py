"""Ghost: a targeted FGSM (or iterative FGSM) on each region, every frame.

The hunter judges the square around the region, but only the region itself is changed,
so no noise spills onto the background. The budget is the eps slider's, on the 8-bit
grid (the frame is shown and saved in 8 bits).
"""

from __future__ import annotations

from typing import ClassVar

from chickensaviour.attacks import FGSM, PGD, targeted
from chickensaviour.live.modes.base import LiveTools, ModeInput, ModeOutput, NoPatch
from chickensaviour.overlay.blocks import square_crop


class GhostMode(NoPatch):
    """Invisible-ish perturbations, recomputed for every frame."""

    name: ClassVar[str] = "ghost"
    controls: ClassVar[frozenset[str]] = frozenset({"eps", "ghost_steps"})
    detect_every_frame: ClassVar[bool] = False

    def apply(self, frame: ModeInput, tools: LiveTools) -> ModeOutput:
        settings, image = frame.settings, frame.image
        if settings.eps == 0 or not frame.regions:
            return ModeOutput(image)
        attack: FGSM | PGD
        if settings.ghost_steps == 1:
            attack = FGSM(eps=settings.eps, quantize=True)
        else:
            attack = PGD(eps=settings.eps, steps=settings.ghost_steps, random_start=False,
                         step_size=settings.eps / max(1, settings.ghost_steps // 2),
                         quantize=True)
        goal = targeted(settings.target, 1, image.device)
        after = image.clone()
        for _, box in frame.regions:
            crop, (left, top) = square_crop(image, box)
            if crop.shape[-1] < 4:
                continue
            adversarial = attack(tools.judge, crop, goal, should_stop=frame.should_stop)
            x1, y1, x2, y2 = (round(v) for v in box)
            x1, y1 = max(x1, left), max(y1, top)
            x2 = min(x2, left + crop.shape[-1])
            y2 = min(y2, top + crop.shape[-2])
            after[:, :, y1:y2, x1:x2] = adversarial[:, :, y1 - top : y2 - top,
                                                    x1 - left : x2 - left]
        return ModeOutput(after)


MODE = GhostMode
