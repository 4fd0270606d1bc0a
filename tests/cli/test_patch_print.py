"""``patch --print`` (a printable sheet and PNG) and ``patch --evaluate`` (rates, contact
sheet), through the command line with the real MobileNetV2."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from chickensaviour.cli import main
from tests.cli.helpers import assert_fails_cleanly, files_under
from tests.conftest import SAMPLES

pytestmark = pytest.mark.pretrained


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("printed")
    code = main(["patch", "--print", "--target", "hog", "--steps", "2", "--size", "16",
                 "--train", str(SAMPLES / "chelsea.png"), "--protect", "cat",
                 "--size-cm", "6", "--paper", "Letter", "--out", str(folder / "hog.pdf"),
                 "--device", "cpu"])
    assert code == 0
    return folder


def test_print_writes_a_sheet_at_true_size_and_a_png_that_says_what_it_is_for(
        printed: Path) -> None:
    assert files_under(printed) == ["hog.pdf", "hog.png"]
    page = PdfReader(printed / "hog.pdf").pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == (612, 792)
    text = page.extract_text()
    assert "mobilenet_v2" in text and "hog" in text and "6 cm" in text
    with Image.open(printed / "hog.png") as png:
        assert png.size == (16, 16)
        assert png.text["chickensaviour:target"] == "hog"
        assert png.text["chickensaviour:model"] == "mobilenet_v2"
        assert png.text["chickensaviour:protect"] == "281,282,283,284,285"


def test_evaluate_reads_the_goal_from_the_png_and_reports_patch_and_baselines(
        printed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, report = tmp_path / "contact.png", tmp_path / "rates.json"
    code = main(["patch", "--evaluate", str(printed / "hog.png"), "--on",
                 str(SAMPLES / "chelsea.png"), "--placements", "1", "--out", str(out),
                 "--json", str(report), "--device", "cpu"])
    assert code == 0
    printed_text = capsys.readouterr().out
    assert "targeted (hog)" in printed_text and "noise" in printed_text
    summary = json.loads(report.read_text())
    assert summary["target"] == "hog" and summary["simulation"] == "print-camera"
    assert set(summary["rates"]) == {"patch", "grey", "noise"}
    for rates in summary["rates"].values():
        assert rates["trials"] == summary["views"] and 0 <= rates["untargeted"] <= 1
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[1] == 6 * 200 and sheet.shape[0] >= 222


@pytest.mark.parametrize(("extra", "message"), [
    (["--print", "--target", "hog", "--out", "p.png"], "a .pdf path"),
    (["--print", "--target", "hog", "--size-cm", "40", "--out", "p.pdf"],
     "the maximum is 16.6 cm"),
    (["--print", "--target", "hog", "--size-cm", "0", "--out", "p.pdf"], "greater than 0"),
    (["--print", "--out", "p.pdf"], "--print needs --target"),
    (["--evaluate", "missing.png", "--on", "x.png", "--out", "c.png"], "no such file"),
    (["--evaluate", "p.png", "--out", "c.png"], "--evaluate needs --on"),
    (["--target", "hog", "--on", "x.png", "--out", "b.png"], "--on goes with --evaluate"),
    (["--target", "hog", "--size-cm", "5", "--out", "b.png"], "--size-cm goes with --print"),
    (["--evaluate", "p.png", "--on", "x.png", "--steps", "5", "--out", "c.png"],
     "--steps does not go with --evaluate"),
    (["--print", "--target", "hog", "--method", "pgd", "--out", "p.pdf"],
     "--method does not go with --print"),
    (["--print", "--against", "nanodet", "--hide", "person", "--target", "hog", "--out",
      "p.pdf"], "--target is for classifier patches"),
])
def test_bad_print_and_evaluate_arguments_fail_in_one_line(
        extra: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert_fails_cleanly(["patch", *extra, "--device", "cpu"], tmp_path, capsys, message)


def test_evaluate_refuses_a_patch_that_is_not_square(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    media = tmp_path / "media"
    media.mkdir()
    cv2.imwrite(str(media / "wide.png"), np.zeros((16, 32, 3), np.uint8))
    work = tmp_path / "work"
    work.mkdir()
    assert_fails_cleanly(["patch", "--evaluate", str(media / "wide.png"), "--on",
                          str(SAMPLES / "chelsea.png"), "--out", str(work / "c.png")],
                         work, capsys, "must be a square image")
