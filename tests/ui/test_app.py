"""The entry point: no display, bad arguments, defaults."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.live import COCK, HEN, HOG
from ui.app import (
    EXIT_NO_DISPLAY,
    EXIT_USAGE,
    QT_XCB_PACKAGES,
    build_parser,
    default_source,
    display_available,
    display_problem,
    display_reachable,
    missing_qt_libraries,
    run,
    settings_from_args,
)
from ui.class_lookup import parse_class_list
from ui.constants import EPS_MAX

# Qt 6.8's words when libxcb-icccm4 and libxcb-keysyms1 are missing (it blames xcb-cursor).
QT_ABORT = b"""qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed to load \
the Qt xcb platform plugin.
qt.qpa.plugin: Could not load the Qt platform plugin "xcb" in "" even though it was found.
This application failed to start because no Qt platform plugin could be initialized. \
Reinstalling the application may fix this problem.

Available platform plugins are: minimal, linuxfb, offscreen, xcb, wayland, eglfs, vnc.
"""
# An excerpt of ``ldd libqxcb.so`` on Debian 12 with those two packages missing.
LDD_TWO_MISSING = """\tlinux-vdso.so.1 (0x00007ffd0d5f2000)
\tlibQt6XcbQpa.so.6 => /venv/PyQt6/Qt6/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x1)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007ff131005000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007ff130ffd000)
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007ff1311c1000)
"""

ROOT = Path(__file__).resolve().parents[2]


def fake_subprocess(monkeypatch: pytest.MonkeyPatch, *, ldd: str | None,
                    qt_stderr: bytes = b"", qt_code: int = 0) -> None:
    """Answer ``ldd`` with ``ldd`` (``None``: there is no ldd) and the Qt probe with
    ``qt_stderr``/``qt_code``; any other command runs for real."""
    real_run = subprocess.run

    def run(command: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        if Path(command[0]).name == "ldd":
            if ldd is None:
                raise FileNotFoundError(2, "No such file or directory", "ldd")
            text = kwargs.get("text") or kwargs.get("universal_newlines")
            return subprocess.CompletedProcess(command, 0, ldd if text else ldd.encode(),
                                               "" if text else b"")
        if len(command) > 2 and command[1] == "-c" and "QApplication" in command[2]:
            return subprocess.CompletedProcess(command, qt_code, b"", qt_stderr)
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)


def test_display_is_detected_from_the_environment() -> None:
    assert not display_available({}, "linux")
    assert display_available({"DISPLAY": ":99"}, "linux") == (not missing_qt_libraries())
    assert display_available({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert display_available({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert display_available({}, "win32") and display_available({}, "darwin")


def test_x11_without_libxcb_cursor_is_reported_instead_of_aborting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake_subprocess(monkeypatch, ldd=None)  # no ldd here: each library is looked up
    monkeypatch.setattr("ctypes.util.find_library", lambda name: None)
    problem = display_problem({"DISPLAY": ":0"}, "linux")
    assert problem is not None and "libxcb-cursor" in problem


def test_every_library_missing_for_the_qt_x11_plugin_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """xcb-cursor present but icccm and keysyms missing: Qt aborted, the check passed."""
    fake_subprocess(monkeypatch, ldd=LDD_TWO_MISSING)
    problem = display_problem({"DISPLAY": ":0"}, "linux")
    assert problem is not None
    for name in ("libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-icccm4",
                 "libxcb-keysyms1"):
        assert name in problem
    assert "libxcb-cursor" not in problem and "\n" not in problem


def test_without_ldd_each_library_is_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_subprocess(monkeypatch, ldd=None)
    monkeypatch.setattr("ctypes.util.find_library",
                        lambda name: None if name == "xcb-keysyms" else f"lib{name}.so")
    assert missing_qt_libraries() == ["libxcb-keysyms.so.1"]


def test_the_display_probe_reports_qt_and_the_missing_libraries(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake_subprocess(monkeypatch, ldd=LDD_TWO_MISSING, qt_stderr=QT_ABORT, qt_code=-6)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":57")
    monkeypatch.setattr("sys.platform", "linux")
    problem = display_reachable()
    assert problem is not None
    assert 'Could not load the Qt platform plugin "xcb"' in problem  # Qt's own words
    assert "libxcb-icccm.so.4" in problem and "libxcb-keysyms.so.1" in problem
    assert ":57" in problem and "\n" not in problem


def test_a_display_qt_can_open_passes_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_subprocess(monkeypatch, ldd=LDD_TWO_MISSING, qt_stderr=b"", qt_code=0)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":57")
    monkeypatch.setattr("sys.platform", "linux")
    assert display_reachable() is None


def test_setup_installs_the_package_of_every_library_the_plugin_needs(
        tmp_path: Path) -> None:
    """setup.sh's qt_packages, against a fake apt archive that has glib only as
    ``libglib2.0-0t64`` (Debian 13): every package of QT_XCB_PACKAGES, each once."""
    wanted = set(QT_XCB_PACKAGES.values())
    archive = tmp_path / "archive"
    archive.write_text("\n".join((wanted - {"libglib2.0-0"}) | {"libglib2.0-0t64"}) + "\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    apt_cache = bin_dir / "apt-cache"
    apt_cache.write_text('#!/bin/sh\nfor name; do :; done\ngrep -qx -- "$name" "$ARCHIVE"\n')
    apt_cache.chmod(0o755)
    script = ("eval \"$(sed -n '/^qt_packages() {/,/^}/p' scripts/setup.sh)\"; "
              "qt_packages")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "ARCHIVE": str(archive), "VENV": str(Path(sys.executable).parent.parent)}
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-500:]
    chosen = done.stdout.split()
    assert sorted(chosen) == sorted((wanted - {"libglib2.0-0"}) | {"libglib2.0-0t64"})


def test_the_eps_range_lives_in_a_module_that_imports_nothing_of_the_app() -> None:
    code = ("import sys, ui.controls; "
            "assert 'ui.app' not in sys.modules, 'ui.controls imports ui.app'")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-500:]
    assert EPS_MAX == 64


def test_run_without_a_display_says_so_and_returns_its_code(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert run([]) == EXIT_NO_DISPLAY
    assert "no display" in caplog.text


def test_bad_arguments_end_with_exit_code_2_before_any_window(
        caplog: pytest.LogCaptureFixture) -> None:
    assert run(["--target", "zzzqqq"]) == EXIT_USAGE
    assert "unknown class" in caplog.text
    assert run(["--source", "no/such/clip.mp4"]) == EXIT_USAGE
    assert run(["--mode", "sideways"]) == EXIT_USAGE


def test_bad_live_rate_options_end_with_exit_code_2_before_any_window(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr("chickensaviour.models.load_model", lambda *a, **k: pytest.fail(
        "the model was loaded before the options were checked"))
    assert run(["--engine-threads", "0"]) == EXIT_USAGE
    assert run(["--engine-threads", "65"]) == EXIT_USAGE
    assert run(["--engine", "tensorrt"]) == EXIT_USAGE
    assert run(["--stats", str(tmp_path / "no" / "such" / "run.json")]) == EXIT_USAGE
    assert run(["--stats", str(tmp_path)]) == EXIT_USAGE  # a folder, not a file
    assert "--stats" in caplog.text and "--engine-threads" in caplog.text


def test_a_screen_region_off_the_screen_is_refused_before_any_window(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """``--source screen:0,0,5000,5000`` on a 1920x1080 screen: one line, exit code 2."""
    screen = {"left": 0, "top": 0, "width": 1920, "height": 1080}
    grabber = types.SimpleNamespace(monitors=[screen, screen], close=lambda: None)
    monkeypatch.setitem(sys.modules, "mss", types.SimpleNamespace(mss=lambda: grabber))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setattr("chickensaviour.models.load_model", lambda *a, **k: pytest.fail(
        "the model was loaded before the source was checked"))
    assert run(["--source", "screen:0,0,5000,5000"]) == EXIT_USAGE
    said = [r.message for r in caplog.records if "5000x5000" in r.message]
    assert said and "1920x1080" in said[0] and "\n" not in said[0]


def test_defaults_protect_hen_and_cock_against_a_hog_decoy() -> None:
    settings = settings_from_args(build_parser().parse_args([]))
    assert settings.protected == (HEN, COCK) and settings.target == HOG
    assert settings.eps == pytest.approx(8 / 255)
    assert default_source().endswith((".mp4", ".png"))


def test_class_lists_accept_names_and_everyday_words() -> None:
    from chickensaviour.labels import imagenet_classes

    classes = imagenet_classes()
    assert parse_class_list("chicken", classes) == (HEN, COCK)
    assert parse_class_list("hen, hen, cock", classes) == (HEN, COCK)
    assert parse_class_list("cat", classes) == (281, 282, 283, 284, 285)
    assert parse_class_list("prairie", classes) == (83,)  # a unique partial name
    assert parse_class_list("Egyptian cat, 281", classes) == (285, 281)
    with pytest.raises(ChickenSaviourError, match="unknown class"):
        parse_class_list("zzzqqq", classes)


def test_mode_printed_is_accepted_on_the_command_line() -> None:
    settings = settings_from_args(build_parser().parse_args(["--mode", "printed",
                                                             "--protect", "cat"]))
    assert settings.mode == "printed"
