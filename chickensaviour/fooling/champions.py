"""Champions: one fooling image per class, scored as it will be saved (8-bit).

:func:`evolved_champions` turns an evolution's archive into :class:`Champion` s;
:func:`gradient_champions` makes them by gradient ascent from noise (Nguyen et al. 2015,
section 3.4; Simonyan et al. 2014) with the visualisation package's ``render_vis`` and
no regularisation, for comparison in the same report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.fooling.archive import EliteArchive
from chickensaviour.fooling.encodings import Encoding
from chickensaviour.fooling.evolution import render_and_score, render_for, score_images
from chickensaviour.imaging import quantize
from chickensaviour.progress import ProgressFn, StopFn
from chickensaviour.visualize.objectives import class_log_probability
from chickensaviour.visualize.render import render_vis


@dataclass(frozen=True)
class Champion:
    """The best fooling image of one class.

    ``image`` is ``(C, H, W)`` on the 8-bit grid in ``[0, 1]`` (C is 1 or 3) and
    ``confidence`` the model's probability of ``index`` for exactly that image;
    ``generation`` is when evolution found it (the step count for gradient ascent).
    """

    index: int
    name: str
    confidence: float
    generation: int
    image: torch.Tensor

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[0] not in (1, 3):
            raise ChickenSaviourError(f"a champion's image is (1 or 3, H, W), "
                                      f"got {tuple(self.image.shape)}")
        if not 0.0 <= self.confidence <= 1.0 + 1e-6:
            raise ChickenSaviourError(f"confidence must be in [0, 1], got {self.confidence}")

    @property
    def rgb(self) -> torch.Tensor:
        """The image as RGB ``(3, H, W)``."""
        return self.image.expand(3, -1, -1) if self.image.shape[0] == 1 else self.image


def evolved_champions(model: Any, encoding: Encoding, archive: EliteArchive, *,
                      best: int | None = None, rescore: bool = True) -> list[Champion]:
    """The archive's champions (the ``best`` most confident, or all), best first.

    They are rendered again (rendering is deterministic) and, with ``rescore``, scored
    again on exactly those 8-bit images; without it the archive's confidences are used
    (cheaper, for animation frames).
    """
    elites = sorted(archive.elites, key=lambda e: -e.confidence)[:best]
    if not elites:
        return []
    stretched = model.with_fit("stretch")
    genomes = [elite.genome for elite in elites]
    if rescore:
        scores = render_and_score(stretched, encoding, genomes)
        confidences = [float(scores[row, e.class_index]) for row, e in enumerate(elites)]
    else:
        confidences = [e.confidence for e in elites]
    images = torch.cat([render_for(stretched, encoding, genomes[start:start + 64])
                        for start in range(0, len(genomes), 64)])
    champions = [
        Champion(elite.class_index, model.classes.name(elite.class_index), confidence,
                 elite.generation, images[row])
        for row, (elite, confidence) in enumerate(zip(elites, confidences, strict=True))]
    return sorted(champions, key=lambda c: -c.confidence)


def gradient_champions(model: Any, classes: Sequence[int], *, steps: int = 200,
                       lr: float = 0.1, seed: int = 0, batch_size: int = 16,
                       grey: bool | None = None, progress: ProgressFn | None = None,
                       should_stop: StopFn | None = None) -> list[Champion]:
    """Gradient ascent on each class's log probability from uniform noise, no priors.

    The pixels are ``sigmoid(z)`` (in range without clamping), one grey channel for
    grey models (``grey=None`` asks the model's ``channels``), at the model's input
    size; classes go ``batch_size`` at a time. Returns champions best first, scored on
    their 8-bit images.
    """
    classes = [int(c) for c in classes]
    if not classes:
        raise ChickenSaviourError("no classes to fool")
    if steps < 1:
        raise ChickenSaviourError(f"steps must be >= 1, got {steps}")
    num_classes = len(model.classes)
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise ChickenSaviourError(f"class index {bad[0]} is outside 0..{num_classes - 1}")
    stretched = model.with_fit("stretch")
    grey = getattr(model, "channels", 3) == 1 if grey is None else grey
    size = int(model.input_size)
    generator = torch.Generator().manual_seed(seed)
    images = []
    total = steps * len(classes)
    for start in range(0, len(classes), batch_size):
        chunk = classes[start:start + batch_size]
        noise = torch.rand((len(chunk), 1 if grey else 3, size, size), generator=generator)
        logits = torch.logit(noise.clamp(0.02, 0.98)).to(stretched.device).requires_grad_(True)

        def image_fn(z: torch.Tensor = logits) -> torch.Tensor:
            pixels = torch.sigmoid(z)
            return pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels

        def chunk_progress(done: int, _total: int, value: float, base: int = start,
                           width: int = len(chunk)) -> None:
            if progress is not None:
                progress(base * steps + done * width, total, value)

        rendered = render_vis(stretched, class_log_probability(chunk), ([logits], image_fn),
                              steps=steps, lr=lr, seed=seed, progress=chunk_progress,
                              should_stop=should_stop)
        images.append(quantize(rendered[:, :1] if grey else rendered).cpu())
    pictures = torch.cat(images)
    scores = score_images(stretched, pictures)
    champions = [Champion(c, model.classes.name(c), float(scores[row, c]), steps, pictures[row])
                 for row, c in enumerate(classes)]
    return sorted(champions, key=lambda c: -c.confidence)
