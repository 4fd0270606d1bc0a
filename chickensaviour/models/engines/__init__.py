"""Forward-only engines for the live view: ONNX Runtime where it works, else PyTorch.

The detector's per-frame forward and the hunter's classification only need outputs, no
gradients, and ONNX Runtime runs them about twice as fast on a CPU. The graphs are
exported from the very modules PyTorch runs (gradient stages keep using PyTorch), checked
against PyTorch on a probe input and cached on disk.

Example::

    engine = classifier_engine(model)             # engine.name: "onnxruntime"
    logits = engine(model.to_input_size(frames))  # == model.net(model.normalize(...))
"""

from __future__ import annotations

from chickensaviour.models.engines.base import (
    ForwardEngine,
    OnnxEngine,
    TorchEngine,
    onnxruntime_problem,
    session_options,
)
from chickensaviour.models.engines.factories import ENGINES, classifier_engine, nanodet_engine

__all__ = ["ENGINES", "ForwardEngine", "OnnxEngine", "TorchEngine", "classifier_engine",
           "nanodet_engine", "onnxruntime_problem", "session_options"]
