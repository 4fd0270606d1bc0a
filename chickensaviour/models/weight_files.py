"""Weight files someone handed us: read safely, loaded strictly, explained in one line.

Model cards (:mod:`chickensaviour.models.cards`) name files from anywhere, so nothing
here trusts them: ``.pt``/``.pth`` pickles are read with ``torch.load(weights_only=True)``
only (a file that would import or call anything is refused, never loaded another way),
``.safetensors`` files hold nothing but tensors, and ONNX graphs are converted to PyTorch
modules with onnx2torch, so attacks get gradients through them. When tensors do not fit a
network, the message names the first one that does not (or the label count against the
head's outputs).
"""

from __future__ import annotations

import logging
import pickle
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from chickensaviour.errors import ChickenSaviourError, one_line

logger = logging.getLogger(__name__)

#: The newest ONNX opset whose operators onnx2torch 1.5 converts (torch exports 20).
ONNX2TORCH_OPSET = 17

__all__ = ["WeightFileError", "head_mismatch", "load_strictly", "mismatches", "onnx_module",
           "read_state_dict"]


class WeightFileError(ChickenSaviourError):
    """A weight file that is unsafe, unreadable or does not fit; one line."""


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file or of a plain ``.pt``/``.pth`` state dict.

    Raises :class:`WeightFileError` for a pickle that would run code when unpickled, an
    unreadable file, and anything but a flat ``{name: tensor}`` dict.
    """
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise WeightFileError(f"cannot read {path}: not a valid safetensors file "
                                  f"({one_line(exc)})") from None
    try:
        with warnings.catch_warnings():  # torch warns about odd pickles before failing
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's restricted unpickler says why; plain garbage fails it too.
        reason = f"{exc} {exc.__context__ or ''}"
        if not re.search(r"GLOBAL|global|reduce|BUILD|class", reason):
            raise WeightFileError(f"cannot read {path}: not a PyTorch state dict") from None
        named = re.search(r"GLOBAL ([\w.]+)", reason)
        via = f", via {named.group(1)}" if named else ""
        raise WeightFileError(f"refusing to load {path}: it is not a plain state dict (it "
                              f"would run code when unpickled{via})") from None
    except Exception as exc:  # zip, EOF and format errors alike: not a torch file
        raise WeightFileError(f"cannot read {path}: not a PyTorch state dict "
                              f"({one_line(exc)})") from None
    if not isinstance(state, dict):
        raise WeightFileError(f"{path} holds a {type(state).__name__}, not a state dict; "
                              "save model.state_dict()")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise WeightFileError(
                f"{path} is not a state dict: {key!r} holds a {type(value).__name__}, not a "
                "tensor; save model.state_dict() itself, not a checkpoint around it")
    return state


def load_strictly(net: nn.Module, state: dict[str, torch.Tensor], *, file: str,
                  architecture: str, labels: str, num_classes: int) -> None:
    """Load ``state`` into ``net`` strictly, or raise one line naming what does not fit.

    ``file``, ``architecture`` and ``labels`` name the weights, the network and the label
    file in messages. Missing batch-norm ``num_batches_tracked`` counters are filled in
    from ``net`` (they do not change what it computes); everything else must match.
    """
    own = net.state_dict()
    state = dict(state)
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    outputs = head_mismatch(own, state, num_classes)
    if outputs is not None:
        raise WeightFileError(f"{labels} has {num_classes} names, the weights' head has "
                              f"{outputs} outputs")
    found = mismatches(own, state)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        hint = ""
        extra = [key for key in state if key not in own]
        if extra and all(key.startswith("module.") for key in extra):
            hint = "; the file's keys start with 'module.' (saved from DataParallel?)"
        raise WeightFileError(f"{file} does not fit {architecture}: {found[0]}{more}{hint}")
    try:
        net.load_state_dict(state, strict=True)
    except Exception as exc:  # oddities the checks above do not see
        raise WeightFileError(f"{file} does not fit {architecture}: {one_line(exc)}") from None


def mismatches(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> list[str]:
    """Every key or shape of ``state`` that differs from ``own``, in ``own``'s order
    ("missing key K", "K: file (a, b), model (c, d)"), then keys ``own`` lacks."""
    found: list[str] = []
    for key, value in own.items():
        if key not in state:
            found.append(f"missing key {key}")
        elif tuple(state[key].shape) != tuple(value.shape):
            found.append(f"{key}: file {tuple(state[key].shape)}, model {tuple(value.shape)}")
    found.extend(f"unexpected key {key}" for key in state if key not in own)
    return found


def head_mismatch(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor],
                  num_classes: int) -> int | None:
    """The file's output count when the classifier head is all that differs, else None.

    The head is recognised by its shapes: every mismatching tensor has ``num_classes``
    rows in the model and one other number of rows in the file, the rest equal.
    """
    if set(own) != set(state):
        return None
    rows: set[int] = set()
    for key, value in own.items():
        theirs = state[key].shape
        if tuple(theirs) == tuple(value.shape):
            continue
        if (value.ndim == 0 or len(theirs) != value.ndim or value.shape[0] != num_classes
                or tuple(theirs[1:]) != tuple(value.shape[1:])):
            return None
        rows.add(int(theirs[0]))
    return rows.pop() if len(rows) == 1 else None


def onnx_module(path: Path) -> nn.Module:
    """The ONNX graph in ``path`` as a PyTorch module (onnx2torch), gradients intact.

    Constants and identities of constants (which torch's exporter writes from opset 19
    on, and onnx2torch does not convert) are first turned into initializers; a graph
    with operator versions onnx2torch does not know is converted to opset 17 first.
    """
    try:
        import onnx
        from onnx2torch import convert
    except ImportError:
        raise WeightFileError("ONNX models need onnx and onnx2torch: pip install onnx "
                              "onnx2torch") from None
    try:
        graph = onnx.load(str(path))
    except Exception as exc:  # protobuf decode errors, unreadable external data
        raise WeightFileError(f"cannot read {path.name} as ONNX: {one_line(exc)}") from None
    _inline_constants(graph)
    try:
        return convert(graph)
    except NotImplementedError as exc:  # an operator version onnx2torch does not know
        failure: Exception = exc
    except Exception as exc:
        raise WeightFileError(f"cannot convert {path.name} to PyTorch: "
                              f"{one_line(exc)}") from None
    opset = max((entry.version for entry in graph.opset_import if entry.domain in ("", "ai.onnx")),
                default=0)
    if opset > ONNX2TORCH_OPSET:  # torch exports opset 20; the same graph at 17 converts
        try:
            from onnx import version_converter

            older = version_converter.convert_version(graph, ONNX2TORCH_OPSET)
            _inline_constants(older)
            logger.info("ONNX: %s converted from opset %d to %d", path.name, opset,
                        ONNX2TORCH_OPSET)
            return convert(older)
        except Exception as exc:
            failure = exc
    raise WeightFileError(f"cannot convert {path.name} to PyTorch: {one_line(failure)} "
                          f"(onnx2torch converts opsets up to {ONNX2TORCH_OPSET})") from None


def _inline_constants(model: object) -> None:
    """Move top-level ``Constant`` tensors, and ``Identity`` copies of initializers, into
    the initializers of ``model`` (an ``onnx.ModelProto``), in place."""
    import onnx

    assert isinstance(model, onnx.ModelProto)
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    outputs = {value.name for value in graph.output}
    kept = []
    for node in graph.node:
        source = None
        if node.output and node.output[0] not in outputs:
            if (node.op_type == "Constant" and len(node.attribute) == 1
                    and node.attribute[0].name == "value"):
                source = node.attribute[0].t
            elif node.op_type == "Identity" and node.input[0] in initializers:
                source = initializers[node.input[0]]
        if source is None:
            kept.append(node)
            continue
        tensor = onnx.TensorProto()
        tensor.CopyFrom(source)
        tensor.name = node.output[0]
        graph.initializer.append(tensor)
        initializers[tensor.name] = tensor
    if len(kept) != len(graph.node):
        logger.info("ONNX: %d constant nodes made initializers", len(graph.node) - len(kept))
        del graph.node[:]
        graph.node.extend(kept)
