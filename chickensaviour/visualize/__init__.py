"""Seeing what a network sees: layer outputs, Deep Dream and feature visualisation.

Composed, not configured (the lucent style): objectives with arithmetic
(``class_logit(368) - 0.5 * channel("features.10", 3)``), parameterisations returning
``(params, image_fn)``, transforms as lists of small callables, and ``render_*`` functions
that return tensors (the CLI saves them).
"""

from chickensaviour.visualize.dream import DreamSettings, deep_dream
from chickensaviour.visualize.filters import activation_grid, kernel_grid, layer_output
from chickensaviour.visualize.layers import LayerInfo, describe_layers, find_layer
from chickensaviour.visualize.objectives import (
    Objective,
    channel,
    class_log_probability,
    class_logit,
    layer_activation,
    neuron,
)
from chickensaviour.visualize.params import fourier_image, pixel_image
from chickensaviour.visualize.render import Regulariser, render_vis

__all__ = [
    "DreamSettings",
    "LayerInfo",
    "Objective",
    "Regulariser",
    "activation_grid",
    "channel",
    "class_log_probability",
    "class_logit",
    "deep_dream",
    "describe_layers",
    "find_layer",
    "fourier_image",
    "kernel_grid",
    "layer_activation",
    "layer_output",
    "neuron",
    "pixel_image",
    "render_vis",
]
