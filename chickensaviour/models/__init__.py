"""Classifiers and detectors ("hunters") behind the library's tensor contract.

``load_model`` turns a name, a torchvision name or a model card into an
:class:`ImageClassifier`; :mod:`.protocols` says what a classifier and a differentiable
detector must offer; :mod:`.nanodet` is the COCO detector.
"""

from __future__ import annotations

from chickensaviour.models.registry import (
    DEFAULT_MODEL,
    ModelInfo,
    ModelSpec,
    describe_models,
    load_model,
    model_names,
    model_spec,
    register_model,
)
from chickensaviour.models.wrapper import ImageClassifier, Prediction

__all__ = [
    "DEFAULT_MODEL",
    "ImageClassifier",
    "ModelInfo",
    "ModelSpec",
    "Prediction",
    "describe_models",
    "load_model",
    "model_names",
    "model_spec",
    "register_model",
]
