"""The long-call convention in the visualisations: ``render_vis`` and ``deep_dream``
report every step and stop within one step of ``should_stop``."""

from __future__ import annotations

import pytest
import torch

from chickensaviour.errors import OperationCancelled
from chickensaviour.models.wrapper import ImageClassifier
from chickensaviour.visualize import objectives as obj
from chickensaviour.visualize.dream import DreamSettings, deep_dream
from chickensaviour.visualize.params import pixel_image
from chickensaviour.visualize.render import render_vis
from tests.conftest import StopAfter


def test_render_vis_reports_and_stops_within_one_step(tiny_model: ImageClassifier) -> None:
    full = StopAfter(10**6)
    render_vis(tiny_model, obj.class_logit(0), pixel_image(16), steps=3,
               progress=full.progress, should_stop=full.should_stop)
    assert full.done == [1, 2, 3]
    stop = StopAfter(2)
    with pytest.raises(OperationCancelled):
        render_vis(tiny_model, obj.class_logit(0), pixel_image(16), steps=100,
                   progress=stop.progress, should_stop=stop.should_stop)
    assert stop.done == [1, 2]


def test_deep_dream_reports_and_stops_within_one_step(tiny_model: ImageClassifier) -> None:
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    settings = DreamSettings(steps=3, octaves=2, jitter=2)
    full = StopAfter(10**6)
    deep_dream(tiny_model, image, obj.class_logit(0), settings, progress=full.progress,
               should_stop=full.should_stop)
    assert full.done == [1, 2, 3, 4, 5, 6]
    stop = StopAfter(4)
    with pytest.raises(OperationCancelled):
        deep_dream(tiny_model, image, obj.class_logit(0), settings, progress=stop.progress,
                   should_stop=stop.should_stop)
    assert stop.done == [1, 2, 3, 4]
