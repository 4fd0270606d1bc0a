"""``classifier_engine`` and ``nanodet_engine``: pick ONNX Runtime or PyTorch for a model.

``engine="auto"`` uses ONNX Runtime when it can be imported, the model is on the CPU and
the export, the session and a parity check all succeed; otherwise PyTorch, with the
problem in ``reason`` and a warning logged once per model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import torch
from torch import nn

from chickensaviour.errors import ChickenSaviourError, one_line
from chickensaviour.models.engines.base import (
    EngineOutput,
    ForwardEngine,
    InputCheck,
    OnnxEngine,
    TorchEngine,
    create_session,
    onnxruntime_problem,
)
from chickensaviour.models.engines.export import (
    GraphSpec,
    cached_graph,
    export_graph,
    graph_key,
    private_copy,
)
from chickensaviour.models.nanodet.net import NanoDet
from chickensaviour.models.wrapper import ImageClassifier

logger = logging.getLogger(__name__)

ENGINES = ("auto", "onnxruntime", "torch")
#: ONNX Runtime and PyTorch must agree this well on a check input (float32 logits differ
#: by ~1e-5; a wrongly traced graph differs by far more).
PARITY_ATOL = 1e-3
PARITY_RTOL = 1e-3

_warned_lock = threading.Lock()
_warned: set[str] = set()


class ClassifierGraph(nn.Module):
    """What a classifier engine computes: ``net(normalize(x))`` for input-sized images."""

    def __init__(self, model: ImageClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.net(self.model.normalize(x))


def classifier_engine(model: ImageClassifier, *, engine: str = "auto",
                      threads: int | None = None, cache: bool = True) -> ForwardEngine:
    """A forward-only engine computing ``model.net(model.normalize(x))``.

    Args:
        model: the (shared) classifier; it is never modified, the export uses a copy.
        engine: ``"auto"``, ``"onnxruntime"`` (raises :class:`ChickenSaviourError` when
            impossible) or ``"torch"``.
        threads: ONNX Runtime intra-op threads (default 1, see ``session_options``).
        cache: keep the exported graph in ``cache_dir("engines")`` for the next start.

    Shape:
        - x: ``(B, 3, S, S)`` RGB in ``[0, 1]``, ``S = model.input_size`` (already
          through ``model.to_input_size``).
        - output: ``(B, num_classes)`` logits.

    Example: ``logits = classifier_engine(model)(model.to_input_size(frames))``
    """
    size = int(model.input_size)
    identity = f"classifier {getattr(model, 'identity', model.name)}"

    def check(x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[2:]) != (size, size):
            raise ChickenSaviourError(
                f"{model.name} expects input-sized images (B, 3, {size}, {size}), "
                f"got {tuple(x.shape)}")

    graph = ClassifierGraph(model)
    generator = torch.Generator().manual_seed(0)
    spec = GraphSpec("images", ("logits",), {"images": {0: "batch"}, "logits": {0: "batch"}},
                     torch.rand(2, 3, size, size, generator=generator))
    probe = torch.rand(1, 3, size, size, generator=generator)
    return _engine(graph, model_device(model), identity=identity, spec=spec, probe=probe,
                   check=check, tuple_out=False, engine=engine, threads=threads, cache=cache)


def nanodet_engine(net: NanoDet, *, engine: str = "auto", threads: int | None = None,
                   cache: bool = True) -> ForwardEngine:
    """A forward-only engine computing ``net(x)``, the same arguments as
    :func:`classifier_engine`.

    Shape:
        - x: NanoDet's normalised, letterboxed BGR input ``(B, 3, H, W)``, ``H`` and
          ``W`` multiples of 32 (any batch and size).
        - output: ``(scores (B, N, 80), box_logits (B, N, 44))`` as ``net(x)`` returns.
    """

    def check(x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] % 32 or x.shape[3] % 32 \
                or x.shape[2] == 0 or x.shape[3] == 0:
            raise ChickenSaviourError(
                f"NanoDet expects (B, 3, H, W) with H and W multiples of 32, "
                f"got {tuple(x.shape)}")

    axes = {0: "batch", 2: "height", 3: "width"}
    generator = torch.Generator().manual_seed(0)
    spec = GraphSpec("images", ("scores", "box_logits"),
                     {"images": axes, "scores": {0: "batch", 1: "anchors"},
                      "box_logits": {0: "batch", 1: "anchors"}},
                     torch.randn(2, 3, 320, 416, generator=generator))
    probe = torch.randn(1, 3, 256, 192, generator=generator)
    return _engine(net, model_device(net), identity="nanodet", spec=spec, probe=probe,
                   check=check, tuple_out=True, engine=engine, threads=threads, cache=cache)


def model_device(module: nn.Module) -> torch.device:
    """Where ``module``'s first parameter (or buffer) lives; the CPU for an empty one."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def _engine(graph: nn.Module, device: torch.device, *, identity: str, spec: GraphSpec,
            probe: torch.Tensor, check: InputCheck, tuple_out: bool, engine: str,
            threads: int | None, cache: bool) -> ForwardEngine:
    if engine not in ENGINES:
        raise ChickenSaviourError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if threads is not None and threads < 1:
        raise ChickenSaviourError(f"threads must be >= 1, got {threads}")

    def torch_engine(reason: str) -> TorchEngine:
        forward: Callable[[torch.Tensor], EngineOutput] = graph
        return TorchEngine(lambda x: forward(x.to(device)), check=check, reason=reason,
                           description=identity)

    if engine == "torch":
        return torch_engine("PyTorch was asked for")
    try:
        return _onnx_engine(graph, device, identity=identity, spec=spec, probe=probe,
                            check=check, tuple_out=tuple_out, threads=threads, cache=cache)
    except ChickenSaviourError as exc:
        if engine == "onnxruntime":
            raise
        reason = str(exc)
    with _warned_lock:
        first = identity not in _warned
        _warned.add(identity)
    if first:
        logger.warning("%s: using PyTorch", reason)
    return torch_engine(reason)


