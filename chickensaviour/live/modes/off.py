"""Off: the after frame is the frame as captured (the hunter's verdicts still show)."""

from __future__ import annotations

from typing import ClassVar

from chickensaviour.live.modes.base import LiveTools, ModeInput, ModeOutput, NoPatch


class OffMode(NoPatch):
    """Leaves every frame as it is."""

    name: ClassVar[str] = "off"
    controls: ClassVar[frozenset[str]] = frozenset()
    detect_every_frame: ClassVar[bool] = False
    gradients_every_frame: ClassVar[bool] = False

    def apply(self, frame: ModeInput, tools: LiveTools) -> ModeOutput:
        return ModeOutput(frame.image)


MODE = OffMode
