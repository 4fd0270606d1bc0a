"""ONNX Runtime engines: parity with PyTorch on real frames, fallback, cache, threads."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from chickensaviour.device import torch_threads
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.imaging import read_image
from chickensaviour.labels import LabelSet
from chickensaviour.models.engines import (
    ForwardEngine,
    classifier_engine,
    factories,
    nanodet_engine,
    session_options,
)
from chickensaviour.models.engines.export import GraphSpec
from chickensaviour.models.wrapper import ImageClassifier
from tests.conftest import SAMPLES, make_tiny_classifier
from tests.threads import forwards_meanwhile

ZOO = ["mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2",
       "resnet50", "lenet5_mnist"]
PARITY = 1e-4


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread here, as the live stages use; the count is restored after (other
    tests' float rounding depends on it)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def frames() -> list[torch.Tensor]:
    """Three real photographs, ``(1, 3, H, W)`` each, of different sizes."""
    return [read_image(SAMPLES / name) for name in ("chelsea.png", "coffee.png",
                                                    "astronaut.png")]


def _real_inputs(model: ImageClassifier, frames: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([model.to_input_size(frame) for frame in frames])


def _as_tuple(output: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return output if isinstance(output, tuple) else (output,)


def _max_diff(a: torch.Tensor | tuple[torch.Tensor, ...],
              b: torch.Tensor | tuple[torch.Tensor, ...]) -> float:
    pairs = list(zip(_as_tuple(a), _as_tuple(b), strict=True))
    assert all(x.shape == y.shape for x, y in pairs)
    return max(float((x - y).abs().max()) for x, y in pairs)


@pytest.mark.pretrained
@pytest.mark.parametrize("name", ZOO)
def test_zoo_models_match_pytorch_on_real_frames(name: str, frames: list[torch.Tensor]) -> None:
    from chickensaviour.models import load_model

    model = load_model(name, device="cpu")
    modes = [m.training for m in model.modules()]
    engine = classifier_engine(model, engine="onnxruntime", cache=False)
    assert engine.name == "onnxruntime" and engine.reason == ""
    assert isinstance(engine, ForwardEngine)
    x = _real_inputs(model, frames)
    for batch in (x[:1], x[1:3]):
        got = engine(batch)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
        with torch.no_grad():
            reference = model.net(model.normalize(batch))
        assert _max_diff(got, reference) < PARITY
    assert not model.training and [m.training for m in model.modules()] == modes


@pytest.fixture(scope="module")
def nanodet_pair() -> tuple[nn.Module, ForwardEngine]:
    from chickensaviour.models.nanodet.net import shared_nanodet

    net = shared_nanodet(torch.device("cpu"))
    return net, nanodet_engine(net, engine="onnxruntime", cache=False)


@pytest.mark.pretrained
@pytest.mark.parametrize("square", [False, True])
def test_nanodet_matches_pytorch_on_real_frames(
        square: bool, nanodet_pair: tuple[nn.Module, ForwardEngine]) -> None:
    import cv2

    from chickensaviour.imaging import bgr_to_tensor
    from chickensaviour.models.nanodet.detector import NanoDetDetector, letterbox

    net, engine = nanodet_pair
    capture = cv2.VideoCapture(str(SAMPLES / "chelsea_clip.mp4"))
    clip = []
    for _ in range(2):
        ok, frame = capture.read()
        assert ok
        clip.append(bgr_to_tensor(frame))
    capture.release()
    frames = torch.cat(clip)  # (2, 3, 480, 640)
    detector = NanoDetDetector(device="cpu", square=square, net=net)  # type: ignore[arg-type]
    plan = detector.plan(frames.shape[-1], frames.shape[-2])
    assert (plan.input_width, plan.input_height) == ((416, 416) if square else (416, 320))
    x = detector.normalize(letterbox(frames, plan))
    for batch in (x[:1], x):
        got = engine(batch)
        assert isinstance(got, tuple) and len(got) == 2
        with torch.no_grad():
            expected = net(batch)
        assert _max_diff(got, expected) < PARITY
    assert not net.training


def test_bad_input_and_arguments_are_clear_errors(
        tiny_model: ImageClassifier, nanodet_pair: tuple[nn.Module, ForwardEngine]) -> None:
    engine = classifier_engine(tiny_model, cache=False)
    with pytest.raises(ChickenSaviourError, match="16, 16"):
        engine(torch.rand(1, 3, 20, 20))
    with pytest.raises(ChickenSaviourError, match="multiples of 32"):
        nanodet_pair[1](torch.rand(1, 3, 100, 96))
    with pytest.raises(ChickenSaviourError, match="engine must be"):
        classifier_engine(tiny_model, engine="tensorrt", cache=False)
    with pytest.raises(ChickenSaviourError, match="threads"):
        classifier_engine(tiny_model, threads=0, cache=False)


def test_session_options_do_not_spin() -> None:
    options = session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session_options(threads=2).intra_op_num_threads == 2


def _batch_norm_classifier(seed: int) -> ImageClassifier:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
    batch_norm = net[1]
    assert isinstance(batch_norm, nn.BatchNorm2d)
    batch_norm.running_mean.uniform_(-0.5, 0.5)  # far from batch statistics
    batch_norm.running_var.uniform_(2.0, 4.0)
    return ImageClassifier(net, name=f"bn{seed}", input_size=16, mean=(0.5,) * 3,
                           std=(0.25,) * 3, classes=_labels(5)).eval()


def _labels(count: int) -> LabelSet:
    return LabelSet(tuple(f"c{i}" for i in range(count)))


def test_the_shared_model_is_unchanged_by_the_export() -> None:
    model = _batch_norm_classifier(0)
    model.net[0].requires_grad_(False)  # a mix, as a partly frozen model has
    grads = {name: p.requires_grad for name, p in model.named_parameters()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        before = model.net(model.normalize(x))
    engine = classifier_engine(model, engine="onnxruntime", cache=False)
    assert not any(m.training for m in model.modules())
    assert {name: p.requires_grad for name, p in model.named_parameters()} == grads
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    with torch.no_grad():
        assert torch.equal(model.net(model.normalize(x)), before)
    assert _max_diff(engine(x), before) < PARITY


class _NumpyNet(nn.Module):
    """A forward that leaves torch for numpy: traced, it becomes a constant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3)).detach().numpy()
        return torch.from_numpy(np.tanh(pooled) * 3.0)


