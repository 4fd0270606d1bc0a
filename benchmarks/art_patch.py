"""IBM ART's ``AdversarialPatchPyTorch`` on our hunter: the reference patch trainer.

ART is installed only for the benchmarks (:mod:`art_env`). :func:`train_art_patch` runs
ART's trainer chunk by chunk on one model and one set of scenes, timing the training
alone and asking a caller-supplied ``evaluate(patch)`` for the success rate after each
chunk, so a trainer of ours can be held against it: same model, same data, same
success, how long.

What ART 1.20.1 optimises (read from ``adversarial_patch_pytorch.py``), so that the
comparison is fair:

- **Variable**: one patch ``(3, s, s)``, float64, initialised to mid-grey 0.5 (the middle
  of ``clip_values``), clamped to ``[0, 1]`` after every step. No TV or printability term.
- **Loss**: targeted, ``cross_entropy(logits(patched), target)`` averaged over the batch
  (ART sees logits because our model does not output probabilities), minimised with
  ``torch.optim.Adam(lr=learning_rate)``. The model runs in eval mode.
- **EOT, per image and per step** (``_random_overlay``): the patch is resized (bilinear)
  to the image's shorter side (224), warped by a random perspective whose corners move
  by up to ``distortion_scale_max`` x half the side, then an affine with rotation
  uniform in ``+-rotation_max`` degrees, scale uniform in ``[scale_min, scale_max]`` of
  the image side and a translation uniform over all places where the unrotated patch
  fits in the image (anywhere, not only on the object: our scenes are squares around
  the object); nearest-neighbour interpolation; pasted opaquely with a square mask. No
  colour, brightness, noise or blur transforms.
- **Iterations**: ART's ``max_iter`` counts passes over the data: each iteration is one
  shuffled epoch of ``ceil(N / batch_size)`` Adam steps. Records give both.
- **Continuation**: the patch tensor and the Adam optimiser are attributes of the attack
  object, created in ``__init__`` and never reset by ``generate``; successive
  ``generate`` calls continue from the current patch with the same Adam moments. Each
  call also runs one extra forward pass (``predict(x[[0]])``, to tell logits from
  probabilities) and builds a new ``DataLoader``: counted in the training time, as a
  single ``generate(max_iter=N)`` would pay it once rather than once per chunk.

Run as a script for a short self-check (MobileNetV2, cat -> hog)::

    .venv/bin/python benchmarks/art_patch.py --chunks 3 --chunk-iterations 20
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from art_env import ensure_art

logger = logging.getLogger(__name__)

IMAGE_SIDE = 224
NUM_CLASSES = 1000
ROTATION_MAX = 22.5  # degrees
SCALE_SPREAD = 0.1  # patch scale drawn from [fraction - spread, fraction + spread]
DISTORTION_SCALE_MAX = 0.2


def art_classifier(model: nn.Module) -> Any:
    """``model`` (RGB ``[0, 1]`` ``(B, 3, 224, 224)`` -> logits, normalising inside) as
    ART's ``PyTorchClassifier``: ``clip_values=(0, 1)``, no preprocessing, 1000 classes,
    cross-entropy loss, on the model's own device."""
    ensure_art()
    from art.estimators.classification import PyTorchClassifier

    device = next(model.parameters()).device
    return PyTorchClassifier(
        model=model, loss=nn.CrossEntropyLoss(), input_shape=(3, IMAGE_SIDE, IMAGE_SIDE),
        nb_classes=NUM_CLASSES, clip_values=(0.0, 1.0), preprocessing=None,
        device_type="gpu" if device.type == "cuda" else "cpu")


