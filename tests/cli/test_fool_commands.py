"""``fool`` and ``fool-retrain`` on LeNet-5 (trained here), and their failures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from chickensaviour.cli import main
from chickensaviour.fooling.evolution import score_images
from chickensaviour.imaging import read_image
from chickensaviour.models import load_model
from tests.cli.helpers import assert_fails_cleanly
from tests.conftest import require_weights


@pytest.fixture(scope="module")
def lenet():
    require_weights("lenet5_mnist")
    threads = torch.get_num_threads()
    yield load_model("lenet5_mnist", device="cpu")
    torch.set_num_threads(threads)  # the commands pick one thread for LeNet


def test_fool_writes_gallery_champions_json_history_and_gif(tmp_path: Path, lenet,
                                                          capsys) -> None:
    out = tmp_path / "cppn"
    assert main(["fool", "--model", "lenet5_mnist", "--encoding", "cppn", "--generations",
                 "6", "--population", "60", "--gif", "--seed", "3", "--out", str(out)]) == 0
    assert "classes >= 99%" in capsys.readouterr().out
    document = json.loads((out / "fool.json").read_text())
    assert document["model"] == "lenet5_mnist" and document["encoding"] == "cppn"
    assert document["generations"] == 6 and document["population"] == 60
    assert document["focus"] == 0.9999  # the default for a 10-class model
    records = document["classes"]
    assert sorted(r["index"] for r in records) == list(range(10))
    assert {r["name"] for r in records} == {str(d) for d in range(10)}
    confidences = [r["confidence"] for r in records]
    assert confidences == sorted(confidences, reverse=True)
    for record in records:  # measured on the 8-bit PNG as written
        image = read_image(out / record["png"])
        assert image.shape == (1, 3, 28, 28)
        measured = float(score_images(lenet, image)[0, record["index"]])
        assert measured == pytest.approx(record["confidence"], abs=2e-6)
        assert 0 <= record["generation"] <= 6
    with (out / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["generation"]) for r in rows] == list(range(7))
    assert int(rows[-1]["evaluated"]) == 7 * 60
    gallery = Image.open(out / "gallery.png")
    assert gallery.width > 5 * 112
    gif = Image.open(out / "evolution.gif")
    assert gif.n_frames == 7
    assert (out / "history.png").stat().st_size > 1000


def test_fool_is_deterministic_for_a_seed(tmp_path: Path, lenet) -> None:
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["fool", "--model", "lenet5_mnist", "--encoding", "direct",
                     "--generations", "3", "--population", "40", "--seed", "1",
                     "--out", str(out)]) == 0
        document = json.loads((out / "fool.json").read_text())
        runs.append([(r["index"], r["confidence"], r["generation"])
                     for r in document["classes"]])
    assert runs[0] == runs[1]


def test_fool_compares_with_gradient_and_keeps_the_top_pngs(tmp_path: Path, lenet) -> None:
    out = tmp_path / "compare"
    assert main(["fool", "--model", "lenet5_mnist", "--encoding", "cppn", "--generations",
                 "3", "--population", "40", "--focus", "none", "--top", "4",
                 "--compare-gradient", "--out", str(out)]) == 0
    document = json.loads((out / "fool.json").read_text())
    assert document["focus"] is None
    saved = [r for r in document["classes"] if r["png"] is not None]
    assert len(saved) == 4 and saved == document["classes"][:4]  # the most confident
    assert len(list((out / "champions").iterdir())) == 4
    gradient = document["gradient"]["classes"]
    assert sorted(r["index"] for r in gradient) == list(range(10))
    for record in gradient:
        image = read_image(out / record["png"])
        assert float(score_images(lenet, image)[0, record["index"]]) == pytest.approx(
            record["confidence"], abs=2e-6)
    assert document["gradient"]["summary"]["at_99"] >= 5  # 200 steps from noise
    assert Image.open(out / "compare.png").height > 2 * 112


def test_a_second_run_into_the_same_folder_leaves_no_stale_files(tmp_path: Path,
                                                                   lenet) -> None:
    out = tmp_path / "again"
    assert main(["fool", "--model", "lenet5_mnist", "--encoding", "cppn", "--generations",
                 "2", "--population", "30", "--gif", "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    assert main(["fool", "--model", "lenet5_mnist", "--encoding", "gradient", "--classes",
                 "4", "--generations", "5", "--out", str(out)]) == 0
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == ["champions/0004_4.png", "fool.json", "gallery.png", "notes.txt"]


def test_fool_gradient_and_single_class_search(tmp_path: Path, lenet) -> None:
    out = tmp_path / "gradient"
    assert main(["fool", "--model", "lenet5_mnist", "--encoding", "gradient", "--classes",
                 "3,7", "--generations", "30", "--out", str(out)]) == 0
    document = json.loads((out / "fool.json").read_text())
    assert document["search"] is None
    assert sorted(r["index"] for r in document["classes"]) == [3, 7]
    assert all(r["confidence"] > 0.9 for r in document["classes"])
    assert not (out / "history.csv").exists()
    single = tmp_path / "single"
    assert main(["fool", "--model", "lenet5_mnist", "--encoding", "direct", "--search",
                 "single", "--classes", "8", "--generations", "5", "--population", "30",
                 "--out", str(single)]) == 0
    document = json.loads((single / "fool.json").read_text())
    assert document["search"] == "single" and document["focus"] is None
    assert [r["index"] for r in document["classes"]] == [8]
    with (single / "history.csv").open() as handle:
        medians = [float(row["median"]) for row in csv.DictReader(handle)]
    assert medians[-1] > medians[0]  # truncation selection improved class 8


@pytest.mark.parametrize(("args", "message"), [
    (["--search", "single", "--classes", "1,2"], "one class"),
    (["--encoding", "gradient", "--gif"], "evolutionary"),
    (["--classes", "giraffe"], "giraffe"),
    (["--population", "0"], "population"),
    (["--focus", "2"], "--focus"),
    (["--minutes", "-1"], "--minutes"),
    (["--seed", "-1"], "--seed"),
    (["--seed", "x"], "--seed"),
    (["--encoding", "gradient", "--population", "10"], "evolutionary"),
    (["--model", "no_such_model"], "unknown model"),
])
def test_fool_refuses_bad_arguments_before_writing(tmp_path: Path, capsys, args: list[str],
                                                  message: str) -> None:
    out = tmp_path / "out"
    assert_fails_cleanly(["fool", "--model", "lenet5_mnist", *args, "--out", str(out)],
                         tmp_path, capsys, message)


def test_fool_retrain_writes_rounds_and_loadable_cards(tmp_path: Path, lenet, capsys) -> None:
    out = tmp_path / "rounds"
    assert main(["fool-retrain", "--rounds", "1", "--generations", "8", "--population",
                 "60", "--train-digits", "2000", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "round 0:" in printed and "round 1:" in printed
    document = json.loads((out / "rounds.json").read_text())
    assert [(r["round"], r["encoding"]) for r in document["rounds"]] == [
        (0, "direct"), (0, "cppn"), (1, "direct"), (1, "cppn")]
    assert document["settings"]["rounds"] == 1
    assert "| 1 | cppn |" in (out / "rounds.md").read_text()
    assert (out / "rounds.png").stat().st_size > 1000
    for round_index, classes in ((0, 10), (1, 11)):
        model = load_model(out / f"round_{round_index}" / "CARD.json", device="cpu")
        assert len(model.classes) == classes
        assert (out / f"round_{round_index}" / "gallery.png").exists()
    assert model.classes.name(10) == "fooling"
    # a round's card is a model like any other: fool it again, its own digits by name
    again = tmp_path / "again"
    card = str(out / "round_1" / "CARD.json")
    assert main(["fool", "--model", card, "--encoding", "cppn", "--classes", "3,fooling",
                 "--generations", "2", "--population", "20", "--out", str(again)]) == 0
    document = json.loads((again / "fool.json").read_text())
    assert sorted(r["name"] for r in document["classes"]) == ["3", "fooling"]


def test_fool_retrain_refuses_bad_arguments(tmp_path: Path, capsys) -> None:
    assert_fails_cleanly(["fool-retrain", "--rounds", "0", "--out", str(tmp_path / "o")],
                         tmp_path, capsys, "--rounds")
    assert_fails_cleanly(["fool-retrain", "--seed", "-3", "--out", str(tmp_path / "o")],
                         tmp_path, capsys, "--seed")
    assert_fails_cleanly(["fool-retrain", "--model", "mobilenet_v2", "--device", "cpu",
                          "--out", str(tmp_path / "o")], tmp_path, capsys, "LeNet-5")
    assert_fails_cleanly(["fool-retrain", "--encodings", "gradient",
                          "--out", str(tmp_path / "o")], tmp_path, capsys, "encodings")
