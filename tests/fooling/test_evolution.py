"""Evolution: MAP-Elites and the single-class run, on a tiny seeded model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chickensaviour.errors import ChickenSaviourError, OperationCancelled
from chickensaviour.fooling import (
    CppnEncoding,
    DirectEncoding,
    SearchSettings,
    evolve,
    evolved_champions,
)
from chickensaviour.fooling.evolution import score_images
from tests.conftest import StopAfter, make_tiny_classifier


@pytest.fixture
def model():
    return make_tiny_classifier(seed=3, num_classes=10, input_size=16)


def test_map_elites_is_deterministic_for_a_seed_and_never_loses_a_champion(model) -> None:
    settings = SearchSettings(generations=8, population=24, seed=7)
    first = evolve(model, CppnEncoding(3), settings)
    second = evolve(model, CppnEncoding(3), settings)
    assert np.array_equal(first.archive.confidences(), second.archive.confidences())
    assert [s.median for s in first.history] == [s.median for s in second.history]
    assert len(first.history) == 9 and first.generations == 8
    assert first.history[-1].evaluated == 9 * 24
    medians = [s.median for s in first.history]
    assert medians == sorted(medians)  # elitism: the archive only improves
    assert first.history[-1].filled == 10
    assert medians[-1] > medians[0]


def test_champions_score_as_the_archive_says_on_their_8_bit_images(model) -> None:
    encoding = DirectEncoding(16, 3)
    result = evolve(model, encoding, SearchSettings(generations=5, population=16, seed=1),
                    classes=[2, 4, 6])
    champions = evolved_champions(model, encoding, result.archive)
    assert sorted(c.index for c in champions) == [2, 4, 6]
    assert [c.confidence for c in champions] == sorted((c.confidence for c in champions),
                                                      reverse=True)
    for champion in champions:
        elite = result.archive.get(champion.index)
        assert champion.confidence == pytest.approx(elite.confidence, abs=1e-5)
        assert torch.equal((champion.image * 255).round() / 255, champion.image)
        again = score_images(model, champion.image[None])[0, champion.index]
        assert float(again) == pytest.approx(champion.confidence, abs=1e-5)


def test_first_arrivals_match_the_history(model) -> None:
    result = evolve(model, CppnEncoding(3), SearchSettings(generations=6, population=16,
                                                           seed=2))
    for threshold, reached in result.first_reached.items():
        for class_index, generation in reached.items():
            assert result.archive.get(class_index).confidence >= threshold
            assert 0 <= generation <= 6
    # the history's counts are exactly the arrivals so far
    for stats in result.history:
        assert stats.at_99 == sum(g <= stats.generation
                                  for g in result.first_reached[0.99].values())


def test_arrivals_are_the_generation_a_champion_first_reaches_each_threshold() -> None:
    from chickensaviour.fooling.archive import EliteArchive
    from chickensaviour.fooling.evolution import _record_arrivals

    archive = EliteArchive([0, 1], num_classes=2)
    arrivals: dict[float, dict[int, int]] = {0.99: {}, 0.9999: {}}
    archive.offer(["a"], torch.tensor([[0.5, 0.5]]), 0)
    _record_arrivals(archive, 0, arrivals)
    archive.offer(["b"], torch.tensor([[0.995, 0.005]]), 1)
    _record_arrivals(archive, 1, arrivals)
    archive.offer(["c"], torch.tensor([[0.99995, 0.00005]]), 2)
    _record_arrivals(archive, 2, arrivals)
    assert arrivals == {0.99: {0: 1}, 0.9999: {0: 2}}


def test_single_class_run_improves_that_class(model) -> None:
    encoding = DirectEncoding(16, 3)
    result = evolve(model, encoding, SearchSettings(generations=10, population=16, seed=0),
                    single_class=3)
    assert result.archive.classes == (3,)
    start, end = result.history[0].median, result.history[-1].median
    assert end > start


def test_time_limit_stop_when_all_progress_and_cancel(model) -> None:
    quick = evolve(model, CppnEncoding(3), SearchSettings(generations=1000, population=8,
                                                          time_limit_s=1e-6))
    assert quick.generations == 0
    easy = evolve(model, CppnEncoding(3), SearchSettings(generations=1000, population=8,
                                                         stop_when_all=0.01))
    assert easy.generations < 1000
    stopper = StopAfter(3)
    with pytest.raises(OperationCancelled):
        evolve(model, CppnEncoding(3), SearchSettings(generations=50, population=8),
               progress=stopper.progress, should_stop=stopper.should_stop)
    assert stopper.done == [0, 1, 2]


def test_bad_settings_and_arguments(model) -> None:
    for bad in (dict(generations=-1), dict(population=0), dict(batch_size=0),
                dict(time_limit_s=0.0), dict(stop_when_all=1.5)):
        with pytest.raises(ChickenSaviourError):
            SearchSettings(**bad)
    with pytest.raises(ChickenSaviourError, match="not both"):
        evolve(model, CppnEncoding(3), classes=[1], single_class=1)
    with pytest.raises(ChickenSaviourError, match="outside"):
        evolve(model, CppnEncoding(3), SearchSettings(generations=1), classes=[10])


def test_score_images_takes_grey_images(model) -> None:
    grey = torch.rand(3, 1, 16, 16)
    assert torch.allclose(score_images(model, grey), score_images(model, grey.repeat(1, 3, 1, 1)))
    with pytest.raises(ChickenSaviourError, match="expected images"):
        score_images(model, torch.rand(3, 2, 16, 16))
