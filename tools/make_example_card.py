"""Train a tiny chicken/fox/background classifier and write it as a model card.

The "own model" example of the README: a timm network (``test_efficientnet`` by
default, 100k parameters) learns three classes from generated, seeded pictures - a
chicken is a red disk, a fox an orange triangle, background is textured noise - in a few
seconds on a CPU. The folder written holds everything ``--model CARD.json`` needs, plus a
photo and a short clip to attack and render::

    OUT/card.json            the model card (architecture, weights, labels, input size...)
    OUT/weights.safetensors  the trained weights
    OUT/labels.txt           chicken, fox, background (one per line)
    OUT/chicken.png          a 160x160 photo of a chicken
    OUT/chicken_clip.mp4     a chicken walking across the frame (160x120, 10 fps)
    OUT/chicken_fox.onnx     with --onnx: the same network exported to ONNX,
    OUT/card_onnx.json       and its card (architecture onnx:chicken_fox.onnx)

Run from the repository root::

    .venv/bin/python tools/make_example_card.py --out chicken_fox
    .venv/bin/chickensaviour attack chicken_fox/chicken.png --model chicken_fox/card.json \\
        --target fox --out attacked

Deterministic up to the CPU's float rounding: the pictures come from a seeded NumPy
generator and training from a seeded torch generator.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LABELS = ("chicken", "fox", "background")
ARCHITECTURE = "timm:test_efficientnet"
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)
CHICKEN_BGR = (40, 30, 215)  # a red disk
FOX_BGR = (0, 130, 250)  # an orange triangle


@dataclass(frozen=True)
class Trained:
    """A trained network and how well it fits its training pictures."""

    net: nn.Module
    accuracy: float
    epochs: int
    seconds: float


def texture(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth, muted colour noise (a BGR uint8 background): grass, soil, a yard."""
    cells = rng.integers(3, 9)
    coarse = rng.random((cells, cells, 3)) * 0.45 + 0.15
    base = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0.0, 0.05, (height, width, 3))
    return (np.clip(base + grain, 0.0, 1.0) * 255).astype(np.uint8)


def draw_animal(picture: np.ndarray, kind: int, centre: tuple[float, float], radius: float,
                rng: np.random.Generator) -> None:
    """Draw a chicken (0: disk) or a fox (1: triangle) in place; 2 draws nothing."""
    jitter = rng.integers(-20, 21, 3)
    cx, cy = centre
    if kind == 0:
        colour = tuple(int(c) for c in np.clip(np.array(CHICKEN_BGR) + jitter, 0, 255))
        cv2.circle(picture, (round(cx), round(cy)), round(radius), colour, -1, cv2.LINE_AA)
    elif kind == 1:
        colour = tuple(int(c) for c in np.clip(np.array(FOX_BGR) + jitter, 0, 255))
        corners = np.array([[cx, cy - radius], [cx - radius, cy + radius * 0.8],
                            [cx + radius, cy + radius * 0.8]])
        cv2.fillPoly(picture, [np.round(corners).astype(np.int32)], colour, cv2.LINE_AA)


