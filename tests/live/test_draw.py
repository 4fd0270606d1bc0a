"""Drawing the panes and the side-by-side view with bars."""

from __future__ import annotations

import numpy as np

from chickensaviour.live import FrameResult, PipelineSettings, TrackResult
from chickensaviour.live.draw import side_by_side
from chickensaviour.models.wrapper import Prediction


def _prediction() -> Prediction:
    return Prediction((341, 1, 2, 3, 4), ("hog", "a", "b", "c", "d"),
                      (0.9, 0.04, 0.03, 0.02, 0.01))


def test_the_view_with_bars_keeps_its_size_when_the_region_comes_and_goes() -> None:
    """A recording started before the detector found the cat failed with "frame size
    changed": the bars of "no region tracked" were shorter than the top-5 bars."""
    frame = np.zeros((120, 160, 3), np.uint8)
    settings = PipelineSettings()
    empty = FrameResult(0, frame, frame.copy(), (), settings)
    track = TrackResult(1, (10.0, 10.0, 80.0, 90.0), _prediction(), _prediction())
    tracked = FrameResult(1, frame, frame.copy(), (track,), settings)
    for width in (None, 640):
        shapes = {side_by_side(r, width, bars=True).shape for r in (empty, tracked)}
        assert len(shapes) == 1, shapes
