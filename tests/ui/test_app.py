"""The entry point: no display, bad arguments, defaults."""

from __future__ import annotations

import ctypes.util

import pytest

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.pipeline import COCK, HEN, HOG
from ui.app import (
    EXIT_NO_DISPLAY,
    EXIT_USAGE,
    build_parser,
    default_source,
    display_available,
    display_problem,
    run,
    settings_from_args,
)
from ui.class_lookup import parse_class_list


def test_display_is_detected_from_the_environment() -> None:
    assert not display_available({}, "linux")
    assert display_available({"DISPLAY": ":99"}, "linux") == (
        ctypes.util.find_library("xcb-cursor") is not None)
    assert display_available({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert display_available({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert display_available({}, "win32") and display_available({}, "darwin")


def test_x11_without_libxcb_cursor_is_reported_instead_of_aborting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ctypes.util.find_library", lambda name: None)
    problem = display_problem({"DISPLAY": ":0"}, "linux")
    assert problem is not None and "libxcb-cursor" in problem


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
