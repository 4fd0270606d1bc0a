"""Finding a network's layers by name and capturing their outputs with forward hooks."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from chickensaviour.errors import UnknownLayerError
from chickensaviour.models.wrapper import ImageClassifier

#: The name under which the network's output (class logits) is captured.
LOGITS = "logits"


@dataclass(frozen=True)
class LayerInfo:
    """One named module of a network and the shape of its output for one image."""

    name: str
    kind: str
    shape: tuple[int, ...]  # (C, H, W) or (features,)


def layer_names(net: nn.Module) -> list[str]:
    """Every named module (containers too, as in ``features.4``), in definition order."""
    return [name for name, _ in net.named_modules() if name]


def find_layer(net: nn.Module, name: str) -> nn.Module:
    """The module called ``name``, or :class:`UnknownLayerError` listing valid names."""
    modules = dict(net.named_modules())
    if name and name in modules:
        return modules[name]
    names = layer_names(net)
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    shown = ", ".join(names[:40]) + (f" and {len(names) - 40} more" if len(names) > 40 else "")
    raise UnknownLayerError(f"no layer named {name!r}; {hint}valid layers: {shown} "
                            "(list them with --list-layers)")


@contextmanager
def captured(net: nn.Module, names: Iterable[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, every forward pass of ``net`` stores the named layers' outputs."""
    outputs: dict[str, torch.Tensor] = {}
    # Resolve every name first, so an unknown one leaves no hook behind.
    modules = {name: find_layer(net, name) for name in dict.fromkeys(names) if name != LOGITS}
    handles = []
    try:
        for name, module in modules.items():
            def hook(_module: nn.Module, _inputs: object, output: object,
                     name: str = name) -> None:
                outputs[name] = output[0] if isinstance(output, tuple) else output  # type: ignore[assignment]

            handles.append(module.register_forward_hook(hook))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def describe_layers(model: ImageClassifier) -> list[LayerInfo]:
    """Each layer's name, module type and output shape for one input-sized image."""
    names = layer_names(model.net)
    size = model.input_size
    image = torch.full((1, 3, size, size), 0.5, device=model.device)
    with captured(model.net, names) as outputs:
        model.net(model.normalize(image))
    modules = dict(model.net.named_modules())
    return [LayerInfo(name, type(modules[name]).__name__, tuple(outputs[name].shape[1:]))
            for name in names if name in outputs and isinstance(outputs[name], torch.Tensor)]
