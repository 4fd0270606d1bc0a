"""Printed: test a printed adversarial patch held up to the camera (nothing is pasted)."""

from __future__ import annotations

from typing import ClassVar

from chickensaviour.live.modes.base import LiveTools, ModeInput, ModeOutput, NoPatch


class PrintedMode(NoPatch):
    """For a person holding a PRINTED adversarial patch up to the webcam: does the
    physical patch fool the hunter?

    Nothing digital is added: the after frame is the captured frame, exactly. Instead
    the hunter's verdicts are shown in full: the top-5 of every tracked region (judged
    once, since before and after are the same frame) and the top-5 of the whole frame
    at the hunter's usual fit, classified in the same batch as the regions
    (:attr:`FrameResult.whole_frame <chickensaviour.live.results.FrameResult>`).

    Owner: the pipeline's thread; it keeps no state.

    Example: ``python main.py --mode printed --source 0``
    """

    name: ClassVar[str] = "printed"
    controls: ClassVar[frozenset[str]] = frozenset()
    detect_every_frame: ClassVar[bool] = False
    gradients_every_frame: ClassVar[bool] = False

    def apply(self, frame: ModeInput, tools: LiveTools) -> ModeOutput:
        return ModeOutput(frame.image, unchanged=True, whole_frame=True)


MODE = PrintedMode
