"""``ImageClassifier``: any classification network behind the library's tensor contract.

Callers pass float RGB ``(B, 3, H, W)`` in ``[0, 1]`` of any size; the wrapper crops or
stretches, resizes (differentiably, with antialiasing), turns the image into what the
network was trained on (grey for 1-channel models, BGR for Caffe-style ones) and
normalises inside, so attacks see pixels, never normalised values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.labels import LabelSet, imagenet_classes

Fit = Literal["crop", "stretch"]
ChannelOrder = Literal["RGB", "BGR"]
#: ITU-R BT.601 luma, the grey OpenCV and PIL make from RGB.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class Prediction:
    """Top-k classes of one image: indices, names and softmax probabilities, best first."""

    indices: tuple[int, ...]
    names: tuple[str, ...]
    probabilities: tuple[float, ...]

    def __post_init__(self) -> None:
        if not (len(self.indices) == len(self.names) == len(self.probabilities)):
            raise ChickenSaviourError("indices, names and probabilities must have the same length")
        if any(not 0.0 <= p <= 1.0 + 1e-6 for p in self.probabilities):
            raise ChickenSaviourError("probabilities must lie in [0, 1]")

    @property
    def top1(self) -> tuple[int, str, float]:
        return self.indices[0], self.names[0], self.probabilities[0]

    def probability(self, index: int) -> float:
        """The probability of class ``index``; 0.0 when it is not among the top k."""
        for candidate, probability in zip(self.indices, self.probabilities, strict=True):
            if candidate == index:
                return probability
        return 0.0


class Predicting:
    """``probabilities`` and ``predict`` for a classifier module with ``device`` and
    ``classes`` (the zoo's wrapper, ensembles, defended models)."""

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities ``(B, num_classes)``, computed in eval mode."""
        module: Any = self
        was_training = module.training
        module.eval()
        try:
            return module(images.to(module.device)).softmax(dim=1)
        finally:
            module.train(was_training)

    def predict(self, images: torch.Tensor, k: int = 5) -> list[Prediction]:
        """Top-``k`` predictions for every image of the batch."""
        module: Any = self
        return top_k(self.probabilities(images), k, module.classes)


class ImageClassifier(Predicting, nn.Module):
    """Wrap ``net`` (which expects normalised ``input_size`` images) for ``[0, 1]`` inputs.

    Args:
        net: the classification network, returning ``(B, num_classes)`` logits.
        name: the zoo name, for messages.
        input_size: side of the square image ``net`` was trained on (224, 240, ...).
        mean, std: per-channel normalisation applied after resizing, in ``[0, 1]`` units
            and in the network's channel order (one value each for a grey model).
        channels: 3, or 1 for grey-scale networks (RGB becomes BT.601 luma inside).
        channel_order: ``"BGR"`` for networks trained on BGR input (Caffe's ResNet-50).
        classes: the label set (default ImageNet-1k's); its size must match the head.
        identity: what caches (refined blocks) key this model by: ``name`` for the
            zoo, name plus a hash of the weights for model cards.
        crop_pct: with ``fit="crop"``, the centre square kept is ``crop_pct`` of the
            shorter side (torchvision's Resize(256) + CenterCrop(224) is 0.875).
        fit: ``"crop"`` (centre crop, as in ImageNet evaluation) or ``"stretch"`` (the
            whole image squashed to a square, for regions and patches).

    Shape:
        - images: ``(B, 3, H, W)`` in ``[0, 1]``, any ``H, W >= 1``.
        - output: ``(B, num_classes)`` logits.

    Example: ``logits = load_model("mobilenet_v2")(images)``
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        name: str,
        input_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        crop_pct: float = 0.875,
        fit: Fit = "crop",
        classes: LabelSet | None = None,
        channels: int = 3,
        channel_order: ChannelOrder = "RGB",
        identity: str | None = None,
    ) -> None:
        super().__init__()
        if input_size < 8:
            raise ChickenSaviourError(f"input_size must be >= 8, got {input_size}")
        if channels not in (1, 3):
            raise ChickenSaviourError(f"channels must be 1 or 3, got {channels}")
        if channel_order not in ("RGB", "BGR"):
            raise ChickenSaviourError(f"channel order must be RGB or BGR, got {channel_order!r}")
        if len(mean) != channels or len(std) != channels:
            raise ChickenSaviourError(
                f"mean and std need {channels} value(s) each, got {len(mean)} and {len(std)}")
        if any(value <= 0 for value in std):
            raise ChickenSaviourError(f"std values must be positive, got {list(std)}")
        if not 0.0 < crop_pct <= 1.0:
            raise ChickenSaviourError(f"crop_pct must be in (0, 1], got {crop_pct}")
        if fit not in ("crop", "stretch"):
            raise ChickenSaviourError(f"fit must be 'crop' or 'stretch', got {fit!r}")
        self.net = net
        self.name = name
        self.identity = identity or name  # names the weights too, for caches
        self.input_size = input_size
        self.crop_pct = crop_pct
        self.fit: Fit = fit
        self.classes = classes if classes is not None else imagenet_classes()
        self.channels = channels
        self.channel_order: ChannelOrder = channel_order
        shape = (1, channels, 1, 1)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(shape),
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(shape),
                             persistent=False)
        self.register_buffer("luma", torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1),
                             persistent=False)

    def with_fit(self, fit: Fit) -> ImageClassifier:
        """The same network (shared weights) with another crop/stretch policy."""
        if fit not in ("crop", "stretch"):
            raise ChickenSaviourError(f"fit must be 'crop' or 'stretch', got {fit!r}")
        if fit == self.fit:
            return self
        view = copy.copy(self)
        view.fit = fit
        return view

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def to_input_size(self, images: torch.Tensor) -> torch.Tensor:
        """Crop (``fit="crop"``) and resize to ``input_size``, still in ``[0, 1]``.

        Regions of different sizes go through this before they are batched together.
        """
        check_images(images)
        x = images
        if self.fit == "crop":
            height, width = x.shape[-2:]
            side = max(1, round(min(height, width) * self.crop_pct))
            top, left = (height - side) // 2, (width - side) // 2
            x = x[:, :, top : top + side, left : left + side]
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = F.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear",
                align_corners=False, antialias=True,
            )
        return x

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """RGB ``[0, 1]`` images of any size -> the network's input: grey or BGR as it was
        trained, then its mean/std normalisation. Differentiable."""
        if self.channels == 1:
            images = (images * self.luma).sum(dim=1, keepdim=True)
        elif self.channel_order == "BGR":
            images = images.flip(1)
        return (images - self.mean) / self.std

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Crop/resize to ``input_size`` and normalise; differentiable in ``images``."""
        return self.normalize(self.to_input_size(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self.preprocess(images))



def top_k(probabilities: torch.Tensor, k: int, classes: LabelSet) -> list[Prediction]:
    """Turn ``(B, C)`` probabilities into one :class:`Prediction` per row."""
    values, indices = probabilities.topk(min(k, probabilities.shape[1]), dim=1)
    return [
        Prediction(
            indices=tuple(int(i) for i in row_i),
            names=tuple(classes.name(int(i)) for i in row_i),
            probabilities=tuple(float(p) for p in row_p),
        )
        for row_i, row_p in zip(indices.cpu(), values.cpu(), strict=True)
    ]


def check_images(images: torch.Tensor) -> None:
    """Raise a clear error unless ``images`` follows the ``(B, 3, H, W)`` float contract."""
    if not isinstance(images, torch.Tensor):
        raise ChickenSaviourError(f"expected a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ChickenSaviourError(
            f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ChickenSaviourError(f"expected float images in [0, 1], got dtype {images.dtype}")
    if images.shape[0] == 0 or images.shape[2] == 0 or images.shape[3] == 0:
        raise ChickenSaviourError(f"empty image batch {tuple(images.shape)}")
