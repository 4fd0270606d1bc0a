"""The engines themselves: one forward pass through ONNX Runtime or through PyTorch.

Both take and return torch tensors, so callers never see numpy. ONNX Runtime runs on the
CPU only; the PyTorch engine runs wherever its module lives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch

from chickensaviour.errors import ChickenSaviourError, one_line

logger = logging.getLogger(__name__)

EngineName = Literal["onnxruntime", "pytorch"]
EngineOutput = torch.Tensor | tuple[torch.Tensor, ...]
InputCheck = Callable[[torch.Tensor], None]


@runtime_checkable
class ForwardEngine(Protocol):
    """A forward-only function of one float32 batch, no gradients.

    Attributes:
        name: ``"onnxruntime"`` or ``"pytorch"``.
        reason: why PyTorch is used (the export or runtime problem); ``""`` otherwise.
    """

    name: str
    reason: str

    def __call__(self, x: torch.Tensor) -> EngineOutput: ...


@lru_cache(maxsize=1)
def onnxruntime_problem() -> str:
    """``""`` when ``onnxruntime`` can be imported, else one line saying why not."""
    try:
        import onnxruntime  # noqa: F401
    except Exception as exc:  # ImportError, or a broken native library
        return f"onnxruntime cannot be imported ({one_line(exc)})"
    return ""


def session_options(threads: int | None = None) -> Any:
    """ONNX Runtime options for the live view's small, latency-bound forwards.

    ``threads`` intra-op threads (default 1): on a 2-core laptop the capture thread, the
    GUI painter and the hunter each need a core now and then; one inference thread per
    engine costs little for batch-1 CNNs and never starves them. Spinning is off for the
    same reason: ORT's worker threads busy-wait between ops by default, burning a core
    the painter needs. One inter-op thread and sequential execution: these graphs are
    chains, there is nothing to run in parallel.
    """
    import onnxruntime as ort

    if threads is not None and threads < 1:
        raise ChickenSaviourError(f"threads must be >= 1, got {threads}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: ORT's warnings are for developers
    return options


def create_session(graph: bytes, threads: int | None = None) -> Any:
    """An ``InferenceSession`` on the CPU for a serialised ONNX graph."""
    import onnxruntime as ort

    return ort.InferenceSession(graph, sess_options=session_options(threads),
                                providers=["CPUExecutionProvider"])


class OnnxEngine:
    """Runs an exported graph with ONNX Runtime on the CPU.

    Owner: any thread. ``InferenceSession.run`` is thread-safe and the engine holds no
    other mutable state, so the engine may be shared; concurrent calls share the
    session's intra-op thread pool (and so queue behind each other on its threads).

    Shape: ``x`` as the graph's single input (float, any device; copied to a contiguous
    float32 CPU array); outputs are float32 CPU tensors, one or a tuple as ``tuple_out``.
    """

    name: str = "onnxruntime"
    reason: str = ""

    def __init__(self, session: Any, *, check: InputCheck, tuple_out: bool,
                 description: str) -> None:
        self.session = session
        self.check = check
        self.tuple_out = tuple_out
        self.description = description
        self._input = session.get_inputs()[0].name
        self._outputs: Sequence[str] = [o.name for o in session.get_outputs()]

    def __call__(self, x: torch.Tensor) -> EngineOutput:
        self.check(x)
        array = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        outputs = self.session.run(self._outputs, {self._input: array})
        tensors = tuple(torch.from_numpy(np.asarray(out)) for out in outputs)
        return tensors if self.tuple_out else tensors[0]

    def __repr__(self) -> str:
        return f"OnnxEngine({self.description})"


class TorchEngine:
    """Runs a PyTorch function under ``torch.no_grad()``: the fallback engine.

    Owner: the caller of the shared model; the forward only reads it (eval mode, frozen),
    so threads may share the engine as they share the model.
    """

    name: str = "pytorch"

    def __init__(self, forward: Callable[[torch.Tensor], EngineOutput], *, check: InputCheck,
                 reason: str, description: str) -> None:
        self.forward = forward
        self.check = check
        self.reason = reason
        self.description = description

    def __call__(self, x: torch.Tensor) -> EngineOutput:
        self.check(x)
        with torch.no_grad():
            return self.forward(x)

    def __repr__(self) -> str:
        return f"TorchEngine({self.description}, reason={self.reason!r})"