def _onnx_engine(graph: nn.Module, device: torch.device, *, identity: str, spec: GraphSpec,
                 probe: torch.Tensor, check: InputCheck, tuple_out: bool, threads: int | None,
                 cache: bool) -> OnnxEngine:
    problem = onnxruntime_problem()
    if problem:
        raise ChickenSaviourError(f"{identity}: {problem}")
    if device.type != "cpu":
        raise ChickenSaviourError(f"{identity} is on {device}; ONNX Runtime runs on the CPU")
    try:
        with torch.no_grad():
            expected = _as_tuple(graph(probe))
    except Exception as exc:
        raise ChickenSaviourError(f"{identity} fails in PyTorch ({one_line(exc)})") from exc

    def export() -> bytes:
        try:
            return export_graph(private_copy(graph), spec)
        except Exception as exc:
            raise ChickenSaviourError(
                f"{identity} cannot be exported to ONNX ({one_line(exc)})") from exc

    def accept(data: bytes) -> OnnxEngine:
        try:
            session = create_session(data, threads)
        except Exception as exc:
            raise ChickenSaviourError(
                f"ONNX Runtime cannot load the graph of {identity} ({one_line(exc)})") from exc
        if len(session.get_inputs()) != 1:  # constant output: numpy or Python maths inside
            raise ChickenSaviourError(
                f"{identity} cannot be exported to ONNX (the traced graph has "
                f"{len(session.get_inputs())} inputs, not 1: the forward leaves torch)")
        candidate = OnnxEngine(session, check=check, tuple_out=tuple_out, description=identity)
        try:
            got = _as_tuple(candidate(probe))
        except Exception as exc:
            raise ChickenSaviourError(
                f"ONNX Runtime cannot run the graph of {identity} ({one_line(exc)})") from exc
        _check_parity(identity, got, expected)
        return candidate

    key = graph_key(graph, identity, spec)
    onnx_engine, cached = cached_graph(identity.split()[0], key, export, accept, cache=cache)
    logger.info("%s runs on ONNX Runtime (%s)", identity, "cached graph" if cached else "exported")
    return onnx_engine


def _as_tuple(output: EngineOutput) -> tuple[torch.Tensor, ...]:
    return output if isinstance(output, tuple) else (output,)


def _check_parity(identity: str, got: tuple[torch.Tensor, ...],
                  expected: tuple[torch.Tensor, ...]) -> None:
    """Raise unless ONNX Runtime's outputs match PyTorch's (shapes and values)."""
    if len(got) != len(expected):
        raise ChickenSaviourError(f"the ONNX graph of {identity} returns {len(got)} "
                                  f"outputs, PyTorch {len(expected)}")
    for ours, theirs in zip(got, expected, strict=True):
        theirs = theirs.detach().to("cpu", torch.float32)
        if ours.shape != theirs.shape or not torch.allclose(
                ours, theirs, atol=PARITY_ATOL, rtol=PARITY_RTOL):
            diff = ((ours - theirs).abs().max().item() if ours.shape == theirs.shape
                    else f"shape {tuple(ours.shape)} vs {tuple(theirs.shape)}")
            raise ChickenSaviourError(
                f"the ONNX graph of {identity} disagrees with PyTorch (max diff {diff})")
