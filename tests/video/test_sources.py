"""Screen sources: the region is checked against the real screens when it is opened."""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import pytest

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.video.sources import ScreenRegion, ScreenSource, SourceError, open_source

# What mss reports for one 1920x1080 screen: [0] spans every screen, then one per screen.
ONE_SCREEN = [{"left": 0, "top": 0, "width": 1920, "height": 1080},
              {"left": 0, "top": 0, "width": 1920, "height": 1080}]
# Two screens side by side, the second one to the left of the first.
TWO_SCREENS = [{"left": -1280, "top": 0, "width": 3200, "height": 1080},
               {"left": 0, "top": 0, "width": 1920, "height": 1080},
               {"left": -1280, "top": 0, "width": 1280, "height": 1024}]


class _FakeGrabber:
    def __init__(self, monitors: list[dict[str, int]]) -> None:
        self.monitors = monitors
        self.closed = False

    def grab(self, box: dict[str, int]) -> np.ndarray:
        return np.zeros((box["height"], box["width"], 4), np.uint8)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def screens(monkeypatch: pytest.MonkeyPatch) -> list[_FakeGrabber]:
    """Replace ``mss`` by a fake; each grabber it made is appended to the returned list."""
    made: list[_FakeGrabber] = []
    layout: dict[str, Any] = {"monitors": ONE_SCREEN}

    def factory() -> _FakeGrabber:
        made.append(_FakeGrabber(layout["monitors"]))
        return made[-1]

    fake = types.ModuleType("mss")
    fake.mss = factory  # type: ignore[attr-defined]
    fake.layout = layout  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mss", fake)
    return made


def test_a_region_larger_than_the_screen_is_refused_with_the_screen_size(
        screens: list[_FakeGrabber]) -> None:
    with pytest.raises(SourceError) as raised:
        open_source("screen:0,0,5000,5000")
    message = str(raised.value)
    assert "1920x1080" in message and "5000x5000" in message and "\n" not in message
    assert isinstance(raised.value, ChickenSaviourError)
    assert screens and screens[-1].closed  # the grabber is not left open


@pytest.mark.parametrize("spec", ["screen:1900,0,100,100", "screen:0,1000,100,100",
                                  "screen:-10,0,100,100"])
def test_regions_that_leave_the_screen_are_refused(screens: list[_FakeGrabber],
                                                   spec: str) -> None:
    with pytest.raises(SourceError, match="1920x1080"):
        open_source(spec)


def test_a_region_on_the_screen_opens_and_grabs_its_size(
        screens: list[_FakeGrabber]) -> None:
    source = open_source("screen:1820,980,100,100")
    frame = source.read()
    assert frame is not None and frame.shape == (100, 100, 3)
    source.close()


def test_a_region_on_a_second_screen_at_negative_coordinates_opens(
        screens: list[_FakeGrabber]) -> None:
    sys.modules["mss"].layout["monitors"] = TWO_SCREENS  # type: ignore[attr-defined]
    source = ScreenSource(ScreenRegion(-1280, 0, 1280, 1024))
    assert source.region.left == -1280
    source.close()
    with pytest.raises(SourceError, match="3200x1080"):
        ScreenSource(ScreenRegion(-1280, 0, 3300, 100))


def test_the_whole_first_screen_is_the_default(screens: list[_FakeGrabber]) -> None:
    source = open_source("screen")
    assert isinstance(source, ScreenSource)
    assert source.region == ScreenRegion(0, 0, 1920, 1080)
    source.close()


def test_source_kind_names_what_the_words_open() -> None:
    from chickensaviour.video.sources import source_kind

    assert source_kind("0") == source_kind(" 12 ") == "camera"
    assert source_kind("123") == "video"  # three digits: a file name, as open_source reads it
    assert source_kind("screen") == source_kind("screen:0,0,640,480") == "screen"
    assert source_kind("chelsea.png") == source_kind("photo.JPG") == "image"
    assert source_kind("clip.mp4") == source_kind("/videos/hen.MOV") == "video"
