"""``chickensaviour lab ...`` end to end: bundled photos, real models, files and schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chickensaviour.cli.main import main


@pytest.mark.pretrained
def test_lab_transfer_on_bundled_photos(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "lab"
    code = main(["lab", "transfer", "--models", "mobilenet_v2,efficientnet_lite0",
                 "--attacks", "fgsm,pgd", "--eps", "8", "--steps", "2", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    data = json.loads((out / "transfer.json").read_text())
    assert data["models"] == ["mobilenet_v2", "efficientnet_lite0"]
    assert data["attacks"] == ["fgsm", "pgd"] and data["eps"] == [8]
    for attack in ("fgsm", "pgd"):
        matrix = data["success"][attack]["8"]
        assert len(matrix) == 2 and all(len(row) == 2 for row in matrix)
    for name in ("transfer.csv", "report.md", "details.json", "heatmap_fgsm_eps8.png",
                 "heatmap_pgd_eps8.png"):
        assert (out / name).stat().st_size > 0
    page = (out / "report.md").read_text()
    assert "heatmap_pgd_eps8.png" in page and "| architecture |" in page


@pytest.mark.parametrize("extra", [["--attacks", "nope"], ["--eps", "0"],
                                   ["--models", "mobilenet_v2,mobilenet_v2"],
                                   ["--models", "no_such_model"], ["--workers", "0", "--ray"],
                                   ["--attacks", "pgd-l2"], ["--ray-address", "nowhere"],
                                   ["--ray-address", "127.0.0.1:9"]])
def test_lab_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                   extra: list[str]) -> None:
    out = tmp_path / "lab"
    argv = ["lab", "transfer", "--models", "mobilenet_v2", "--out", str(out), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("chickensaviour lab: error:") and "\n" not in err
    assert not out.exists()


def test_lab_missing_image_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["lab", "defend", str(tmp_path / "missing.png"), "--model", "mobilenet_v2",
                 "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
