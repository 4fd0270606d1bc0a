"""Deep Dream (Mordvintsev, Olah and Tyka, 2015) on a real image.

Gradient ascent on an objective (usually a layer's squared activation, or one channel)
with respect to the image itself, over an octave pyramid: start at the smallest scale,
add the detail learnt there to the next larger scale, and so on. Each step rolls the
image by a random jitter and normalises the gradient by its mean magnitude, so the step
size is independent of the layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.wrapper import ImageClassifier, check_images
from chickensaviour.progress import ProgressFn, StopFn, check_stop, report
from chickensaviour.visualize.layers import LOGITS, captured
from chickensaviour.visualize.objectives import INPUT, Objective


@dataclass(frozen=True)
class DreamSettings:
    """Steps per octave, octave count and scale, jitter (pixels), step size, snapshots."""

    steps: int = 10
    octaves: int = 4
    octave_scale: float = 1.4
    jitter: int = 32
    step_size: float = 0.01
    frame_every: int = 2  # keep a progress frame every N steps (0: none)
    frame_side: int = 480  # progress frames are shrunk to this longer side

    def __post_init__(self) -> None:
        if self.steps < 1 or self.octaves < 1:
            raise ChickenSaviourError("steps and octaves must be >= 1")
        if not 1.0 < self.octave_scale <= 4.0:
            raise ChickenSaviourError(f"octave scale must be in (1, 4], got {self.octave_scale}")
        if self.jitter < 0 or not 0 < self.step_size <= 1:
            raise ChickenSaviourError("jitter must be >= 0 and step size in (0, 1]")


def deep_dream(model: ImageClassifier, image: torch.Tensor, objective: Objective,
               settings: DreamSettings | None = None, *, seed: int = 0,
               progress: ProgressFn | None = None,
               should_stop: StopFn | None = None,
               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The dreamed image ``(1, 3, H, W)`` and progress frames (at most ``frame_side``)."""
    settings = settings or DreamSettings()
    check_images(image)
    if image.shape[0] != 1:
        raise ChickenSaviourError("deep_dream takes one image")
    image = image.to(model.device)
    height, width = image.shape[-2:]
    # Octaves keep the aspect ratio; none has a side under 32 px (fewer octaves if needed).
    shapes = []
    for k in reversed(range(settings.octaves)):
        factor = min(settings.octave_scale ** k, min(height, width) / 32)
        shape = (max(1, round(height / factor)), max(1, round(width / factor)))
        if not shapes or shapes[-1] != shape:
            shapes.append(shape)
    preview = min(1.0, settings.frame_side / max(height, width))
    preview_size = (max(1, round(height * preview)), max(1, round(width * preview)))
    generator = torch.Generator().manual_seed(seed)
    total = settings.steps * len(shapes)
    done = 0
    frames: list[torch.Tensor] = []
    if settings.frame_every:
        frames.append(F.interpolate(image, size=preview_size, mode="bilinear",
                                    align_corners=False, antialias=True).cpu())
    detail = torch.zeros_like(F.interpolate(image, size=shapes[0], mode="bilinear",
                                            align_corners=False))
    model.eval()
    for shape in shapes:
        base = F.interpolate(image, size=shape, mode="bilinear", align_corners=False,
                             antialias=True)
        detail = F.interpolate(detail, size=shape, mode="bilinear", align_corners=False)
        dreamed = (base + detail).clamp(0, 1)
        for _ in range(settings.steps):
            check_stop(should_stop, "dream")
            value = _ascend(model, dreamed, objective, settings, generator)
            done += 1
            report(progress, done, total, value)
            if settings.frame_every and done % settings.frame_every == 0:
                frames.append(F.interpolate(dreamed, size=preview_size, mode="bilinear",
                                            align_corners=False).cpu())
        detail = dreamed - base
    result = (image + F.interpolate(detail, size=(height, width), mode="bilinear",
                                    align_corners=False)).clamp(0, 1)
    if settings.frame_every:
        frames.append(F.interpolate(result, size=preview_size, mode="bilinear",
                                    align_corners=False, antialias=True).cpu())
    return result, frames


def _ascend(model: ImageClassifier, image: torch.Tensor, objective: Objective,
            settings: DreamSettings, generator: torch.Generator) -> float:
    """One normalised-gradient step on ``image`` in place; returns the objective value."""
    dx, dy = (int(v) for v in torch.randint(-settings.jitter, settings.jitter + 1, (2,),
                                            generator=generator))
    rolled = torch.roll(image, shifts=(dy, dx), dims=(-2, -1)).requires_grad_(True)
    with captured(model.net, objective.layers) as outputs:
        logits = model.net(model.normalize(rolled))
    value = objective({**outputs, LOGITS: logits, INPUT: rolled}).mean()
    (gradient,) = torch.autograd.grad(value, rolled)
    gradient = torch.roll(gradient, shifts=(-dy, -dx), dims=(-2, -1))
    with torch.no_grad():
        image.add_(gradient / gradient.abs().mean().clamp(min=1e-8), alpha=settings.step_size)
        image.clamp_(0, 1)
    return float(value.detach())
