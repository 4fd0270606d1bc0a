"""The offline model zoo: ImageNet classifiers ("hunters") wrapped to the tensor contract."""

from __future__ import annotations

from chickensaviour.zoo.registry import (
    DEFAULT_MODEL,
    OFFLINE_MODELS,
    ModelInfo,
    describe_models,
    load_model,
)
from chickensaviour.zoo.wrapper import ImageClassifier, Prediction

__all__ = [
    "DEFAULT_MODEL",
    "OFFLINE_MODELS",
    "ImageClassifier",
    "ModelInfo",
    "Prediction",
    "describe_models",
    "load_model",
]
