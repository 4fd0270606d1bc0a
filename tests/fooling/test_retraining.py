"""Retraining rounds with a "fooling" class (paper §3.3), small."""

from __future__ import annotations

import pytest
import torch

from chickensaviour.device import torch_threads
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.fooling.retraining import (
    FOOLING_CLASS,
    RetrainingSettings,
    grow_head,
    retrain,
    retraining_rounds,
    rounds_table,
)
from chickensaviour.training.lenet import LeNet5
from chickensaviour.training.mnist import load_mnist
from chickensaviour.training.train import normalize_digits, predict_digits, train_classifier


@pytest.fixture(scope="module")
def small_lenet():
    with torch_threads(1):
        data = load_mnist()
        digits = data.train.subset(4000, seed=0)
        torch.manual_seed(0)
        net = LeNet5()
        train_classifier(net, digits.images, digits.labels, epochs=2, lr=3e-3)
        yield net, data


def test_grow_head_keeps_the_old_outputs(small_lenet) -> None:
    net, data = small_lenet
    grown = grow_head(net, 11)
    x = normalize_digits(data.test.images[:16])
    with torch.no_grad():
        old, new = net(x), grown(x)
    assert new.shape == (16, 11)
    assert torch.allclose(old, new[:, :10], atol=1e-5)
    with pytest.raises(ChickenSaviourError, match="fewer"):
        grow_head(grown, 10)


def test_retraining_teaches_the_fooling_class(small_lenet) -> None:
    net, data = small_lenet
    grown = grow_head(net, 11)
    noise = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    digits = data.train.subset(3000, seed=1)
    retrain(grown, digits.images, digits.labels, noise, epochs=1, seed=0)
    assert float((predict_digits(grown, noise) == FOOLING_CLASS).float().mean()) > 0.9
    held_out = torch.rand(100, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    assert float((predict_digits(grown, held_out) == FOOLING_CLASS).float().mean()) > 0.8


def test_rounds_report_each_network_and_search(small_lenet) -> None:
    net, data = small_lenet
    before = {k: v.clone() for k, v in net.state_dict().items()}
    settings = RetrainingSettings(rounds=1, generations=15, population=200,
                                  train_digits=2000, seed=0)
    results = retraining_rounds(net, data, settings)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # untouched
    assert [r.round for r in results] == [0, 1]
    assert len(results[0].model.classes) == 10 and len(results[1].model.classes) == 11
    assert results[1].model.classes.name(FOOLING_CLASS) == "fooling"
    assert results[0].fooling_images == 0
    found = results[0].new_images
    assert found >= 10
    held_out = round(found * settings.held_out)
    assert results[1].fooling_images == found - held_out  # the rest measure round 1
    assert results[0].caught is None
    # measured on round 0's held-out fooling images (never trained on): a share of them
    assert 0.0 <= results[1].caught <= 1.0
    assert results[1].caught * held_out == pytest.approx(round(results[1].caught * held_out))
    for result in results:
        assert [s.encoding for s in result.searches] == ["direct", "cppn"]
        for search in result.searches:
            assert search.generations == 15
            assert [c.index for c in search.champions] == list(range(10))
    rows = rounds_table(results)
    assert len(rows) == 4 and rows[2]["round"] == 1
    assert rows[0]["fooling_images_in_training"] == 0


def test_settings_refuse_bad_values() -> None:
    for bad in (dict(rounds=0), dict(encodings=("gradient",)), dict(epochs=0),
                dict(harvest_at=0.0), dict(generations=-1)):
        with pytest.raises(ChickenSaviourError):
            RetrainingSettings(**bad)