def scene(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One ``size`` x ``size`` BGR picture of class ``kind``, drawn at twice the size and
    shrunk (area averaging), as the classifier's antialiased resize would show it."""
    big = size * 2
    picture = texture(big, big, rng)
    radius = rng.uniform(big / 7, big / 3.2)
    centre = (rng.uniform(radius, big - radius), rng.uniform(radius, big - radius))
    draw_animal(picture, kind, centre, radius, rng)
    return cv2.resize(picture, (size, size), interpolation=cv2.INTER_AREA)


def dataset(count: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` pictures, classes in turn: RGB ``(N, 3, size, size)`` in [0, 1], labels."""
    rng = np.random.default_rng(seed)
    pictures = [scene(i % len(LABELS), size, rng)[..., ::-1] for i in range(count)]
    images = torch.from_numpy(np.stack(pictures).copy()).permute(0, 3, 1, 2).float() / 255
    return images, torch.arange(count) % len(LABELS)


def train(images: torch.Tensor, labels: torch.Tensor, *, architecture: str = ARCHITECTURE,
          max_epochs: int = 12, goal: float = 0.98, seed: int = 0) -> Trained:
    """Train a new ``timm:``/``torchvision:`` network on normalised ``images`` until its
    eval-mode accuracy on them reaches ``goal`` (or ``max_epochs`` pass)."""
    torch.manual_seed(seed)
    net = build(architecture, len(LABELS))
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    inputs = (images - mean) / std
    optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    accuracy, epoch = 0.0, 0
    for epoch in range(1, max_epochs + 1):
        net.train()
        for batch in torch.randperm(len(inputs), generator=generator).split(32):
            flipped = inputs[batch].flip(3) if epoch % 2 else inputs[batch]
            loss = F.cross_entropy(net(flipped), labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        accuracy = evaluate(net, inputs, labels)
        if accuracy >= goal:
            break
    return Trained(net.eval(), accuracy, epoch, time.perf_counter() - started)


@torch.no_grad()
def evaluate(net: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Eval-mode top-1 accuracy of ``net`` on normalised ``inputs``."""
    net.eval()
    predicted = torch.cat([net(chunk).argmax(1) for chunk in inputs.split(128)])
    return float((predicted == labels).float().mean())


def build(architecture: str, num_classes: int) -> nn.Module:
    """A new network as a model card builds it (``timm:NAME`` or ``torchvision:NAME``)."""
    family, _, name = architecture.partition(":")
    if family == "timm":
        import timm

        return timm.create_model(name, pretrained=False, num_classes=num_classes)
    if family == "torchvision":
        from torchvision import models

        return models.get_model(name, weights=None, num_classes=num_classes)
    raise SystemExit(f"architecture must be timm:NAME or torchvision:NAME, got {architecture}")


def write_card(folder: Path, net: nn.Module, size: int,
               architecture: str = ARCHITECTURE) -> Path:
    """Write ``weights.safetensors``, ``labels.txt`` and ``card.json`` into ``folder``."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().contiguous() for key, value in net.state_dict().items()}
    save_file(state, str(folder / "weights.safetensors"))
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    card = {
        "name": "chicken_fox",
        "description": "Toy chicken/fox/background classifier from tools/make_example_card.py",
        "architecture": architecture,
        "weights": "weights.safetensors",
        "labels": "labels.txt",
        "input_size": size,
        "resize": size,
        "mean": list(MEAN),
        "std": list(STD),
        "channels": 3,
    }
    return dump_card(card, folder / "card.json")


def dump_card(card: dict[str, object], path: Path) -> Path:
    """Write ``card`` as indented JSON, each list on one line (as people write mean/std)."""
    text = json.dumps(card, indent=2)
    text = re.sub(r"\[\s+([^\[\]]*?)\s+\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]",
                  text)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def write_onnx_card(folder: Path, net: nn.Module, size: int) -> Path:
    """Export ``net`` to ``chicken_fox.onnx`` (any batch size) and write ``card_onnx.json``,
    the same model as an ``onnx:`` card (no weights key: the ONNX file holds them)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(net.eval(), (torch.zeros(1, 3, size, size),),
                          str(folder / "chicken_fox.onnx"), dynamo=False,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    card.pop("weights")
    card.update(name="chicken_fox_onnx", architecture="onnx:chicken_fox.onnx")
    return dump_card(card, folder / "card_onnx.json")


def write_photo(path: Path, seed: int = 1, size: int = 160) -> Path:
    """A ``size`` x ``size`` photo of a chicken in the middle of a yard."""
    rng = np.random.default_rng(seed)
    picture = texture(size, size, rng)
    draw_animal(picture, 0, (size / 2, size / 2), size / 4, rng)
    if not cv2.imwrite(str(path), picture):
        raise SystemExit(f"cannot write {path}")
    return path


def write_clip(path: Path, frames: int = 12, seed: int = 2, width: int = 160,
               height: int = 120, fps: float = 10.0) -> Path:
    """A chicken crossing a still yard from left to right (MP4, ``mp4v``)."""
    rng = np.random.default_rng(seed)
    yard = texture(height, width, rng)
    radius = height / 5
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps,
                             (width, height))
    if not writer.isOpened():
        raise SystemExit(f"cannot write {path}")
    try:
        for index in range(frames):
            frame = yard.copy()
            x = radius + (width - 2 * radius) * index / max(1, frames - 1)
            draw_animal(frame, 0, (x, height / 2 + 4 * np.sin(index)), radius,
                        np.random.default_rng(seed))
            writer.write(frame)
    finally:
        writer.release()
    return path


def make_example(folder: Path, *, size: int = 48, count: int = 450, seed: int = 0,
                 architecture: str = ARCHITECTURE) -> tuple[Path, Trained]:
    """Train the model and write the card, weights, labels, photo and clip to ``folder``."""
    images, labels = dataset(count, size, seed)
    trained = train(images, labels, architecture=architecture, seed=seed)
    card = write_card(folder, trained.net, size, architecture)
    write_photo(folder / "chicken.png")
    write_clip(folder / "chicken_clip.mp4")
    return card, trained


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    parser.add_argument("--size", type=int, default=48, help="input size (default 48)")
    parser.add_argument("--images", type=int, default=450, help="training pictures (450)")
    parser.add_argument("--architecture", default=ARCHITECTURE,
                        help=f"timm:NAME or torchvision:NAME (default {ARCHITECTURE})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--onnx", action="store_true",
                        help="also export chicken_fox.onnx and its card, card_onnx.json")
    args = parser.parse_args(argv)
    card, trained = make_example(args.out, size=args.size, count=args.images, seed=args.seed,
                                 architecture=args.architecture)
    print(f"trained {args.architecture} on {args.images} pictures: {trained.accuracy:.1%} "
          f"train accuracy after {trained.epochs} epochs ({trained.seconds:.1f} s)")
    names = ["card.json", "weights.safetensors", "labels.txt", "chicken.png",
             "chicken_clip.mp4"]
    if args.onnx:
        write_onnx_card(args.out, trained.net, args.size)
        names += ["chicken_fox.onnx", "card_onnx.json"]
    for name in names:
        print(f"wrote {card.parent / name}")
    if trained.accuracy < 0.9:
        print("warning: the model fits its pictures poorly; try --images 900",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
