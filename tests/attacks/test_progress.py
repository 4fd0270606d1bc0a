"""The long-call convention (``chickensaviour.progress``) in the attacks: ``progress``
after each step, ``should_stop`` polled before each step, cancelling within one step."""

from __future__ import annotations

import math

import pytest
import torch

from chickensaviour.attacks import FGSM, PGD, epsilon_sweep, make_patch, targeted
from chickensaviour.attacks.hide import Scene, make_hide_patch
from chickensaviour.errors import OperationCancelled
from chickensaviour.models.nanodet.detector import NanoDetDetector
from chickensaviour.models.wrapper import ImageClassifier
from tests.conftest import StopAfter


def test_pgd_reports_every_step_and_stops_within_one(tiny_model: ImageClassifier,
                                                     images: torch.Tensor) -> None:
    full = StopAfter(10**6)
    PGD(eps=4 / 255, steps=5)(tiny_model, images, targeted(3, 4), progress=full.progress,
                              should_stop=full.should_stop)
    assert full.done == [1, 2, 3, 4, 5] and {t for _, t, _ in full.calls} == {5}
    assert all(math.isfinite(v) for _, _, v in full.calls)  # the objective, ascending
    stop = StopAfter(2)
    with pytest.raises(OperationCancelled):
        PGD(eps=4 / 255, steps=50)(tiny_model, images, targeted(3, 4), progress=stop.progress,
                                   should_stop=stop.should_stop)
    assert stop.done == [1, 2]


def test_fgsm_is_one_step(tiny_model: ImageClassifier, images: torch.Tensor) -> None:
    full = StopAfter(10**6)
    FGSM(eps=4 / 255)(tiny_model, images, targeted(3, 4), progress=full.progress,
                      should_stop=full.should_stop)
    assert full.done == [1] and full.calls[0][1] == 1
    stop = StopAfter(0)
    with pytest.raises(OperationCancelled):
        FGSM(eps=4 / 255)(tiny_model, images, targeted(3, 4), should_stop=stop.should_stop)


@pytest.mark.parametrize("method", ["pgd", "fgsm-sweep"])
def test_make_patch_reports_and_stops_within_one_step(tiny_model: ImageClassifier,
                                                      method: str) -> None:
    stop = StopAfter(2)
    with pytest.raises(OperationCancelled):
        make_patch(tiny_model, 3, 16, method=method, steps=40, rounds=40,  # type: ignore[arg-type]
                   progress=stop.progress, should_stop=stop.should_stop)
    assert stop.done == [1, 2] and {t for _, t, _ in stop.calls} == {40}


def test_epsilon_sweep_reports_batches_and_stops_within_one(tiny_model: ImageClassifier,
                                                             images: torch.Tensor) -> None:
    full = StopAfter(10**6)
    epsilon_sweep(tiny_model, images[:1], 3, torch.linspace(-0.1, 0.1, 10), batch_size=4,
                  progress=full.progress)
    assert full.done == [4, 8, 10] and {t for _, t, _ in full.calls} == {10}
    stop = StopAfter(1)
    with pytest.raises(OperationCancelled):
        epsilon_sweep(tiny_model, images[:1], 3, torch.linspace(-0.1, 0.1, 10), batch_size=4,
                      progress=stop.progress, should_stop=stop.should_stop)
    assert stop.done == [4]


def test_hide_training_reports_and_stops_within_one_step() -> None:
    from chickensaviour.models.nanodet.net import NanoDet

    torch.manual_seed(0)
    detector = NanoDetDetector(device="cpu", net=NanoDet().eval().requires_grad_(False))
    scene = Scene(torch.rand(3, 64, 64), torch.tensor([[8.0, 8.0, 56.0, 56.0]]))
    stop = StopAfter(2)
    with pytest.raises(OperationCancelled):
        make_hide_patch(detector, [scene], [0], size=16, progress=stop.progress,
                        should_stop=stop.should_stop)
    assert stop.done == [1, 2]
