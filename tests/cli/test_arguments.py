"""Argument errors: one line on stderr and exit code 2, for every subcommand (issue 9.3),
whether argparse or the command's own checks (``cli/options.py``) reject the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from chickensaviour.cli import main
from chickensaviour.cli.main import build_parser
from tests.cli.helpers import assert_fails_cleanly
from tests.conftest import SAMPLES

IMG = str(SAMPLES / "chelsea.png")
CLIP = str(SAMPLES / "chelsea_clip.mp4")

#: argv -> what the one line must say; at least one argparse error per subcommand.
CASES: list[tuple[list[str], str]] = [
    ([], "chickensaviour: error: the following arguments are required: COMMAND"),
    (["nonsense"], "chickensaviour: error: argument COMMAND: invalid choice: 'nonsense'"),
    (["--bogus", "models"], "chickensaviour: error: unrecognized arguments: --bogus"),
    (["sweep", IMG, "--target", "hog", "--step", "abc", "--out", "o"],
     "chickensaviour sweep: error: --step must be a number of 1/255 steps, got 'abc'"),
    (["sweep", IMG, "--out", "o"],
     "chickensaviour sweep: error: the following arguments are required: --target"),
    (["attack", IMG, "--target", "hog", "--out", "o", "--seed", "x"],
     "chickensaviour attack: error: argument --seed: invalid int value: 'x'"),
    (["attack", IMG, "--out", "o", "--method", "cw"],
     "chickensaviour attack: error: argument --method: invalid choice: 'cw'"),
    (["attack", "--out", "o"],
     "chickensaviour attack: error: the following arguments are required: image"),
    (["patch", "--target", "hog"],
     "chickensaviour patch: error: the following arguments are required: --out"),
    (["patch", "--target", "hog", "--out", "p.png", "--seed", "1.5"],
     "chickensaviour patch: error: argument --seed: invalid int value: '1.5'"),
    (["detect", IMG], "chickensaviour detect: error: the following arguments are required: --out"),
    (["detect", IMG, "--out", "x.png", "--frobnicate"],
     "chickensaviour: error: unrecognized arguments: --frobnicate"),
    (["render", CLIP, "--out", "x.gif", "--mode", "dance"],
     "chickensaviour render: error: argument --mode: invalid choice: 'dance'"),
    (["render", CLIP, "--out", "x.gif", "--ghost-steps", "many"],
     "chickensaviour render: error: argument --ghost-steps: invalid int value: 'many'"),
    (["filters", IMG, "--layer"],
     "chickensaviour filters: error: argument --layer: expected one argument"),
    (["dream", IMG, "--out", "d.png"],
     "chickensaviour dream: error: the following arguments are required: --layer"),
    (["dream", IMG, "--layer", "features.5", "--out", "d.png", "--seed", "s"],
     "chickensaviour dream: error: argument --seed: invalid int value: 's'"),
    (["visualize", "--class", "hog", "--out", "v.png", "--reg", "magic"],
     "chickensaviour visualize: error: argument --reg: invalid choice: 'magic'"),
    (["models", "extra"], "chickensaviour: error: unrecognized arguments: extra"),
    (["classes", "hen", "--limit", "ten"],
     "chickensaviour classes: error: argument --limit: invalid int value: 'ten'"),
    (["lab", "transfer", "--models", "mobilenet_v2", "--seed", "x", "--out", "o"],
     "chickensaviour lab transfer: error: argument --seed: invalid int value: 'x'"),
    (["fool", "--encoding", "genetic", "--out", "o"],
     "chickensaviour fool: error: argument --encoding: invalid choice: 'genetic'"),
    (["fool", "--generations", "many", "--out", "o"],
     "chickensaviour fool: error: --generations must be an integer"),
    (["fool-retrain", "--rounds", "-2", "--out", "o"],
     "chickensaviour fool-retrain: error: --rounds must be"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(a[:1] + a[2:4]) or "none"
                                                          for a, _ in CASES])
def test_argument_errors_are_one_line_with_exit_code_2(
        argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert_fails_cleanly(argv, tmp_path, capsys, message)


def test_every_subcommand_is_covered() -> None:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    covered = {argv[0] for argv, _ in CASES if argv and not argv[0].startswith("-")}
    assert set(action.choices) <= covered | {"nonsense"}


def test_help_and_version_still_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["sweep", "--help"], ["--version"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0
    assert "usage:" in capsys.readouterr().out
