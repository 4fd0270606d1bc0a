"""The offline model zoo: ImageNet classifiers ("hunters") wrapped to the tensor contract."""

from __future__ import annotations

from chickensaviour.models.registry import (
    DEFAULT_MODEL,
    OFFLINE_MODELS,
    ModelInfo,
    describe_models,
    load_model,
)
from chickensaviour.models.wrapper import ImageClassifier, Prediction

__all__ = [
    "DEFAULT_MODEL",
    "OFFLINE_MODELS",
    "ImageClassifier",
    "ModelInfo",
    "Prediction",
    "describe_models",
    "load_model",
]