class _UnsupportedNet(nn.Module):
    """Uses an operator ONNX opset 17 does not have."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.svdvals(x).mean(dim=2)


@pytest.mark.parametrize("net_type", [_NumpyNet, _UnsupportedNet])
def test_an_unexportable_card_falls_back_to_pytorch_and_warns_once(
        net_type: type[nn.Module], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(factories, "_warned", set())
    model = ImageClassifier(net_type(), name="card", identity="card-0123", input_size=16,
                            mean=(0.5,) * 3, std=(0.25,) * 3, classes=_labels(3)).eval()
    x = torch.rand(2, 3, 16, 16)
    with caplog.at_level(logging.WARNING, logger="chickensaviour.models.engines"):
        first = classifier_engine(model, cache=False)
        second = classifier_engine(model, cache=False)
    for engine in (first, second):
        assert engine.name == "pytorch" and "card-0123" in engine.reason
        assert torch.equal(engine(x), model.net(model.normalize(x)))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "using PyTorch" in warnings[0].getMessage()
    with pytest.raises(ChickenSaviourError, match="card-0123"):
        classifier_engine(model, engine="onnxruntime", cache=False)
    forced = classifier_engine(model, engine="torch", cache=False)
    assert forced.name == "pytorch"


def test_torch_engine_on_request(tiny_model: ImageClassifier) -> None:
    engine = classifier_engine(tiny_model, engine="torch")
    x = torch.rand(2, 3, 16, 16)
    assert engine.name == "pytorch" and engine.reason
    assert torch.equal(engine(x), tiny_model.net(tiny_model.normalize(x)))


def test_graphs_are_cached_and_a_corrupt_file_is_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHICKENSAVIOUR_CACHE", str(tmp_path))
    exports: list[int] = []
    real_export = factories.export_graph

    def counting_export(module: nn.Module, spec: GraphSpec) -> bytes:
        exports.append(1)
        return real_export(module, spec)

    monkeypatch.setattr(factories, "export_graph", counting_export)
    model = make_tiny_classifier(seed=3)
    x = torch.rand(2, 3, 16, 16)
    expected = model.net(model.normalize(x)).detach()
    first = classifier_engine(model)
    files = list((tmp_path / "engines").glob("*.onnx"))
    assert len(exports) == 1 and len(files) == 1
    second = classifier_engine(model)
    assert len(exports) == 1 and second.name == "onnxruntime"
    assert _max_diff(second(x), expected) < PARITY and _max_diff(first(x), expected) < PARITY
    files[0].write_bytes(b"not an onnx graph")
    third = classifier_engine(model)
    assert len(exports) == 2 and third.name == "onnxruntime"
    assert files[0].read_bytes() != b"not an onnx graph"
    assert _max_diff(third(x), expected) < PARITY
    other = make_tiny_classifier(seed=4)  # same name, other weights: another graph
    classifier_engine(other)
    assert len(exports) == 3 and len(list((tmp_path / "engines").glob("*.onnx"))) == 2
    assert not list((tmp_path / "engines").glob(".*"))  # no temporaries left


def test_exporting_does_not_disturb_forwards_on_another_thread(
        nanodet_pair: tuple[nn.Module, ForwardEngine]) -> None:
    """The exporter traces with process-wide machinery; another thread's model (here in
    eval mode with batch norms) must keep computing exactly what it computed before."""
    busy = _batch_norm_classifier(7)
    with forwards_meanwhile(busy, torch.rand(2, 3, 16, 16)) as count:
        for seed in range(6):
            classifier_engine(_batch_norm_classifier(seed), engine="onnxruntime", cache=False)
        net, _ = nanodet_pair
        nanodet_engine(net, engine="onnxruntime", cache=False)  # type: ignore[arg-type]
    assert count[0] > 0 and not busy.training


def test_a_model_off_the_cpu_uses_pytorch(tiny_model: ImageClassifier,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factories, "_warned", set())
    monkeypatch.setattr(factories, "model_device", lambda module: torch.device("cuda", 0))
    engine = classifier_engine(tiny_model, cache=False)
    assert engine.name == "pytorch" and "cuda:0" in engine.reason
    with pytest.raises(ChickenSaviourError, match="CPU"):
        classifier_engine(tiny_model, engine="onnxruntime", cache=False)
