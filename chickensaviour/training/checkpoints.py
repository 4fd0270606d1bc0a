"""Saving a network trained here as a model card that ``load_model`` reads back.

:func:`card_files` gives ``weights.safetensors``, ``labels.txt`` and ``CARD.json``
(architecture ``chickensaviour:NAME``, 28x28 grey input, MNIST mean/std) of a folder,
for the caller to write all or nothing (``files.write_all``). Example::

    write_all(card_files(net, "out/lenet_round1", name="lenet_round1", labels=digit_labels()))
    card = "out/lenet_round1/CARD.json"
    model = load_model(str(card))  # RGB [0, 1] in, the same logits as net
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.labels import LabelSet
from chickensaviour.training.architectures import ARCHITECTURES
from chickensaviour.training.lenet import INPUT_SIZE, MNIST_MEAN, MNIST_STD

CARD_FILE = "CARD.json"
WEIGHTS_FILE = "weights.safetensors"
LABELS_FILE = "labels.txt"


def state_dict_bytes(state: Mapping[str, torch.Tensor]) -> bytes:
    """A state dict as the bytes of a ``.safetensors`` file (CPU, contiguous)."""
    from safetensors.torch import save

    return save({key: value.detach().to("cpu").contiguous().clone()
                 for key, value in state.items()})


def labels_text(labels: LabelSet) -> str:
    """``labels.txt`` for ``labels``: one name per line, read back unchanged by
    :meth:`LabelSet.from_file` (refuses names it would alter)."""
    for index, name in enumerate(labels.names):
        if "\n" in name or "\r" in name or name != name.strip() or name.startswith("#"):
            raise ChickenSaviourError(f"class {index} name {name[:40]!r} cannot be written to "
                                      "a labels file (line breaks, outer spaces or a leading #)")
    return "\n".join(labels.names) + "\n"


def card_files(
    net: nn.Module,
    folder: str | Path,
    *,
    name: str,
    labels: LabelSet,
    architecture: str = "lenet5",
    description: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[Path, bytes]:
    """The three files of ``net``'s model card in ``folder``, as bytes (nothing written),
    for a caller that writes them together with its other outputs.

    Args:
        net: a network built as ``ARCHITECTURES[architecture](num_classes=len(labels))``
            (its state dict is saved, so it must fit that architecture strictly).
        folder: created if needed; the three files in it are replaced all or nothing.
        name: the card's ``name`` (1-64 letters, digits, ``.``, ``_``, ``-``).
        labels: one class per output of ``net``.
        architecture: a key of :data:`~chickensaviour.training.architectures.ARCHITECTURES`.
        description: free text for the card.
        extra: JSON-serialisable free information (how it was trained), the card's
            ``extra`` object.

    Raises a one-line :class:`ChickenSaviourError` for a bad name, an unknown
    architecture, a label count other than ``net``'s outputs, ``extra`` that is not
    JSON.
    """
    from chickensaviour.models.cards import SAFE_NAME

    folder = Path(folder)
    if not SAFE_NAME.fullmatch(name):
        raise ChickenSaviourError(f"card name must be 1-64 letters, digits, '.', '_' or '-', "
                                  f"not starting with '.', got {name[:80]!r}")
    if architecture not in ARCHITECTURES:
        raise ChickenSaviourError(f"unknown architecture {architecture!r}; "
                                  f"architectures: {', '.join(sorted(ARCHITECTURES))}")
    outputs = _output_count(net)
    if outputs != len(labels):
        raise ChickenSaviourError(f"the network has {outputs} outputs but {len(labels)} "
                                  "labels were given")
    card_text = card_json(name=name, architecture=architecture, weights=WEIGHTS_FILE,
                          labels=LABELS_FILE, description=description, extra=extra)
    return {
        folder / WEIGHTS_FILE: state_dict_bytes(net.state_dict()),
        folder / LABELS_FILE: labels_text(labels).encode("utf-8"),
        folder / CARD_FILE: card_text.encode("utf-8"),
    }


def card_json(*, name: str, architecture: str, weights: str, labels: str,
              description: str = "", extra: dict[str, Any] | None = None) -> str:
    """The text of a model card for a 28x28 grey network of ours (MNIST mean/std);
    ``weights`` and ``labels`` are file names relative to the card."""
    card: dict[str, Any] = {
        "name": name,
        "architecture": f"chickensaviour:{architecture}",
        "weights": weights,
        "labels": labels,
        "input_size": INPUT_SIZE,
        "channels": 1,
        "mean": list(MNIST_MEAN),
        "std": list(MNIST_STD),
    }
    if description.strip():  # a card's description, when there is one, is not blank
        card["description"] = description.strip()
    if extra:
        card["extra"] = extra
    try:
        return json.dumps(card, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ChickenSaviourError(f"extra must hold JSON values only: {exc}") from None


def _output_count(net: nn.Module) -> int:
    """Logits per image of ``net`` for one blank normalised 28x28 digit."""
    parameters = list(net.parameters())
    device = parameters[0].device if parameters else torch.device("cpu")
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE, device=device))
    except Exception as exc:
        raise ChickenSaviourError(f"the network does not take 1x28x28 digits: {exc}"
                                  .splitlines()[0][:200]) from None
    finally:
        net.train(was_training)
    if out.ndim != 2 or out.shape[0] != 1:
        raise ChickenSaviourError(f"the network must return (batch, classes) logits, "
                                  f"got {tuple(out.shape)}")
    return int(out.shape[1])
