"""Model cards: bring your own classifier as a small JSON file next to its weights.

A card says which architecture to build, where its weights and class names are, and how
the network sees images. ``load_model("path/to/card.json")`` reads it (through
:func:`load_card_model`), so every command and the app take a card wherever they take a
model name. Example::

    {"architecture": "torchvision:mobilenet_v2", "weights": "weights.safetensors",
     "labels": "labels.txt", "input_size": 224, "resize": 256,
     "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "channels": 3}

Keys (paths are relative to the card's folder):

- ``architecture`` (required): ``torchvision:NAME`` (``torchvision.models.get_model``),
  ``timm:NAME`` (``timm.create_model``), ``chickensaviour:NAME`` (a network defined
  here, :data:`chickensaviour.training.architectures.ARCHITECTURES`: ``lenet5``, which
  :func:`chickensaviour.training.checkpoints.card_files` makes cards for) or
  ``onnx:FILE.onnx`` (converted to PyTorch with onnx2torch, so attacks get gradients
  through it).
- ``weights``: a ``.safetensors`` file or a ``.pt``/``.pth`` state dict (read with
  ``torch.load(weights_only=True)``: a pickle that would run code is refused, never
  loaded another way). Required for torchvision, timm and chickensaviour, omitted (or
  null) for ONNX.
- ``labels`` (required): a text file with one class name per line, in output order, or
  ``"imagenet"`` for ImageNet-1k's 1000 classes in torchvision's order.
- ``input_size`` (required): the side of the square image the network takes.
- ``resize``: the shorter side the image is resized to before the centre
  ``input_size`` crop (torchvision's 256 for 224); omitted or equal to ``input_size``
  means no crop.
- ``mean``, ``std`` (required): per-channel normalisation in ``[0, 1]`` units (0.485, not
  123.7), in the network's channel order, one value each for a grey model.
- ``channels`` (required): 3, or 1 for a grey-scale network (RGB becomes BT.601 luma).
- ``channel_order``: ``"RGB"`` (default) or ``"BGR"`` (Caffe-style networks).
- ``name``: the name shown in reports (default: the card file's stem).
- ``description``: free text.
- ``extra``: a JSON object of free information (how the model was trained); kept in
  :attr:`ModelCard.extra`, never interpreted.

The network is built with as many classes as the labels name (a grey torchvision model
gets a one-channel first convolution) and the weights are loaded strictly
(:mod:`chickensaviour.models.weight_files`); every problem is one line that names the
card and, for weights that do not fit, the first tensor that does not (or the label
count against the head's outputs).
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn

from chickensaviour.errors import ChickenSaviourError, one_line
from chickensaviour.files import file_sha256
from chickensaviour.labels import IMAGENET, LabelSet, imagenet_classes
from chickensaviour.models.card_fields import (
    CARD_KEYS,
    FAMILIES,
    CardFields,
    ModelCardError,
)
from chickensaviour.models.weight_files import (
    WeightFileError,
    load_strictly,
    onnx_module,
    read_state_dict,
)
from chickensaviour.models.wrapper import ChannelOrder, Fit, ImageClassifier

logger = logging.getLogger(__name__)

__all__ = ["CARD_KEYS", "FAMILIES", "ModelCard", "ModelCardError", "card_labels",
           "load_card_model", "read_card"]

WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")
MAX_INPUT_SIZE = 4096
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class ModelCard:
    """A validated model card; paths are absolute.

    Attributes:
        path: the card file.
        name: the model's name in reports.
        family: ``"torchvision"``, ``"timm"``, ``"chickensaviour"`` or ``"onnx"``.
        architecture: the torchvision, timm or chickensaviour model name, or the ONNX
            file's path.
        weights: the weight file (``None`` for ONNX, whose file holds them).
        labels: the labels file, or ``None`` for ImageNet's classes.
        input_size, resize: the evaluation crop (``resize`` >= ``input_size``).
        mean, std: normalisation in ``[0, 1]`` units, ``channels`` values each.
        channels: 1 or 3.
        channel_order: ``"RGB"`` or ``"BGR"``.
        description: free text from the card.
        extra: the card's free ``extra`` object (empty when it has none).
    """

    path: Path
    name: str
    family: str
    architecture: str
    weights: Path | None
    labels: Path | None
    input_size: int
    resize: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int
    channel_order: ChannelOrder = "RGB"
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        def fail(message: str) -> NoReturn:
            raise ModelCardError(f"model card {self.path}: {message}")

        if self.family not in FAMILIES:
            fail(f"architecture family must be one of {', '.join(FAMILIES)}, "
                 f"got {self.family!r}")
        if not SAFE_NAME.fullmatch(self.name):
            # It names output files and cache entries: no paths, nothing hidden.
            fail(f"name must be 1-64 letters, digits, '.', '_' or '-', not starting with "
                 f"'.', got {self.name[:80]!r}")
        if (self.weights is None) != (self.family == "onnx"):
            fail("an ONNX model takes no 'weights' (the .onnx file holds them)"
                 if self.family == "onnx" else "'weights' is missing")
        if self.channels not in (1, 3):
            fail(f"channels must be 1 or 3, got {self.channels}")
        if not 8 <= self.input_size <= MAX_INPUT_SIZE:
            fail(f"input_size must be in 8..{MAX_INPUT_SIZE}, got {self.input_size}")
        if not self.input_size <= self.resize <= MAX_INPUT_SIZE:
            fail(f"resize must be at least input_size ({self.input_size}), got {self.resize}")
        for key, values in (("mean", self.mean), ("std", self.std)):
            if len(values) != self.channels:
                fail(f"{key} needs {self.channels} value(s) for {self.channels} channel(s), "
                     f"got {len(values)}")
        if any(not 0.0 <= value <= 1.0 for value in self.mean):
            fail(f"mean is in [0, 1] units (0.485, not 123.7), got {list(self.mean)}")
        if any(not 0.0 < value <= 1.0 for value in self.std):
            fail(f"std is in (0, 1] units (0.229, not 58.4), got {list(self.std)}")
        if self.channel_order not in ("RGB", "BGR"):
            fail(f"channel_order must be RGB or BGR, got {self.channel_order!r}")

    @property
    def crop_pct(self) -> float:
        """The share of the shorter side kept by the centre crop."""
        return self.input_size / self.resize

    @property
    def reference(self) -> str:
        """The architecture for messages (``timm:resnet18``, ``onnx:model.onnx``)."""
        name = Path(self.architecture).name if self.family == "onnx" else self.architecture
        return f"{self.family}:{name}"


def read_card(path: str | Path) -> ModelCard:
    """Read and check the card at ``path`` (files must exist; nothing heavy is read).

    Raises :class:`ModelCardError` (one line) for unreadable JSON, unknown keys (with a
    suggestion), missing keys, values of the wrong type and missing files.

    Example: ``read_card("chicken_fox/card.json").crop_pct``
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM from Notepad is fine
    except FileNotFoundError:
        raise ModelCardError(f"model card {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelCardError(f"cannot read model card {path}: {one_line(exc)}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelCardError(f"model card {path} is not valid JSON: {exc.msg} at line "
                             f"{exc.lineno}, column {exc.colno}") from None
    fields = CardFields(path, data)
    family, architecture = fields.architecture()
    folder = path.parent
    weights_value = fields.optional_str("weights")
    weights: Path | None = None
    if family == "onnx":
        architecture = str(_existing(path, folder, architecture, "the ONNX file"))
        if weights_value is not None:
            fields.fail("an ONNX model takes no 'weights' (the .onnx file holds them); "
                        "remove the key or set it to null")
    elif weights_value is None:
        fields.fail("'weights' is missing (a .safetensors or .pt/.pth state dict)")
    elif not weights_value.lower().endswith(WEIGHT_SUFFIXES):
        fields.fail(f"weights must be a {', '.join(WEIGHT_SUFFIXES)} file, "
                    f"got {weights_value!r}")
    else:
        weights = _existing(path, folder, weights_value, "the weights file")
    labels_value = fields.string("labels")
    labels = (None if labels_value.strip().lower() == IMAGENET
              else _existing(path, folder, labels_value, "the labels file"))
    input_size = fields.integer("input_size")
    resize_value = fields.optional_int("resize")
    channels = fields.integer("channels")
    return ModelCard(
        path=path, name=fields.optional_str("name") or _name_from(path), family=family,
        architecture=architecture, weights=weights, labels=labels, input_size=input_size,
        resize=input_size if resize_value is None else resize_value,
        mean=fields.numbers("mean"), std=fields.numbers("std"), channels=channels,
        channel_order=fields.optional_str("channel_order") or "RGB",  # type: ignore[arg-type]
        description=fields.optional_str("description") or "",
        extra=fields.optional_object("extra"),
    )


def card_labels(path: str | Path) -> LabelSet:
    """The class names of the card at ``path``, without reading its weights."""
    return _labels(read_card(path))


def load_card_model(path: str | Path, *, fit: Fit = "crop") -> ImageClassifier:
    """The classifier the card at ``path`` describes, weights in, on the CPU.

    ``load_model`` calls this for references ending in ``.json`` and then applies its
    load options (folding, freezing, device). Raises :class:`ModelCardError` with one
    line for every problem: the card, missing packages, unknown architectures, unsafe or
    unreadable weight files, weights that do not fit (the first tensor that does not),
    and a label count other than the head's.
    """
    card = read_card(path)
    classes = _labels(card)
    try:
        if card.family == "onnx":
            net = onnx_module(Path(card.architecture))
        else:
            net = _build(card, len(classes))
            assert card.weights is not None
            load_strictly(net, read_state_dict(card.weights), file=card.weights.name,
                          architecture=card.reference, labels=_labels_name(card),
                          num_classes=len(classes))
    except WeightFileError as exc:
        raise ModelCardError(f"model card {card.path}: {exc}") from None
    net.eval()
    _check_output(card, net, classes)
    logger.info("model card %s: %s with %d classes", card.path, card.reference, len(classes))
    # Two cards may share a name (two "card.json"s, a retrained model): what is cached
    # for a model (refined blocks) is keyed by its weights too.
    weights = card.weights if card.weights is not None else Path(card.architecture)
    return ImageClassifier(
        net, name=card.name, input_size=card.input_size, mean=card.mean, std=card.std,
        crop_pct=card.crop_pct, fit=fit, classes=classes, channels=card.channels,
        channel_order=card.channel_order,
        identity=f"{card.name}-{file_sha256(weights)[:12]}",
    )


def _existing(card: Path, folder: Path, value: str, what: str) -> Path:
    path = Path(value).expanduser()
    path = path if path.is_absolute() else folder / path
    if not path.is_file():
        raise ModelCardError(f"model card {card}: {what} {path} does not exist")
    return path


def _labels(card: ModelCard) -> LabelSet:
    if card.labels is None:
        return imagenet_classes()
    try:
        return LabelSet.from_file(card.labels)
    except ChickenSaviourError as exc:
        raise ModelCardError(f"model card {card.path}: {exc}") from None


def _labels_name(card: ModelCard) -> str:
    return "the ImageNet labels" if card.labels is None else card.labels.name


def _build(card: ModelCard, num_classes: int) -> nn.Module:
    """A new, randomly initialised torchvision, timm or chickensaviour network with
    ``num_classes``."""
    if card.family == "chickensaviour":
        from chickensaviour.training.architectures import ARCHITECTURES, build_architecture

        if card.architecture not in ARCHITECTURES:
            _unknown_architecture(card, sorted(ARCHITECTURES))
        try:
            return build_architecture(card.architecture, num_classes)
        except Exception as exc:
            raise ModelCardError(f"model card {card.path}: cannot build {card.reference}: "
                                 f"{one_line(exc)}") from None
    if card.family == "timm":
        import timm

        if not timm.is_model(card.architecture):
            _unknown_architecture(card, timm.list_models())
        try:
            return timm.create_model(card.architecture, pretrained=False,
                                     num_classes=num_classes, in_chans=card.channels)
        except Exception as exc:  # a model that cannot take these arguments
            raise ModelCardError(f"model card {card.path}: cannot build {card.reference}: "
                                 f"{one_line(exc)}") from None
    import torchvision
    from torchvision import models

    names = models.list_models(module=torchvision.models)
    if card.architecture not in names:
        _unknown_architecture(card, names)
    try:
        net = models.get_model(card.architecture, weights=None, num_classes=num_classes)
    except Exception as exc:
        raise ModelCardError(f"model card {card.path}: cannot build {card.reference}: "
                             f"{one_line(exc)}") from None
    if card.channels == 1:
        _grey_first_conv(card, net)
    return net


def _unknown_architecture(card: ModelCard, names: list[str]) -> NoReturn:
    close = difflib.get_close_matches(card.architecture, names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    if not close and len(names) <= 10:  # a short table (chickensaviour:): name it all
        hint = f"; it has {', '.join(names)}"
    raise ModelCardError(f"model card {card.path}: {card.family} has no model "
                         f"{card.architecture!r}{hint}")


def _grey_first_conv(card: ModelCard, net: nn.Module) -> None:
    """Replace the first ``Conv2d`` of ``net`` by one taking a single input channel."""
    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d):
            grey = nn.Conv2d(1, module.out_channels, module.kernel_size, module.stride,
                             module.padding, module.dilation, bias=module.bias is not None,
                             padding_mode=module.padding_mode)
            parent_name, _, child = name.rpartition(".")
            setattr(net.get_submodule(parent_name), child, grey)
            return
    raise ModelCardError(f"model card {card.path}: {card.reference} has no Conv2d to take "
                         "one channel")


def _check_output(card: ModelCard, net: nn.Module, classes: LabelSet) -> None:
    """One forward pass on two blank images: the net takes the card's input and batches,
    and gives one logit per label."""
    blank = torch.zeros(2, card.channels, card.input_size, card.input_size)
    try:
        with torch.no_grad():
            out = net(blank)
    except Exception as exc:
        batch = (" and any batch size (export with dynamic_axes={'input': {0: 'batch'}})"
                 if card.family == "onnx" else "")
        raise ModelCardError(
            f"model card {card.path}: {card.reference} does not take {card.channels}-channel "
            f"{card.input_size}x{card.input_size} images{batch}: {one_line(exc)}") from None
    if isinstance(out, tuple | list):  # e.g. an ONNX graph with several outputs
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelCardError(f"model card {card.path}: {card.reference} must return "
                             f"(batch, classes) logits, got {shape} for a batch of 2")
    if out.shape[1] != len(classes):
        raise ModelCardError(f"model card {card.path}: {_labels_name(card)} has "
                             f"{len(classes)} names, the model has {out.shape[1]} outputs")


def _name_from(path: Path) -> str:
    """A card's default name: its file stem, made safe for file names."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem).lstrip(".")[:64]
    return name or "model"

