"""Exporting a module to ONNX (TorchScript exporter, opset 17) and caching the graph.

The exporter traces the module it is given, switching it to eval mode and back, so it is
only ever given a private deep copy, frozen and in eval mode: a shared model is never
touched (exporting a train-mode wrapper left the shared model's batch norms in train
mode). Graphs are cached under ``cache_dir("engines")`` keyed by the module's identity,
its weights, its code, the input spec and the torch/opset versions.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import io
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from chickensaviour.files import atomic_write_bytes, cache_dir

logger = logging.getLogger(__name__)

OPSET = 17
#: Bump when what is exported for the same module changes (names, axes, wrappers).
FORMAT_VERSION = 1


@dataclass(frozen=True)
class GraphSpec:
    """What to export: input/output names, which axes vary, and an example input.

    ``example`` is only traced; an axis listed in ``dynamic`` may take any size later.
    """

    input_name: str
    output_names: tuple[str, ...]
    dynamic: dict[str, dict[int, str]]
    example: torch.Tensor

    def describe(self) -> str:
        return (f"{self.input_name}{tuple(self.example.shape)} -> {self.output_names}, "
                f"dynamic {sorted((k, sorted(v.items())) for k, v in self.dynamic.items())}")


def private_copy(module: nn.Module) -> nn.Module:
    """A deep copy in eval mode with frozen parameters, safe to trace and throw away."""
    return copy.deepcopy(module).eval().requires_grad_(False)


def export_graph(module: nn.Module, spec: GraphSpec) -> bytes:
    """The serialised ONNX graph of ``module`` (which must be a private copy)."""
    buffer = io.BytesIO()
    started = time.perf_counter()
    # torch 2.x's exporter turns its C++ log on and, through a bug (a function object
    # tested for truth), never off again: a later failed export then dumps its whole IR
    # graph on stdout (where the CLI writes its results). Send that log to stderr and put
    # the flag back as it was.
    log_enabled = torch._C._jit_is_onnx_log_enabled()
    torch._C._jit_set_onnx_log_output_stream("stderr")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings: the parity check decides
            torch.onnx.export(
                module, (spec.example,), buffer, dynamo=False, opset_version=OPSET,
                input_names=[spec.input_name], output_names=list(spec.output_names),
                dynamic_axes=spec.dynamic, do_constant_folding=True,
            )
    finally:
        torch._C._jit_set_onnx_log_enabled(log_enabled)
    logger.info("exported %s to ONNX in %.2f s", type(module).__name__,
                time.perf_counter() - started)
    return buffer.getvalue()


def graph_key(module: nn.Module, identity: str, spec: GraphSpec) -> str:
    """sha256 naming the graph of ``module``: identity, every parameter and buffer
    (non-persistent ones too: the wrapper's mean/std), the source of every module class
    in it, the input spec, torch version, opset and format version."""
    digest = hashlib.sha256()
    for part in (identity, spec.describe(), str(spec.example.dtype), torch.__version__,
                 str(OPSET), str(FORMAT_VERSION), repr(module)):
        digest.update(part.encode())
        digest.update(b"\0")
    tensors = [*module.named_parameters(), *module.named_buffers()]
    for name, tensor in sorted(tensors, key=lambda item: item[0]):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        data = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    for cls in sorted({type(m) for m in module.modules()}, key=lambda c: c.__qualname__):
        digest.update(cls.__module__.encode() + b"." + cls.__qualname__.encode())
        try:
            digest.update(inspect.getsource(cls).encode())
        except (OSError, TypeError):  # built in or defined interactively: the name must do
            pass
    return digest.hexdigest()


def cached_graph(kind: str, key: str, export: Callable[[], bytes],
                 accept: Callable[[bytes], Any], *, cache: bool) -> tuple[Any, bool]:
    """``accept(graph)`` for the cached graph of ``key``, else for a fresh export.

    ``accept`` builds (and checks) what the caller needs from the bytes and raises if it
    cannot; a cached file it rejects (corrupt, truncated by hand, wrong) is deleted and
    the graph exported again. A fresh graph is written atomically once accepted. Returns
    the accepted value and whether it came from the cache.
    """
    path = cache_dir("engines") / f"{kind}-{key[:40]}.onnx" if cache else None
    if path is not None and path.is_file():
        try:
            return accept(path.read_bytes()), True
        except Exception as exc:
            logger.warning("cached ONNX graph %s is unusable (%s): exporting again",
                           path, str(exc).strip().splitlines()[0][:200] if str(exc) else exc)
            _remove(path)
    graph = export()
    value = accept(graph)
    if path is not None:
        try:
            atomic_write_bytes(path, graph)
        except Exception as exc:  # a read-only or full cache only costs the next start
            logger.warning("cannot cache the ONNX graph: %s", exc)
    return value, False


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError as exc:
        logger.warning("cannot remove %s: %s", path, exc)
