"""Model cards: reading, building, strict and safe weight loading, ONNX parity.

Cards here point at small, randomly initialised networks (timm's ``test_efficientnet``,
torchvision's ``mobilenet_v3_small``); only the ONNX parity test needs the real
MobileNetV2 weights.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from chickensaviour.attacks import PGD, targeted
from chickensaviour.imaging import read_image
from chickensaviour.labels import LabelSet, classes_for, imagenet_classes
from chickensaviour.models import load_model
from chickensaviour.models.cards import (
    CARD_KEYS,
    ModelCardError,
    card_labels,
    load_card_model,
    read_card,
)
from tests.conftest import SAMPLES

LABELS = ("chicken", "fox", "background")
TIMM = "timm:test_efficientnet"
SIZE = 32


def timm_net(num_classes: int = 3, channels: int = 3, seed: int = 0) -> nn.Module:
    import timm

    torch.manual_seed(seed)
    return timm.create_model("test_efficientnet", pretrained=False, num_classes=num_classes,
                             in_chans=channels).eval()


def write_card(folder: Path, net: nn.Module | None = None, *, weights: Any = "w.safetensors",
               labels: tuple[str, ...] | str = LABELS, **changes: Any) -> Path:
    """Weights (unless ``net`` is None), labels and a card in ``folder``; ``changes``
    replace card keys (a value of ``...`` removes the key)."""
    folder.mkdir(parents=True, exist_ok=True)
    if net is not None and isinstance(weights, str):
        state = {k: v.contiguous() for k, v in net.state_dict().items()}
        if weights.endswith(".safetensors"):
            save_file(state, str(folder / weights))
        else:
            torch.save(state, folder / weights)
    if isinstance(labels, tuple):
        (folder / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
        labels = "labels.txt"
    card: dict[str, Any] = {"architecture": TIMM, "weights": weights, "labels": labels,
                            "input_size": SIZE, "mean": [0.5, 0.5, 0.5],
                            "std": [0.25, 0.25, 0.25], "channels": 3}
    card.update(changes)
    card = {k: v for k, v in card.items() if v is not ...}
    path = folder / "card.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    return path


@pytest.fixture
def card(tmp_path: Path) -> Path:
    return write_card(tmp_path / "model", timm_net())


# -- reading --------------------------------------------------------------------------


def test_read_card_resolves_paths_and_defaults(card: Path) -> None:
    found = read_card(card)
    assert found.name == "card" and found.family == "timm"
    assert found.architecture == "test_efficientnet" and found.reference == TIMM
    assert found.weights == card.parent / "w.safetensors"
    assert found.labels == card.parent / "labels.txt"
    assert found.resize == SIZE and found.crop_pct == 1.0
    assert found.channel_order == "RGB" and found.mean == (0.5, 0.5, 0.5)
    assert card_labels(card).names == LABELS and not card_labels(card).is_imagenet


def test_resize_sets_the_crop_and_name_overrides_the_stem(tmp_path: Path) -> None:
    path = write_card(tmp_path, timm_net(), resize=40, name="hens", description="x")
    found = read_card(path)
    assert found.crop_pct == pytest.approx(0.8) and found.name == "hens"
    model = load_model(path, device="cpu")
    assert model.crop_pct == pytest.approx(0.8) and model.name == "hens"


def test_imagenet_labels_are_the_shared_set(tmp_path: Path) -> None:
    path = write_card(tmp_path, timm_net(1000), labels="imagenet")
    assert card_labels(path) is imagenet_classes()
    assert load_model(path, device="cpu").classes.is_imagenet


@pytest.mark.parametrize(("weights", "channel_order"), [("w.safetensors", "RGB"),
                                                         ("w.pth", "BGR"), ("w.pt", "RGB")])
def test_loaded_model_computes_what_the_trained_net_did(tmp_path: Path, weights: str,
                                                        channel_order: str) -> None:
    net = timm_net(seed=3)
    path = write_card(tmp_path, net, weights=weights, channel_order=channel_order)
    model = load_model(path, device="cpu")
    assert model.name == "card" and model.classes.names == LABELS
    assert model.channel_order == channel_order
    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    x = images.flip(1) if channel_order == "BGR" else images
    with torch.no_grad():
        expected = net((x - 0.5) / 0.25)
        assert torch.allclose(model(images), expected, atol=1e-4)
    assert not any(p.requires_grad for p in model.parameters())  # load options applied


def test_missing_batch_norm_counters_are_tolerated(tmp_path: Path) -> None:
    net = timm_net()
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    folder = tmp_path / "m"
    path = write_card(folder, None)
    save_file(state, str(folder / "w.safetensors"))
    assert load_card_model(path).classes.names == LABELS


# -- one-line errors ------------------------------------------------------------------


CARD_ERRORS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown key": ({"wieghts": "w.safetensors"},
                    "unknown key 'wieghts' (did you mean 'weights'?)"),
    "missing key": ({"mean": ...}, "missing key(s): mean"),
    "missing weights key": ({"weights": ...}, "'weights' is missing"),
    "string size": ({"input_size": "32"}, "input_size must be an integer, got a string"),
    "bool channels": ({"channels": True}, "channels must be an integer"),
    "mean list": ({"mean": 0.5}, "mean must be a list of numbers"),
    "mean 0..255": ({"mean": [123.7, 116.3, 103.5]}, "mean is in [0, 1] units"),
    "std zero": ({"std": [0.2, 0.0, 0.2]}, "std is in (0, 1] units"),
    "channel count": ({"channels": 1}, "mean needs 1 value(s) for 1 channel(s), got 3"),
    "channels 2": ({"channels": 2, "mean": [0.5] * 2, "std": [0.2] * 2},
                   "channels must be 1 or 3, got 2"),
    "small resize": ({"resize": 16}, "resize must be at least input_size (32), got 16"),
    "order": ({"channel_order": "GBR"}, "channel_order must be RGB or BGR"),
    "family": ({"architecture": "keras:resnet"}, "architecture must be torchvision:NAME"),
    "onnx suffix": ({"architecture": "onnx:model.pb"}, "names a .onnx file"),
    "weights suffix": ({"weights": "w.h5"}, "weights must be a .safetensors, .pt, .pth file"),
    "weights file": ({"weights": "gone.safetensors"}, "the weights file"),
    "labels file": ({"labels": "gone.txt"}, "the labels file"),
    "onnx file": ({"architecture": "onnx:gone.onnx", "weights": ...}, "the ONNX file"),
    "onnx weights": ({"architecture": "onnx:net.onnx"}, "an ONNX model takes no 'weights'"),
    # The name becomes part of output file names: no paths, nothing hidden, not endless.
    "name with a path": ({"name": "../../escaped"}, "name must be 1-64 letters"),
    "absolute name": ({"name": "/tmp/x"}, "name must be 1-64 letters"),
    "hidden name": ({"name": ".hidden"}, "name must be 1-64 letters"),
    "long name": ({"name": "n" * 300}, "name must be 1-64 letters"),
}


@pytest.mark.parametrize("case", list(CARD_ERRORS))
def test_bad_cards_fail_in_one_line(tmp_path: Path, case: str) -> None:
    changes, message = CARD_ERRORS[case]
    (tmp_path / "net.onnx").write_bytes(b"")
    path = write_card(tmp_path, timm_net(), **changes)
    (tmp_path / "gone.safetensors").unlink(missing_ok=True)
    with pytest.raises(ModelCardError) as info:
        read_card(path)
    text = str(info.value)
    assert message in text and len(text.splitlines()) == 1 and str(path) in text, text
    if case == "unknown key":
        assert all(key in text for key in CARD_KEYS)


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "is not valid JSON: Expecting property name"),
    ("[1, 2]", "expected a JSON object, got a list"),
])
def test_unreadable_cards(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "card.json"
    path.write_text(content)
    with pytest.raises(ModelCardError, match=message):
        read_card(path)
    with pytest.raises(ModelCardError, match="does not exist"):
        read_card(tmp_path / "none.json")


def test_unknown_architecture_suggests_close_names(tmp_path: Path) -> None:
    path = write_card(tmp_path, timm_net(), architecture="torchvision:mobilenet_v3_smal")
    with pytest.raises(ModelCardError, match="did you mean mobilenet_v3_small"):
        load_card_model(path)
    path = write_card(tmp_path, timm_net(), architecture="timm:test_efficientnett")
    with pytest.raises(ModelCardError, match="timm has no model 'test_efficientnett'"):
        load_card_model(path)


def _load_error(path: Path) -> str:
    with pytest.raises(ModelCardError) as info:
        load_model(path, device="cpu")
    text = str(info.value)
    assert len(text.splitlines()) == 1, text
    return text


def test_wrong_shape_names_the_first_mismatching_tensor(tmp_path: Path) -> None:
    path = write_card(tmp_path, timm_net(), channels=1, mean=[0.5], std=[0.25])
    assert ("conv_stem.weight: file (24, 3, 3, 3), model (24, 1, 3, 3)"
            in _load_error(path))


def test_torchvision_grey_mismatch_names_the_first_conv(tmp_path: Path) -> None:
    from torchvision import models

    net = models.get_model("mobilenet_v3_small", weights=None, num_classes=3)
    path = write_card(tmp_path, net, architecture="torchvision:mobilenet_v3_small",
                      channels=1, mean=[0.5], std=[0.25])
    assert "features.0.0.weight: file (16, 3, 3, 3), model (16, 1, 3, 3)" in _load_error(path)


def test_label_count_against_the_head(tmp_path: Path) -> None:
    path = write_card(tmp_path, timm_net(10))
    assert "labels.txt has 3 names, the weights' head has 10 outputs" in _load_error(path)


def test_missing_and_unexpected_keys(tmp_path: Path) -> None:
    state = timm_net().state_dict()
    first = next(iter(state))
    folder = tmp_path / "m"
    path = write_card(folder, None)
    save_file({k: v.contiguous() for k, v in state.items() if k != first},
              str(folder / "w.safetensors"))
    assert f"does not fit {TIMM}: missing key {first}" in _load_error(path)
    extra = {f"module.{k}": v.contiguous() for k, v in state.items()}
    save_file(extra, str(folder / "w.safetensors"))
    text = _load_error(path)
    assert f"missing key {first} (and " in text and "start with 'module.'" in text


def test_not_a_state_dict(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    path = write_card(folder, None, weights="w.pth")
    torch.save([torch.zeros(2)], folder / "w.pth")
    assert "holds a list, not a state dict" in _load_error(path)
    torch.save({"state_dict": timm_net().state_dict(), "epoch": 3}, folder / "w.pth")
    assert "'state_dict' holds a OrderedDict, not a tensor" in _load_error(path)
    (folder / "w.pth").write_bytes(b"garbage")
    assert "not a PyTorch state dict" in _load_error(path)
    path = write_card(folder, None, weights="w.safetensors")
    (folder / "w.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{}")
    assert "not a valid safetensors file" in _load_error(path)


class Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def write_malicious(path: Path, marker: Path, *, zipped: bool = True) -> None:
    """A ``.pth`` whose unpickling would create ``marker`` (next to real tensors)."""
    state = {"conv_stem.weight": torch.zeros(1), "payload": Payload(marker)}
    torch.save(state, path, _use_new_zipfile_serialization=zipped)


@pytest.mark.parametrize("zipped", [True, False])
def test_code_running_pickle_is_refused(tmp_path: Path, zipped: bool) -> None:
    folder = tmp_path / "m"
    path = write_card(folder, None, weights="evil.pth")
    marker = tmp_path / "MARKER"
    write_malicious(folder / "evil.pth", marker, zipped=zipped)
    text = _load_error(path)
    assert text == (f"model card {path}: refusing to load {folder / 'evil.pth'}: it is not a "
                    "plain state dict (it would run code when unpickled, via posix.system)")
    assert not marker.exists()
    # The file is really dangerous: an unsafe load would have run the command.
    control = tmp_path / "CONTROL"
    write_malicious(tmp_path / "control.pth", control, zipped=zipped)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.load(tmp_path / "control.pth", weights_only=False)
    assert control.exists()


# -- grey models ----------------------------------------------------------------------


@pytest.mark.parametrize("architecture", ["torchvision:mobilenet_v3_small", TIMM])
def test_grey_model_classifies_rgb_images(tmp_path: Path, architecture: str) -> None:
    from torchvision import models

    if architecture.startswith("timm"):
        net = timm_net(channels=1)
    else:
        torch.manual_seed(0)
        net = models.get_model("mobilenet_v3_small", weights=None, num_classes=3)
        net.features[0][0] = nn.Conv2d(1, 16, 3, 2, 1, bias=False)
        net.eval()
    path = write_card(tmp_path, net, architecture=architecture, channels=1, mean=[0.45],
                      std=[0.22])
    model = load_model(path, device="cpu")
    assert model.channels == 1
    images = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    grey = (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, True)
    grey = torch.nn.functional.interpolate(grey, size=(SIZE, SIZE), mode="bilinear",
                                           align_corners=False, antialias=True)
    with torch.no_grad():
        assert torch.allclose(model(images), net((grey - 0.45) / 0.22), atol=1e-4)
    predictions = model.predict(images, 2)
    assert len(predictions) == 3 and predictions[0].names[0] in LABELS


# -- ONNX -----------------------------------------------------------------------------


def export_onnx(net: nn.Module, path: Path, size: int) -> None:
    """torch's default ONNX export (opset 20: constants as nodes), any batch size."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(net.eval(), (torch.zeros(1, 3, size, size),), str(path),
                          dynamo=False, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def test_onnx_output_width_must_match_the_labels(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 10))
    export_onnx(net, tmp_path / "net.onnx", SIZE)
    path = write_card(tmp_path, None, architecture="onnx:net.onnx", weights=None)
    assert "labels.txt has 3 names, the model has 10 outputs" in _load_error(path)
    (tmp_path / "net.onnx").write_bytes(b"not protobuf")
    assert "cannot read net.onnx as ONNX" in _load_error(path)


