"""Retraining with a "fooling" class, and evolving new fooling images anyway (paper §3.3).

Nguyen et al. added the fooling images as an 11th class, retrained LeNet and evolved
again, 15 times: each new network learnt to call the old fooling images "fooling", and
evolution still fooled it at 99.99%. Here:

- round 0 evolves against the original 10-class network;
- every later round retrains (from the previous network's weights, the head grown to
  11 outputs in round 1) on the MNIST training digits plus every fooling image found so
  far as class 10, then evolves against the new network.

Each round reports, for every encoding, how many digits were fooled at >= 99.99% and
after how many generations, plus the network's test accuracy and how many of the
previous round's fooling images it now calls "fooling" - measured on a fifth of them
held out of its training, so the figure says whether it learnt fooling images in
general, not whether it remembers the ones it saw.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.fooling.archive import EliteArchive
from chickensaviour.fooling.champions import Champion, evolved_champions
from chickensaviour.fooling.encodings import make_encoding
from chickensaviour.fooling.evolution import (
    GenerationStats,
    SearchSettings,
    evolve,
    render_for,
)
from chickensaviour.labels import LabelSet
from chickensaviour.models.wrapper import ImageClassifier
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report
from chickensaviour.training.lenet import DIGIT_NAMES, DIGITS_KIND, LeNet5, wrap_lenet
from chickensaviour.training.mnist import MnistData
from chickensaviour.training.train import accuracy, predict_digits, train_classifier

logger = logging.getLogger(__name__)

FOOLING_CLASS = 10
FOOLING_NAME = "fooling"
#: The paper's bar for "fooled" on MNIST.
FOOLED_AT = 0.9999


@dataclass(frozen=True)
class RetrainingSettings:
    """Rounds, the search in each, and how each retraining goes.

    ``harvest_at``: every image that becomes a class's champion at this confidence or
    more during a round's searches is a fooling image (at most ``max_new`` per round, a
    random choice); ``held_out`` of them are kept out of training to measure the next
    network, the rest join the fooling class. ``epochs`` of retraining per round on the
    digits (``train_digits`` of them, all by default) plus all fooling images so far,
    repeated until they make up at least one class's share of every epoch. ``focus``
    is the search's (:class:`~chickensaviour.fooling.evolution.SearchSettings`);
    ``None`` is the paper's uniform MAP-Elites.
    """

    rounds: int = 5
    encodings: tuple[str, ...] = ("direct", "cppn")
    generations: int = 200
    population: int = 400
    focus: float | None = FOOLED_AT
    harvest_at: float = 0.99
    max_new: int = 2000
    held_out: float = 0.2
    epochs: int = 1
    train_digits: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.rounds <= 100:
            raise ChickenSaviourError(f"rounds must be in 1..100, got {self.rounds}")
        unknown = [e for e in self.encodings if e not in ("direct", "cppn")]
        if not self.encodings or unknown:
            raise ChickenSaviourError("encodings must be among direct, cppn")
        if not 1 <= self.epochs <= 50:
            raise ChickenSaviourError(f"epochs must be in 1..50, got {self.epochs}")
        if not 0.0 < self.harvest_at <= 1.0 or self.max_new < 1:
            raise ChickenSaviourError("harvest_at must be in (0, 1] and max_new >= 1")
        if not 0.0 <= self.held_out < 1.0:
            raise ChickenSaviourError(f"held_out must be in [0, 1), got {self.held_out}")
        SearchSettings(generations=self.generations, population=self.population,
                       seed=self.seed, focus=self.focus)


@dataclass(frozen=True)
class EncodingRound:
    """One encoding's search against one round's network."""

    encoding: str
    generations_to_fool: dict[int, int]  # digit -> first generation at FOOLED_AT
    best: dict[int, float]  # digit -> champion confidence
    generations: int
    champions: tuple[Champion, ...] = ()  # digit order

    @property
    def fooled(self) -> int:
        """Digits whose champion reached FOOLED_AT."""
        return len(self.generations_to_fool)


@dataclass
class RoundResult:
    """One round: the network, how it scores, and what evolution did to it."""

    round: int
    model: ImageClassifier
    test_accuracy: float  # on the ten digits of MNIST's test set
    fooling_images: int  # in the training set of this round's network
    caught: float | None  # share of the previous round's held-out fooling images called
    # "fooling" (never trained on); None in round 0
    searches: list[EncodingRound] = field(default_factory=list)
    new_images: int = 0  # fooling images this round found (for the next network)


def retraining_rounds(base: nn.Module, data: MnistData,
                      settings: RetrainingSettings | None = None, *,
                      progress: ProgressFn | None = None,
                      should_stop: StopFn | None = None) -> list[RoundResult]:
    """Run ``settings.rounds`` retrainings after round 0 against ``base`` (a trained
    10-class :class:`~chickensaviour.training.lenet.LeNet5`, not modified)."""
    settings = settings or RetrainingSettings()
    check_base(base)
    rng = np.random.default_rng(settings.seed)
    digits = (data.train if settings.train_digits is None
              else data.train.subset(settings.train_digits, seed=settings.seed))
    net = copy.deepcopy(base).eval()
    labels = LabelSet(DIGIT_NAMES, kind=DIGITS_KIND)
    pool = torch.empty((0, 1, 28, 28))
    previous_held: torch.Tensor | None = None
    results: list[RoundResult] = []
    steps = (settings.rounds + 1) * len(settings.encodings)
    for round_index in range(settings.rounds + 1):
        check_stop(should_stop, "retraining")
        caught = None
        if round_index > 0:
            if round_index == 1:
                net = grow_head(net, FOOLING_CLASS + 1, seed=settings.seed)
                labels = LabelSet((*DIGIT_NAMES, FOOLING_NAME), kind=f"{DIGITS_KIND} + fooling")
            retrain(net, digits.images, digits.labels, pool, epochs=settings.epochs,
                    seed=settings.seed + round_index, should_stop=should_stop)
            if previous_held is not None and len(previous_held):
                caught = float((predict_digits(net, previous_held) == FOOLING_CLASS)
                               .float().mean())
        model = wrap_lenet(copy.deepcopy(net).eval(), labels, f"lenet5_round{round_index}")
        result = RoundResult(
            round=round_index, model=model,
            test_accuracy=accuracy(net, data.test.images, data.test.labels),
            fooling_images=len(pool), caught=caught)
        new_images = []
        for position, name in enumerate(settings.encodings):
            search_seed = settings.seed * 1000 + round_index * 10 + position
            search, harvested = _search(model, name, settings, search_seed, should_stop)
            result.searches.append(search)
            new_images.append(harvested)
            report(progress, round_index * len(settings.encodings) + position + 1, steps,
                   float(search.fooled))
        found = torch.cat(new_images)
        if len(found) > settings.max_new:
            found = found[torch.from_numpy(rng.choice(len(found), settings.max_new,
                                                      replace=False))]
        result.new_images = len(found)
        held = round(len(found) * settings.held_out)
        order = torch.from_numpy(rng.permutation(len(found)))
        previous_held = found[order[:held]]
        pool = torch.cat([pool, found[order[held:]]])
        results.append(result)
        logger.info("round %d: accuracy %.4f, fooled %s, %d new fooling images", round_index,
                    result.test_accuracy, [s.fooled for s in result.searches], len(found))
    return results


def _search(model: ImageClassifier, name: str, settings: RetrainingSettings, seed: int,
            should_stop: StopFn | None) -> tuple[EncodingRound, torch.Tensor]:
    encoding = make_encoding(name, model)
    harvest: list = []

    def collect(stats: GenerationStats, archive: EliteArchive) -> None:
        for elite in archive.elites:
            if elite.generation == stats.generation and elite.confidence >= settings.harvest_at:
                harvest.append(elite.genome)

    search = SearchSettings(generations=settings.generations, population=settings.population,
                            seed=seed, batch_size=512, focus=settings.focus)
    result = evolve(model, encoding, search, classes=range(FOOLING_CLASS),
                    on_generation=collect, should_stop=should_stop)
    images = (render_for(model, encoding, harvest) if harvest
              else torch.empty((0, 1, 28, 28)))
    reached = result.first_reached[FOOLED_AT]
    best = {e.class_index: e.confidence for e in result.archive.elites}
    return EncodingRound(
        encoding=name, generations_to_fool=dict(sorted(reached.items())),
        best=best, generations=result.generations,
        champions=tuple(sorted(evolved_champions(model, encoding, result.archive),
                               key=lambda c: c.index))), images


def check_base(net: nn.Module) -> None:
    """Raise unless ``net`` is a 10-class LeNet-5 (what the rounds start from)."""
    if not isinstance(net, LeNet5):
        raise ChickenSaviourError(f"the retraining rounds start from a LeNet-5 trained on "
                                  f"MNIST (lenet5_mnist or its card), not {type(net).__name__}")
    head = net.classifier[-1]
    if not isinstance(head, nn.Linear) or head.out_features != FOOLING_CLASS:
        raise ChickenSaviourError("the retraining rounds start from a 10-class LeNet-5 "
                                  f"(the digits), not one with "
                                  f"{getattr(head, 'out_features', '?')} outputs")


def grow_head(net: nn.Module, num_classes: int, *, seed: int = 0) -> LeNet5:
    """A LeNet5 with ``num_classes`` outputs whose other weights and first outputs are
    ``net``'s, on ``net``'s device; the new outputs start small and random (seeded
    without touching torch's global generator)."""
    if not isinstance(net, LeNet5):
        raise ChickenSaviourError("the retraining rounds need a LeNet5")
    old_head = net.classifier[-1]
    if not isinstance(old_head, nn.Linear) or old_head.out_features > num_classes:
        raise ChickenSaviourError("cannot grow the head to fewer classes")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        grown = LeNet5(num_classes)
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("classifier.5.")}
    grown.load_state_dict(state, strict=False)
    head = grown.classifier[-1]
    assert isinstance(head, nn.Linear)
    with torch.no_grad():
        head.weight[:old_head.out_features] = old_head.weight
        head.bias[:old_head.out_features] = old_head.bias
        head.weight[old_head.out_features:].mul_(0.1)
        head.bias[old_head.out_features:].zero_()
    return grown.to(old_head.weight.device).eval()


