"""Input-transformation defences as model wrappers, and the attacker who sees through them.

A :class:`Defence` maps float RGB ``(B, 3, H, W)`` in ``[0, 1]`` to images of the same
shape and range. ``defence(x)`` is the real transform; ``defence.adaptive(x)`` is what an
adaptive attacker differentiates through (Athalye et al., "Obfuscated Gradients Give a
False Sense of Security", 2018): the transform itself where it is differentiable (blur,
random resize-and-pad), BPDA / straight-through ``x + (f(x) - x).detach()`` for JPEG, the
median filter and bit-depth reduction.

:class:`DefendedClassifier` puts a defence in front of a classifier. The naive attacker
(what ``lab defend`` reports as naive success) attacks the *undefended* model and the
defended one is then asked; the adaptive attacker attacks
:meth:`DefendedClassifier.attacker_view`, which differentiates through ``adaptive`` and
averages random defences over several draws (expectation over transformation, EOT).

Example: ``defended = DefendedClassifier(model, parse_defences("jpeg:75")[0])``
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

import torch
from torch import nn

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.labels import LabelSet
from chickensaviour.models.defence_ops import (
    bit_depth,
    check_bits,
    check_median_size,
    check_quality,
    check_scales,
    check_sigma,
    gaussian_blur,
    jpeg_compression,
    median_filter,
    random_resize_pad,
    straight_through,
)
from chickensaviour.models.ensemble import EnsembleClassifier
from chickensaviour.models.wrapper import (
    Fit,
    ImageClassifier,
    Predicting,
    check_images,
)

Classifier = ImageClassifier | EnsembleClassifier


# ---------------------------------------------------------------- modules


class Defence(nn.Module):
    """Base class: ``forward`` is the real transform, ``adaptive`` what an adaptive
    attacker differentiates through (the transform itself unless a subclass says otherwise).

    ``name`` is the parser's name (``"jpeg"``), ``spec`` the full setting (``"jpeg:75"``,
    :func:`parse_defences` reads it back), ``random`` whether two calls may differ.

    Shape: ``(B, 3, H, W)`` in ``[0, 1]`` -> the same shape, range and dtype.
    """

    name: str = "defence"
    random: bool = False

    @property
    def spec(self) -> str:
        raise NotImplementedError

    def adaptive(self, images: torch.Tensor) -> torch.Tensor:
        """What the adaptive attacker differentiates through."""
        return self(images)

    def extra_repr(self) -> str:
        return repr(self.spec)


class StraightThroughDefence(Defence):
    """A defence without useful gradients; the attacker uses BPDA (identity backward)."""

    def adaptive(self, images: torch.Tensor) -> torch.Tensor:
        return straight_through(images, self(images))


class GaussianBlur(Defence):
    """Gaussian blur of standard deviation ``sigma`` pixels (exact gradients).

    Example: ``GaussianBlur(1.5)(images)``
    """

    name = "blur"

    def __init__(self, sigma: float = 1.0) -> None:
        super().__init__()
        check_sigma(sigma)
        self.sigma = float(sigma)

    @property
    def spec(self) -> str:
        return f"blur:{self.sigma:g}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return gaussian_blur(images, self.sigma)


class MedianFilter(StraightThroughDefence):
    """Median filter over ``size x size`` windows (odd ``size >= 3``); BPDA for attackers."""

    name = "median"

    def __init__(self, size: int = 3) -> None:
        super().__init__()
        check_median_size(size)
        self.size = size

    @property
    def spec(self) -> str:
        return f"median:{self.size}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return median_filter(images, self.size)


class JpegCompression(StraightThroughDefence):
    """A real JPEG round trip at ``quality`` (1..100, OpenCV); BPDA for attackers."""

    name = "jpeg"

    def __init__(self, quality: int = 75) -> None:
        super().__init__()
        check_quality(quality)
        self.quality = quality

    @property
    def spec(self) -> str:
        return f"jpeg:{self.quality}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return jpeg_compression(images, self.quality)


class BitDepth(StraightThroughDefence):
    """Bit-depth reduction to ``bits`` (1..8) per channel; BPDA for attackers."""

    name = "bits"

    def __init__(self, bits: int = 4) -> None:
        super().__init__()
        check_bits(bits)
        self.bits = bits

    @property
    def spec(self) -> str:
        return f"bits:{self.bits}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return bit_depth(images, self.bits)


class RandomResizePad(Defence):
    """Random downscale by a factor in ``[min_scale, max_scale]`` then random zero padding
    back to the original size (Xie et al. 2018), a fresh draw per image and call.

    ``seed`` makes the sequence of draws reproducible; ``None`` seeds from the system.
    The adaptive attacker differentiates through the random transform itself and averages
    over draws (EOT) in :class:`DefendedClassifier`.
    """

    name = "resize"
    random = True

    def __init__(self, min_scale: float = 0.85, max_scale: float = 1.0,
                 seed: int | None = None) -> None:
        super().__init__()
        check_scales(min_scale, max_scale)
        self.min_scale = float(min_scale)
        self.max_scale = float(max_scale)
        self.generator = torch.Generator(device="cpu")
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)

    @property
    def spec(self) -> str:
        if (self.min_scale, self.max_scale) == (0.85, 1.0):
            return "resize"
        if self.max_scale == 1.0:
            return f"resize:{self.min_scale:g}"
        return f"resize:{self.min_scale:g}-{self.max_scale:g}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return random_resize_pad(images, self.min_scale, self.max_scale, self.generator)

    # A pickled copy (a Ray worker, deepcopy) continues the same sequence of draws.
    def __getstate__(self) -> dict[str, object]:
        state = dict(super().__getstate__())
        state["generator"] = self.generator.get_state()
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        generator_state = state.pop("generator")
        super().__setstate__(state)
        self.generator = torch.Generator(device="cpu")
        self.generator.set_state(generator_state)  # type: ignore[arg-type]


# ---------------------------------------------------------------- parsing

_USAGE = "blur[:SIGMA], median[:SIZE], jpeg[:QUALITY], bits[:BITS], resize[:MIN[-MAX]]"


def parse_defences(text: str, *, seed: int | None = None) -> list[Defence]:
    """``"blur:1.5,median:3,jpeg:75,bits:4,resize"`` -> the defences, in order.

    Defaults: blur 1.0, median 3, jpeg 75, bits 4, resize 0.85-1.0. Each defence's
    ``spec`` parses back to the same defence. Raises a one-line
    :class:`ChickenSaviourError` for unknown names and bad values. ``seed`` seeds the
    random defences (the same draws on every run); ``None`` draws fresh ones.
    """
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise ChickenSaviourError(f"no defences given; defences: {_USAGE}")
    return [_parse_one(item, seed) for item in items if item]


#: Deterministic defences by name: the class and how its one value is read.
_FIXED: dict[str, tuple[type[Defence], type]] = {
    "blur": (GaussianBlur, float), "median": (MedianFilter, int),
    "jpeg": (JpegCompression, int), "bits": (BitDepth, int)}


def _parse_one(item: str, seed: int | None = None) -> Defence:
    name, _, value = (part.strip() for part in item.partition(":"))
    name = name.lower()
    try:
        if name in _FIXED:  # the class's own default when no value is given
            kind, convert = _FIXED[name]
            return kind(convert(value)) if value else kind()
        if name == "resize":
            if not value:
                return RandomResizePad(seed=seed)
            low, _, high = value.partition("-")
            return RandomResizePad(float(low), float(high) if high else 1.0, seed=seed)
    except ValueError as exc:  # int("x"), float("x") and the defences' own checks
        reason = str(exc) if isinstance(exc, ChickenSaviourError) else f"bad value {value!r}"
        raise ChickenSaviourError(f"bad defence {item!r}: {reason}; defences: {_USAGE}") from None
    raise ChickenSaviourError(f"unknown defence {name!r}; defences: {_USAGE}")


# ---------------------------------------------------------------- the wrapper


class DefendedClassifier(Predicting, nn.Module):
    """A classifier behind a defence: ``model(defence(x))``, the defence applied to the
    network's own input (see :meth:`_classify`).

    Args:
        model: an :class:`ImageClassifier` or :class:`EnsembleClassifier`.
        defence: the input transformation.
        adaptive: if true, forward is ``model(defence.adaptive(x))``, the view an adaptive
            attacker differentiates through; if false, the real defence (gradients through
            JPEG, median and bit-depth are then whatever torch gives: zero or useless).
        eot_samples: with ``adaptive`` and a random defence, the logits are averaged over
            this many draws (expectation over transformation, Athalye et al. 2018).

    The naive attacker attacks the undefended ``model`` and only the evaluation goes
    through the defence; :meth:`attacker_view` is what the adaptive attacker attacks.

    Shape:
        - images: ``(B, 3, H, W)`` in ``[0, 1]``.
        - output: ``(B, num_classes)`` logits.

    Example: ``PGD(eps=8/255)(defended.attacker_view(), x, untargeted(labels))``
    """

    def __init__(self, model: Classifier, defence: Defence, *, adaptive: bool = False,
                 eot_samples: int = 1) -> None:
        super().__init__()
        if not isinstance(defence, Defence):
            raise ChickenSaviourError(f"expected a Defence, got {type(defence).__name__}")
        if isinstance(eot_samples, bool) or not isinstance(eot_samples, int) or eot_samples < 1:
            raise ChickenSaviourError(
                f"eot_samples must be a positive integer, got {eot_samples!r}")
        self.model = model
        self.defence = defence
        self.adaptive = bool(adaptive)
        self.eot_samples = eot_samples
        self.name = f"{model.name}[{defence.spec}]"
        self.identity = f"{model.identity}[{defence.spec}]"
        if self.adaptive:
            self.identity += f"[adaptive;eot={self.eot_samples}]"
        self.classes: LabelSet = model.classes
        self.input_size = model.input_size
        self.training = model.training  # start in the model's mode without changing it

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def fit(self) -> Fit:
        return self.model.fit

    def with_fit(self, fit: Fit) -> DefendedClassifier:
        """The same model (shared weights) and defence with another crop/stretch policy."""
        view_model = self.model.with_fit(fit)
        if view_model is self.model:
            return self
        view = DefendedClassifier(view_model, self.defence, adaptive=self.adaptive,
                                  eot_samples=self.eot_samples)
        view.train(self.training)
        return view

    def attacker_view(self) -> DefendedClassifier:
        """The adaptive view: exact/BPDA gradients, EOT over at least 8 draws when random."""
        samples = max(self.eot_samples, 8 if self.defence.random else 1)
        view = DefendedClassifier(self.model, self.defence, adaptive=True, eot_samples=samples)
        view.train(self.training)
        return view

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images)
        if not self.adaptive:
            return self._classify(images, self.defence)
        samples = self.eot_samples if self.defence.random else 1
        if samples == 1:
            return self._classify(images, self.defence.adaptive)
        # All draws in one batch: (S*B, ...) -> (S, B, C) -> mean over the draws.
        repeated = images.repeat(samples, 1, 1, 1)
        logits = self._classify(repeated, self.defence.adaptive)
        return logits.view(samples, images.shape[0], -1).mean(dim=0)

    def _classify(self, images: torch.Tensor,
                  transform: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Logits of the model with ``transform`` applied to what its network sees.

        For one model the defence runs on the network's input (its crop, resized to its
        input size), like a preprocessing layer inside the model: a blur of 1.5 pixels
        means the same on a 12 MP photo and on a thumbnail. (On the full photo the
        model's own antialiased downscaling already smooths more than the blur does, and
        blur then undoes nothing.) An ensemble gets the defence on the images."""
        if not isinstance(self.model, ImageClassifier):
            return self.model(transform(images))
        seen = self.model.to_input_size(images)
        return self.model.net(self.model.normalize(transform(seen)))


    @property
    def net(self) -> NoReturn:
        raise ChickenSaviourError(
            f"visualisations need a plain model, not a defended one ({self.name})")

    def normalize(self, images: torch.Tensor) -> NoReturn:
        raise ChickenSaviourError(
            f"visualisations need a plain model, not a defended one ({self.name})")

    def extra_repr(self) -> str:
        return f"name={self.name!r}, adaptive={self.adaptive}, eot_samples={self.eot_samples}"