def art_patch_attack(estimator: Any, *, patch_side_fraction: float, learning_rate: float,
                     max_iter: int, batch_size: int,
                     distortion_scale_max: float = DISTORTION_SCALE_MAX) -> Any:
    """ART's ``AdversarialPatchPyTorch`` with the benchmark's EOT: a square patch of side
    ``patch_side_fraction`` of the image (scale drawn within ``+-SCALE_SPREAD`` of it),
    rotation ``+-ROTATION_MAX``, targeted, Adam."""
    ensure_art()
    from art.attacks.evasion import AdversarialPatchPyTorch

    side = round(patch_side_fraction * IMAGE_SIDE)
    return AdversarialPatchPyTorch(
        estimator, rotation_max=ROTATION_MAX,
        scale_min=max(0.01, patch_side_fraction - SCALE_SPREAD),
        scale_max=min(1.0, patch_side_fraction + SCALE_SPREAD),
        distortion_scale_max=distortion_scale_max, learning_rate=learning_rate,
        max_iter=max_iter, batch_size=batch_size, patch_shape=(3, side, side),
        patch_type="square", optimizer="Adam", targeted=True, summary_writer=False,
        verbose=False)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_art_patch(model: nn.Module, images: torch.Tensor, target: int, *,
                    patch_side_fraction: float = 0.5, batch_size: int, learning_rate: float,
                    chunk_iterations: int, max_iterations: int,
                    evaluate: Callable[[torch.Tensor], float], stop_at: float | None,
                    seed: int, distortion_scale_max: float = DISTORTION_SCALE_MAX
                    ) -> list[dict[str, Any]]:
    """Train ART's patch on ``images`` towards class ``target``, ``chunk_iterations`` at a
    time, until ``evaluate`` reaches ``stop_at`` or ``max_iterations`` have run.

    Args:
        model: RGB ``[0, 1]`` ``(B, 3, 224, 224)`` -> ``(B, 1000)`` logits.
        images: the training scenes ``(N, 3, 224, 224)`` in ``[0, 1]``.
        target: the ImageNet class the patch should make ``model`` say.
        patch_side_fraction: patch side over image side (ART's scale range is centred on it).
        chunk_iterations: ART iterations (epochs over ``images``) per ``generate`` call.
        evaluate: success rate in ``[0, 1]`` of a patch ``(1, 3, s, s)`` in ``[0, 1]`` (CPU,
            float32); not timed, and the global RNG state is restored around it so it
            does not change the training's random draws.
        stop_at: stop once ``evaluate`` returns at least this; ``None``: run to the end.
        seed: seeds numpy's and torch's global RNGs, which ART draws from.

    Returns one record per chunk: ``iterations`` (cumulative ART iterations), ``steps``
    (cumulative Adam steps), ``train_seconds`` (cumulative wall-clock of ``generate``
    only), ``seconds_per_iteration`` and ``seconds_per_step`` of that chunk, ``success``.
    The last record also carries the final ``patch`` tensor ``(1, 3, s, s)``.
    """
    if images.ndim != 4 or tuple(images.shape[1:]) != (3, IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"images must be (N, 3, {IMAGE_SIDE}, {IMAGE_SIDE}), "
                         f"got {tuple(images.shape)}")
    if not 0 <= target < NUM_CLASSES:
        raise ValueError(f"target must be an ImageNet class 0..{NUM_CLASSES - 1}, got {target}")
    if chunk_iterations < 1 or max_iterations < chunk_iterations or batch_size < 1:
        raise ValueError("need chunk_iterations >= 1, max_iterations >= chunk_iterations "
                         "and batch_size >= 1")
    if not 0.0 < patch_side_fraction <= 1.0:
        raise ValueError(f"patch_side_fraction must be in (0, 1], got {patch_side_fraction}")
    np.random.seed(seed)
    torch.manual_seed(seed)
    estimator = art_classifier(model)
    attack = art_patch_attack(estimator, patch_side_fraction=patch_side_fraction,
                              learning_rate=learning_rate, max_iter=chunk_iterations,
                              batch_size=batch_size, distortion_scale_max=distortion_scale_max)
    x = images.detach().cpu().float().numpy()
    y = np.full(x.shape[0], target, dtype=np.int64)
    steps_per_iteration = math.ceil(x.shape[0] / batch_size)
    device = estimator.device
    records: list[dict[str, Any]] = []
    iterations, train_seconds = 0, 0.0
    patch = torch.empty(0)
    while iterations < max_iterations:
        attack.max_iter = min(chunk_iterations, max_iterations - iterations)
        _synchronize(device)
        start = time.perf_counter()
        patch_array, _ = attack.generate(x=x, y=y)
        _synchronize(device)
        seconds = time.perf_counter() - start
        iterations += attack.max_iter
        train_seconds += seconds
        patch = torch.from_numpy(patch_array).float().unsqueeze(0)
        numpy_state, torch_state = np.random.get_state(), torch.get_rng_state()
        success = float(evaluate(patch.clone()))
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        records.append({
            "iterations": iterations, "steps": iterations * steps_per_iteration,
            "train_seconds": train_seconds,
            "seconds_per_iteration": seconds / attack.max_iter,
            "seconds_per_step": seconds / (attack.max_iter * steps_per_iteration),
            "success": success})
        logger.info("ART: %d iterations (%d steps), %.1f s training (%.2f s/iteration), "
                    "success %.3f", iterations, records[-1]["steps"], train_seconds,
                    records[-1]["seconds_per_iteration"], success)
        if stop_at is not None and success >= stop_at:
            break
    records[-1]["patch"] = patch
    return records