def retrain(net: nn.Module, digits: torch.Tensor, labels: torch.Tensor,
            fooling: torch.Tensor, *, epochs: int, seed: int,
            should_stop: StopFn | None = None) -> None:
    """Train ``net`` in place on the digits plus ``fooling`` as class 10, the fooling
    images repeated until they make up at least one class's share (a tenth of the
    digits; once there are more of them, each appears once)."""
    if len(fooling):
        share = max(1, len(digits) // 10)
        repeats = max(1, round(share / len(fooling)))
        extra = fooling.repeat(repeats, 1, 1, 1)
        images = torch.cat([digits, extra])
        targets = torch.cat([labels, torch.full((len(extra),), FOOLING_CLASS,
                                                dtype=labels.dtype)])
    else:
        images, targets = digits, labels
    train_classifier(net, images, targets, epochs=epochs, seed=seed, should_stop=should_stop)


def rounds_table(results: Sequence[RoundResult]) -> list[dict[str, object]]:
    """One plain row per round and encoding, for the JSON and the markdown table."""
    rows = []
    for result in results:
        for search in result.searches:
            generations = list(search.generations_to_fool.values())
            rows.append({
                "round": result.round, "encoding": search.encoding,
                "test_accuracy": round(result.test_accuracy, 4),
                "fooling_images_in_training": result.fooling_images,
                "held_out_fooling_caught": (None if result.caught is None
                                            else round(result.caught, 4)),
                "classes_fooled_9999": search.fooled,
                "median_generations_to_fool": (float(np.median(generations))
                                               if generations else None),
                "max_generations_to_fool": max(generations) if generations else None,
                "generations_to_fool": {str(k): v for k, v in
                                        search.generations_to_fool.items()},
                "best_confidence": {str(k): round(v, 6) for k, v in search.best.items()},
                "generations_run": search.generations,
            })
    return rows
