"""``main.py`` without a display: it renders the clip instead, honouring the options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import main
from ui.app import EXIT_NO_DISPLAY, sample_source

ROOT = Path(main.__file__).resolve().parent
CLIP_FPS = 30.0  # the bundled clip's rate (150 frames: 5 s)


@pytest.fixture
def no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.platform", "linux")


@pytest.fixture
def render_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record the ``chickensaviour render`` command lines instead of running them."""
    calls: list[list[str]] = []

    def fake_cli(argv: list[str]) -> int:
        calls.append(list(argv))
        return 0

    monkeypatch.setattr("chickensaviour.cli.main", fake_cli)
    return calls


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


@pytest.mark.usefixtures("no_display")
def test_without_options_the_whole_clip_goes_to_out_demo(
        render_calls: list[list[str]]) -> None:
    assert main.main([]) == 0
    (command,) = render_calls
    assert command[:2] == ["render", sample_source()]
    assert _option(command, "--out") == str(ROOT / "out" / "demo" /
                                             "chelsea_clip_before_after.gif")
    assert _option(command, "--protect") == "cat"
    assert "--max-frames" not in command


@pytest.mark.usefixtures("no_display")
def test_the_fallback_keeps_the_detector_device_and_an_eps_of_zero(
        render_calls: list[list[str]]) -> None:
    """The window accepts --detector cam and --eps 0; the render must too."""
    assert main.main(["--detector", "cam", "--device", "cpu", "--mode", "ghost",
                      "--eps", "0", "--protect", "goldfish"]) == 0
    (command,) = render_calls
    assert _option(command, "--detector") == "cam" and _option(command, "--device") == "cpu"
    assert _option(command, "--mode") == "off" and "--eps" not in command  # eps 0: nothing


@pytest.mark.usefixtures("no_display")
def test_out_is_the_folder_the_render_goes_to(render_calls: list[list[str]],
                                              tmp_path: Path) -> None:
    assert main.main(["--out", str(tmp_path / "mine")]) == 0
    (command,) = render_calls
    assert _option(command, "--out") == str(tmp_path / "mine" / "chelsea_clip_before_after.gif")


@pytest.mark.usefixtures("no_display")
def test_quit_after_renders_only_that_many_seconds_of_the_clip(
        render_calls: list[list[str]], tmp_path: Path) -> None:
    assert main.main(["--out", str(tmp_path), "--quit-after", "2"]) == 0
    (command,) = render_calls
    assert _option(command, "--max-frames") == str(round(2 * CLIP_FPS))
    refine = _option(command, "--refine-frames")
    # render's usual refinement frames, but never more than are rendered
    assert refine == str(min(main.REFINE_FRAMES, round(2 * CLIP_FPS)))


@pytest.mark.usefixtures("no_display")
def test_a_screenshot_without_a_display_is_a_failure_said_in_one_line(
        render_calls: list[list[str]], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    shot = tmp_path / "window.png"
    code = main.main(["--out", str(tmp_path), "--quit-after", "1", "--screenshot", str(shot)])
    assert code == EXIT_NO_DISPLAY
    assert not shot.exists() and len(render_calls) == 1  # the clip is still rendered
    said = [r.message for r in caplog.records if "screenshot" in r.message]
    assert said and "display" in said[0] and "\n" not in said[0]


@pytest.mark.pretrained
def test_the_fallback_renders_a_few_frames_into_out_in_a_real_process(
        tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, "main.py", "--out", str(out), "--quit-after", "0.2",
                           "--mode", "off"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    gif = out / "chelsea_clip_before_after.gif"
    assert gif.is_file(), done.stderr[-2000:]
    with Image.open(gif) as image:
        assert image.n_frames == round(0.2 * CLIP_FPS)
    assert "no display" in done.stderr
