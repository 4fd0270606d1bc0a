"""Evolving fooling images: MAP-Elites over a classifier's classes, or one class alone.

Every generation mutates ``population`` parents, renders the children at the model's
input size on the 8-bit grid (what a PNG keeps), scores them in batched forward passes
and lets them replace champions. MAP-Elites picks parents uniformly among the current
champions of all classes, so a pattern that works for "window screen" can become the
start of "chain mail" (Nguyen et al. 2015, section 2.2). The single-class run is a
(mu + lambda) evolutionary algorithm: the best quarter survives and fills the rest of
the population with its mutants.

Example::

    model = load_model("mobilenet_v2")
    result = evolve(model, CppnEncoding(3), SearchSettings(generations=100, population=64))
    best = result.archive.elites
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.fooling.archive import EliteArchive
from chickensaviour.fooling.encodings import Encoding
from chickensaviour.imaging import quantize
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report

logger = logging.getLogger(__name__)

#: Confidences whose first arrival is recorded per class (the paper's 99% and 99.99%).
THRESHOLDS = (0.99, 0.9999)


@dataclass(frozen=True)
class SearchSettings:
    """How long and how wide to search.

    Args:
        generations: generations after the random first one.
        population: images per generation.
        batch_size: images per forward pass.
        seed: seeds every random choice (the same seed gives the same run).
        time_limit_s: stop after this many seconds (``None``: no limit).
        stop_when_all: stop once every class's champion reaches this confidence.
        focus: MAP-Elites draws half its parents from champions below this confidence
            (see :class:`MapElitesSelection`); ``None``: uniformly, as in the paper.
    """

    generations: int = 200
    population: int = 100
    batch_size: int = 64
    seed: int = 0
    time_limit_s: float | None = None
    stop_when_all: float | None = None
    focus: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.generations <= 1_000_000:
            raise ChickenSaviourError(f"generations must be in 0..1000000, got {self.generations}")
        if not 1 <= self.population <= 100_000:
            raise ChickenSaviourError(f"population must be in 1..100000, got {self.population}")
        if not 0 <= self.seed < 2 ** 63:
            raise ChickenSaviourError(f"seed must be in 0..2**63-1, got {self.seed}")
        if not 1 <= self.batch_size <= 4096:
            raise ChickenSaviourError(f"batch_size must be in 1..4096, got {self.batch_size}")
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise ChickenSaviourError("time_limit_s must be > 0")
        for name in ("stop_when_all", "focus"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value <= 1.0:
                raise ChickenSaviourError(f"{name} must be in (0, 1]")


@dataclass(frozen=True)
class GenerationStats:
    """The archive after one generation (generation 0 is the random start)."""

    generation: int
    evaluated: int  # images scored so far
    seconds: float  # since the search started
    filled: int  # classes with a champion
    median: float  # median champion confidence over the searched classes (0 if empty)
    at_99: int  # classes whose champion is >= 0.99
    at_9999: int  # ... >= 0.9999


@dataclass
class EvolutionResult:
    """What a search found: the archive, per-generation statistics and, per threshold
    of :data:`THRESHOLDS`, the generation at which each class first reached it."""

    archive: EliteArchive
    history: list[GenerationStats]
    first_reached: dict[float, dict[int, int]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def generations(self) -> int:
        return self.history[-1].generation if self.history else 0


class Selection(Protocol):
    """Chooses parents and learns from scored children."""

    def parents(self, archive: EliteArchive, count: int,
                rng: np.random.Generator) -> list[Any]: ...

    def update(self, genomes: Sequence[Any], scores: torch.Tensor) -> None: ...


class MapElitesSelection:
    """Parents drawn uniformly from the champions of all searched classes (the paper).

    With ``focus`` set, half the parents are instead drawn from the champions still
    below ``focus`` confidence, in proportion to their confidence: the search spends
    more of its children on the classes that are close but not done (a goal-directed
    variant; the other half keeps MAP-Elites' stepping stones between classes).
    """

    def __init__(self, focus: float | None = None, share: float = 0.5) -> None:
        self.focus = focus
        self.share = share

    def parents(self, archive: EliteArchive, count: int,
                rng: np.random.Generator) -> list[Any]:
        elites = archive.elites
        picks = rng.integers(0, len(elites), size=count)
        chosen = [elites[int(i)].genome for i in picks]
        if self.focus is None:
            return chosen
        open_cells = [e for e in elites if e.confidence < self.focus]
        if not open_cells:
            return chosen
        weights = np.array([e.confidence for e in open_cells]) + 1e-6
        focused = rng.choice(len(open_cells), size=int(count * self.share),
                             p=weights / weights.sum())
        for slot, index in enumerate(focused):
            chosen[slot] = open_cells[int(index)].genome
        return chosen

    def update(self, genomes: Sequence[Any], scores: torch.Tensor) -> None:
        pass


class TruncationSelection:
    """(mu + lambda) for one class: the best ``survivors`` fraction is kept and mutated."""

    def __init__(self, class_index: int, survivors: float = 0.25) -> None:
        if not 0.0 < survivors <= 1.0:
            raise ChickenSaviourError(f"survivors must be in (0, 1], got {survivors}")
        self.class_index = class_index
        self.survivors = survivors
        self._pool: list[tuple[float, Any]] = []

    def parents(self, archive: EliteArchive, count: int,
                rng: np.random.Generator) -> list[Any]:
        keep = max(1, math.ceil(self.survivors * count))
        self._pool = sorted(self._pool, key=lambda pair: -pair[0])[:keep]
        picks = rng.integers(0, len(self._pool), size=count)
        return [self._pool[int(i)][1] for i in picks]

    def update(self, genomes: Sequence[Any], scores: torch.Tensor) -> None:
        column = scores[:, self.class_index].tolist()
        self._pool.extend(zip(column, genomes, strict=True))


def score_images(model: Any, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Softmax probabilities ``(B, num_classes)`` of ``(B, 1 or 3, H, W)`` images in
    ``[0, 1]`` (grey ones are repeated to RGB, the library's contract), on the CPU."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ChickenSaviourError(f"expected images (B, 1 or 3, H, W), got {tuple(images.shape)}")
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    rows = [model.probabilities(images[start:start + batch_size]).float().cpu()
            for start in range(0, images.shape[0], batch_size)]
    return torch.cat(rows) if rows else torch.empty((0, len(model.classes)))


def render_for(model: Any, encoding: Encoding, genomes: Sequence[Any]) -> torch.Tensor:
    """The genomes' images at the model's input size, on the 8-bit grid."""
    return quantize(encoding.render(genomes, int(model.input_size)))


def render_and_score(model: Any, encoding: Encoding, genomes: Sequence[Any],
                     batch_size: int = 64) -> torch.Tensor:
    """Probabilities ``(len(genomes), num_classes)`` of the genomes' 8-bit images,
    rendered and scored ``batch_size`` at a time (memory stays one batch of images)."""
    rows = [score_images(model, render_for(model, encoding, genomes[start:start + batch_size]),
                         batch_size)
            for start in range(0, len(genomes), batch_size)]
    return torch.cat(rows) if rows else torch.empty((0, len(model.classes)))


def evolve(model: Any, encoding: Encoding, settings: SearchSettings | None = None, *,
           classes: Sequence[int] | None = None, single_class: int | None = None,
           on_generation: Callable[[GenerationStats, EliteArchive], None] | None = None,
           progress: ProgressFn | None = None,
           should_stop: StopFn | None = None) -> EvolutionResult:
    """Evolve fooling images for ``model`` (an :class:`ImageClassifier`, in eval mode).

    ``classes`` (default: all of the model's) are searched with MAP-Elites; with
    ``single_class`` that one class alone is searched by truncation selection.
    ``on_generation(stats, archive)`` is called after every generation (to draw GIF
    frames, say); ``progress(generation, generations, median)`` reports as usual.
    """
    settings = settings or SearchSettings()
    num_classes = len(model.classes)
    if single_class is not None:
        if classes is not None:
            raise ChickenSaviourError("give classes or single_class, not both")
        classes = [single_class]
        selection: Selection = TruncationSelection(int(single_class))
    else:
        classes = list(range(num_classes)) if classes is None else list(classes)
        selection = MapElitesSelection(settings.focus)
    archive = EliteArchive(classes, num_classes)
    stretched = model.with_fit("stretch") if hasattr(model, "with_fit") else model
    rng = np.random.default_rng(settings.seed)
    first_reached: dict[float, dict[int, int]] = {t: {} for t in THRESHOLDS}
    history: list[GenerationStats] = []
    started = time.perf_counter()
    evaluated = 0
    for generation in range(settings.generations + 1):
        check_stop(should_stop, "evolution")
        if generation == 0:
            genomes = encoding.random(settings.population, rng)
        else:
            parents = selection.parents(archive, settings.population, rng)
            genomes = [encoding.mutate(parent, rng, generation) for parent in parents]
        scores = render_and_score(stretched, encoding, genomes, settings.batch_size)
        evaluated += len(genomes)
        archive.offer(genomes, scores, generation)
        selection.update(genomes, scores)
        stats = _stats(archive, generation, evaluated, time.perf_counter() - started)
        _record_arrivals(archive, generation, first_reached)
        history.append(stats)
        if on_generation is not None:
            on_generation(stats, archive)
        report(progress, generation, settings.generations, stats.median)
        if _should_end(settings, stats, archive, started):
            break
    seconds = time.perf_counter() - started
    logger.info("evolved %d generations (%d images) in %.1f s: %d/%d classes >= 0.99",
                history[-1].generation, evaluated, seconds, history[-1].at_99, len(classes))
    return EvolutionResult(archive, history, first_reached, seconds)


def confidence_summary(confidences: Sequence[float] | np.ndarray) -> dict[str, float | int]:
    """``{"median", "at_99", "at_9999"}`` of champion confidences (0 median when empty)."""
    values = np.asarray(confidences, dtype=np.float64)
    return {"median": float(np.median(values)) if len(values) else 0.0,
            "at_99": int((values >= THRESHOLDS[0]).sum()),
            "at_9999": int((values >= THRESHOLDS[1]).sum())}


def _stats(archive: EliteArchive, generation: int, evaluated: int,
           seconds: float) -> GenerationStats:
    counts = confidence_summary(archive.confidences())
    return GenerationStats(generation=generation, evaluated=evaluated, seconds=seconds,
                           filled=len(archive), median=float(counts["median"]),
                           at_99=int(counts["at_99"]), at_9999=int(counts["at_9999"]))


def _record_arrivals(archive: EliteArchive, generation: int,
                     first_reached: dict[float, dict[int, int]]) -> None:
    for elite in archive.elites:
        for threshold, reached in first_reached.items():
            if elite.confidence >= threshold and elite.class_index not in reached:
                reached[elite.class_index] = generation


def _should_end(settings: SearchSettings, stats: GenerationStats, archive: EliteArchive,
                started: float) -> bool:
    if settings.time_limit_s is not None and \
            time.perf_counter() - started >= settings.time_limit_s:
        logger.info("time limit of %.0f s reached at generation %d", settings.time_limit_s,
                    stats.generation)
        return True
    if settings.stop_when_all is not None:
        return bool((archive.confidences() >= settings.stop_when_all).all())
    return False
