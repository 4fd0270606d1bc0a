"""Qt runs offscreen in these tests; the variable must be set before Qt is imported."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from chickensaviour.labels import CAT_CLASS_INDICES
from chickensaviour.live import PipelineSettings
from chickensaviour.models import ImageClassifier
from tests.conftest import SAMPLES
from ui.main_window import MainWindow

CHELSEA = str(SAMPLES / "chelsea.png")


@pytest.fixture(scope="session")
def hunter(pretrained: ImageClassifier) -> ImageClassifier:
    """The real MobileNetV2 (the window never modifies its model)."""
    return pretrained


@pytest.fixture
def cat_settings() -> PipelineSettings:
    """Chelsea is a cat: protecting the cat classes gives the tracker a region to follow."""
    return PipelineSettings(protected=CAT_CLASS_INDICES, mode="off")


@pytest.fixture
def window(qtbot: QtBot, hunter: ImageClassifier, cat_settings: PipelineSettings,
           tmp_path: Path) -> Iterator[MainWindow]:
    """The live window on the still photo, writing into ``tmp_path``; closed afterwards."""
    win = MainWindow(hunter, source=CHELSEA, settings=cat_settings, out_dir=tmp_path,
                     auto_refine=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.current is not None, timeout=15000)
    yield win
    win.close()
