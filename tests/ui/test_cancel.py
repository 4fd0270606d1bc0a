"""Long model calls on worker threads end quickly once their thread is asked to stop."""

from __future__ import annotations

import threading
import time

import cv2
import pytest
import torch

from chickensaviour.pipeline import FramePipeline, PipelineSettings
from chickensaviour.zoo import ImageClassifier
from tests.conftest import make_tiny_classifier
from tests.ui.conftest import CHELSEA
from ui.cancel import Cancelled, install, stop_on
from ui.workers import RefineWorker


def test_a_stopped_thread_gets_cancelled_and_others_are_untouched() -> None:
    model = make_tiny_classifier()
    install(model)
    install(model)  # idempotent: one hook per leaf module
    conv = next(model.net.children())
    assert len(conv._forward_pre_hooks) == 1
    images = torch.rand(1, 3, 16, 16)
    stop = threading.Event()
    with stop_on(stop):
        model(images)  # not stopped yet
        stop.set()
        with pytest.raises(Cancelled):
            model(images)
    model(images)  # outside the block the same thread runs freely


@pytest.mark.pretrained
def test_block_refinement_is_cancelled_within_a_second(hunter: ImageClassifier,
                                                       cat_settings: PipelineSettings) -> None:
    install(hunter)
    pipeline = FramePipeline(hunter)
    pipeline.process(cv2.imread(CHELSEA), cat_settings)  # one frame gives a context
    refiner = RefineWorker(pipeline, cat_settings.with_changes(mode="block"))
    assert refiner.contexts
    refiner.start()
    time.sleep(0.5)
    started = time.monotonic()
    refiner.cancel()
    refiner.join(1.0)
    assert time.monotonic() - started < 1.0
    assert not refiner.is_alive() and refiner.state == "cancelled"