@pytest.mark.pretrained
def test_onnx_export_of_a_zoo_model_matches_it(tmp_path: Path) -> None:
    zoo = load_model("mobilenet_v2", fold_bn=False, device="cpu")
    export_onnx(zoo.net, tmp_path / "mobilenet_v2.onnx", 224)
    path = write_card(tmp_path, None, architecture="onnx:mobilenet_v2.onnx", weights=...,
                      labels="imagenet", input_size=224, resize=256,
                      mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    onnx_model = load_model(path, device="cpu")
    assert onnx_model.classes is imagenet_classes() and onnx_model.crop_pct == 0.875
    photos = [read_image(SAMPLES / f"{name}.png")
              for name in ("chelsea", "coffee", "astronaut", "camera")]
    with torch.no_grad():
        for photo in photos:
            assert torch.allclose(onnx_model(photo), zoo(photo), atol=1e-4, rtol=0)
    hog = imagenet_classes().resolve("hog")
    photo = photos[0].requires_grad_(True)
    zoo(photo)[0, hog].backward()
    zoo_gradient = photo.grad.clone()
    photo.grad = None
    onnx_model(photo)[0, hog].backward()
    similarity = torch.nn.functional.cosine_similarity(zoo_gradient.flatten(),
                                                       photo.grad.flatten(), dim=0)
    assert float(similarity) > 0.999  # the converted graph has the zoo model's gradients
    photo.requires_grad_(False)
    attack = PGD(eps=8 / 255, steps=20, seed=0)  # the CLI's default
    for model in (zoo, onnx_model):
        adversarial = attack(model, photos[0], targeted(hog))
        for judge in (zoo, onnx_model):  # both read either result as a hog
            assert judge.predict(adversarial, 1)[0].indices[0] == hog


def test_default_names_are_safe_and_byte_order_marks_are_read(tmp_path: Path) -> None:
    path = write_card(tmp_path, timm_net())
    odd = path.with_name("my card (v2).json")
    odd.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # saved by Notepad
    (tmp_path / "labels.txt").write_bytes(b"\xef\xbb\xbf" + "\n".join(LABELS).encode())
    assert read_card(odd).name == "my_card_v2_"
    assert card_labels(odd).names == LABELS


def test_imagenet_is_decided_by_the_names_not_the_file_name(tmp_path: Path) -> None:
    """A 3-name file called "imagenet" is not ImageNet (the COCO mapping would protect
    tench); a labels.txt holding ImageNet's 1000 names is (everyday words work)."""
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "imagenet").write_text("\n".join(LABELS), encoding="utf-8")
    assert not LabelSet.from_file(folder / "imagenet").is_imagenet
    (folder / "labels.txt").write_text("\n".join(imagenet_classes().names), encoding="utf-8")
    full = LabelSet.from_file(folder / "labels.txt")
    assert full.is_imagenet and classes_for("chicken", full) == [8, 7]