def art_paste_evaluator(model: nn.Module, images: torch.Tensor, target: int, *,
                        scale: float = 0.5, seed: int = 1234, batch_size: int = 25
                        ) -> Callable[[torch.Tensor], float]:
    """``evaluate(patch)``: the fraction of ``images`` that ``model`` calls ``target``
    (top-1) once ART's own ``apply_patch(x, scale)`` has pasted ``patch`` on each (random
    place, rotation and perspective as in training, fixed scale; the same draws for
    every patch, from ``seed``)."""
    # Only this attack's apply_patch is used (with the patch passed in), never its training.
    paster = art_patch_attack(art_classifier(model), patch_side_fraction=scale,
                              learning_rate=0.0, max_iter=1, batch_size=batch_size)
    x = images.detach().cpu().float().numpy()
    device = next(model.parameters()).device

    def evaluate(patch: torch.Tensor) -> float:
        paster.patch_shape = tuple(patch.shape[1:])  # the mask ART pastes with follows it
        np.random.seed(seed)
        torch.manual_seed(seed)
        patched = paster.apply_patch(x, scale=scale,
                                     patch_external=patch[0].detach().cpu().numpy())
        hits = 0
        with torch.no_grad():
            for chunk in torch.from_numpy(patched).split(batch_size):
                hits += int((model(chunk.to(device)).argmax(dim=1) == target).sum())
        return hits / x.shape[0]

    return evaluate


def main(argv: list[str] | None = None) -> int:
    """Self-check: ART's patch for MobileNetV2, cat -> ``--target``, on the train split,
    success measured with ART's ``apply_patch`` on the held-out split."""
    parser = argparse.ArgumentParser(description="ART patch self-check: cat -> target.")
    parser.add_argument("--target", type=int, default=341, help="ImageNet class (341: hog)")
    parser.add_argument("--chunks", type=int, default=3)
    parser.add_argument("--chunk-iterations", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--train-count", type=int, default=64)
    parser.add_argument("--stop-at", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from patch_data import cat_scenes

    from chickensaviour.models import load_model

    model = load_model("mobilenet_v2").with_fit("stretch")
    train = cat_scenes("train", model=model, count=args.train_count, seed=args.seed)
    held_out = cat_scenes("held_out", model=model)
    evaluate = art_paste_evaluator(model, held_out.images, args.target)
    records = train_art_patch(
        model, train.images, args.target, batch_size=args.batch_size,
        learning_rate=args.learning_rate, chunk_iterations=args.chunk_iterations,
        max_iterations=args.chunks * args.chunk_iterations, evaluate=evaluate,
        stop_at=args.stop_at, seed=args.seed)
    report = {
        "torch_threads": torch.get_num_threads(), "device": str(next(model.parameters()).device),
        "train": len(train), "train_dropped": train.dropped, "held_out": len(held_out),
        "held_out_dropped": held_out.dropped, "held_out_missed": held_out.missed,
        "target": args.target, "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "chunks": [{k: v for k, v in r.items() if k != "patch"} for r in records],
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
