"""Ghost: a targeted FGSM (or iterative FGSM) on each region, every frame.

The hunter judges the square around the region, but only the region itself is changed,
so no noise spills onto the background. The budget is the eps slider's, on the 8-bit
grid (the frame is shown and saved in 8 bits).

Frames of a video follow one another, so each tracked region's steps start from its
previous frame's perturbation (resized to the new square, projected into the new
frame's eps-ball): the steps of one frame build on those of the last. One step per
frame then does about what five from the clean frame did
(``benchmarks/bench_ghost_steps.py``, bundled clip, eps 8/255: hog top-1 on 73/75
regions with MobileNetV2 in 66 ms a frame instead of 75/75 in 224 ms on 2 cores; 64/75
instead of 54/75 on ResNet-50; the seed's single FGSM step from the clean frame: 0/75).
A new track and a hand-drawn region start from the clean frame, where
one step is the seed's FGSM.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from chickensaviour.attacks import FGSM, PGD, targeted
from chickensaviour.live.modes.base import LiveTools, ModeInput, ModeOutput, NoPatch
from chickensaviour.live.settings import PipelineSettings
from chickensaviour.overlay.blocks import square_crop


class GhostMode(NoPatch):
    """Invisible-ish perturbations, recomputed for every frame.

    Owner: the pipeline's thread (it keeps each track's last perturbation).
    """

    name: ClassVar[str] = "ghost"
    controls: ClassVar[frozenset[str]] = frozenset({"eps", "ghost_steps"})
    detect_every_frame: ClassVar[bool] = False
    gradients_every_frame: ClassVar[bool] = True

    def __init__(self, *, warm_start: bool = True) -> None:
        self.warm_start = warm_start
        # track id -> ((eps, decoy) it was made for, perturbation of its square (1, 3, s, s))
        self._previous: dict[int, tuple[tuple[float, int], torch.Tensor]] = {}

    def apply(self, frame: ModeInput, tools: LiveTools) -> ModeOutput:
        settings, image = frame.settings, frame.image
        if settings.eps == 0 or not frame.regions:
            if frame.advance:
                self._previous.clear()
            return ModeOutput(image)
        goal = targeted(settings.target, 1, image.device)
        after = image.clone()
        kept: dict[int, tuple[tuple[float, int], torch.Tensor]] = {}
        key = (settings.eps, settings.target)
        for track_id, box in frame.regions:
            crop, (left, top) = square_crop(image, box)
            if crop.shape[-1] < 4:
                continue
            attack = self._attack(settings, self._start(track_id, crop, key))
            adversarial = attack(tools.judge, crop, goal, should_stop=frame.should_stop)
            if track_id > 0:  # hand-drawn regions (negative ids) are not tracked
                kept[track_id] = (key, adversarial - crop)
            x1, y1, x2, y2 = (round(v) for v in box)
            x1, y1 = max(x1, left), max(y1, top)
            x2 = min(x2, left + crop.shape[-1])
            y2 = min(y2, top + crop.shape[-2])
            after[:, :, y1:y2, x1:x2] = adversarial[:, :, y1 - top : y2 - top,
                                                    x1 - left : x2 - left]
        if frame.advance:  # a paused frame seen again neither builds on itself nor counts
            self._previous = kept  # tracks that ended are forgotten
        return ModeOutput(after, engine="pytorch")  # gradients: always PyTorch

    def reset(self) -> None:
        """Forget every track's perturbation (the stream starts again: track ids are
        handed out anew and mean other objects)."""
        self._previous.clear()

    def _start(self, track_id: int, crop: torch.Tensor,
               key: tuple[float, int]) -> torch.Tensor | None:
        """Where this frame's steps begin: the clean square plus the track's last
        perturbation (same eps and decoy), resized to this square; ``None``: afresh."""
        previous = self._previous.get(track_id) if self.warm_start else None
        if previous is None or previous[0] != key:
            return None
        delta = previous[1]
        if delta.shape[-2:] != crop.shape[-2:]:
            delta = F.interpolate(delta, size=crop.shape[-2:], mode="bilinear",
                                  align_corners=False)
        return (crop + delta.to(crop.device)).clamp(0.0, 1.0)

    @staticmethod
    def _attack(settings: PipelineSettings, start: torch.Tensor | None) -> FGSM | PGD:
        if settings.ghost_steps == 1 and start is None:  # the seed's attack
            return FGSM(eps=settings.eps, quantize=True)
        return PGD(eps=settings.eps, steps=settings.ghost_steps, random_start=False,
                   step_size=settings.eps / max(1, settings.ghost_steps // 2),
                   quantize=True, start=start)


MODE = GhostMode
