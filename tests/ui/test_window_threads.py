"""Issue 9's threading defects in the real window (offscreen): source and model switches
hand whole new objects to the inference thread; closing while recording MP4."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from chickensaviour.live import FramePipeline, PatchStore
from chickensaviour.models import ImageClassifier
from tests.ui.conftest import CHELSEA
from ui.main_window import MainWindow

pytestmark = pytest.mark.pretrained


def _messages(window: MainWindow) -> list[str]:
    seen: list[str] = []
    original = window.show_message

    def spy(text: str, milliseconds: int = 6000) -> None:
        seen.append(text)
        original(text, milliseconds)

    window.show_message = spy  # type: ignore[method-assign]
    return seen


def test_switching_source_builds_a_new_pipeline_and_retires_the_old_worker(
        window: MainWindow, qtbot: QtBot) -> None:
    messages = _messages(window)
    old_worker = window.source.worker
    assert old_worker is not None
    old_pipeline = old_worker._pipeline
    window.open_source(CHELSEA)
    qtbot.waitUntil(lambda: window.source.worker is not old_worker, timeout=10000)
    new_worker = window.source.worker
    assert new_worker is not None and new_worker._pipeline is not old_pipeline
    qtbot.waitUntil(lambda: not old_worker.is_alive(), timeout=5000)
    qtbot.waitUntil(lambda: new_worker.processed >= 2, timeout=15000)
    assert window.controls.source_edit.text() == CHELSEA
    assert not [m for m in messages if "failed" in m]


def test_switching_model_mid_stream_hands_over_a_new_pipeline_without_errors(
        window: MainWindow, qtbot: QtBot) -> None:
    """The switch mobilenet_v2 -> efficientnet_lite0 logged "NameError: module is not
    installed as a submodule" from torch.fx on the inference thread (defect 6)."""
    messages = _messages(window)
    worker = window.source.worker
    assert worker is not None
    window.load_model("efficientnet_lite0")
    qtbot.waitUntil(lambda: window.model.name == "efficientnet_lite0", timeout=60000)
    qtbot.waitUntil(lambda: worker._pipeline.model.name == "efficientnet_lite0",
                    timeout=10000)
    done = worker.processed
    qtbot.waitUntil(lambda: worker.processed >= done + 3, timeout=20000)
    assert worker.is_alive()
    assert not [m for m in messages if "failed" in m or "Error" in m], messages


def test_closing_while_recording_mp4_publishes_a_playable_file_or_nothing(
        qtbot: QtBot, hunter: ImageClassifier, cat_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import cv2

    win = MainWindow(hunter, source=CHELSEA, settings=cat_settings, out_dir=tmp_path,
                     auto_refine=False, store=PatchStore(False))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.current is not None, timeout=15000)
    win.controls.format_combo.setCurrentText("mp4")
    win.record_action.setChecked(True)
    recorder = win.output.recorder
    assert recorder is not None
    qtbot.waitUntil(lambda: recorder.queued >= 5, timeout=20000)
    queued = recorder.queued
    started = time.monotonic()
    win.close()
    assert time.monotonic() - started < 30.0
    left = [p for p in tmp_path.iterdir()]
    assert not [p for p in left if p.name.startswith(".")], left  # no hidden temp file
    (path,) = left  # the recording is finished, not thrown away
    video = cv2.VideoCapture(str(path))
    count = 0
    while video.grab():
        count += 1
    video.release()
    assert count >= min(queued, 5), f"{path} has {count} frames of {queued}"


def test_every_pipeline_the_window_builds_shares_its_patch_store(
        qtbot: QtBot, hunter: ImageClassifier, cat_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built: list[FramePipeline] = []

    def factory(model: ImageClassifier, store: PatchStore) -> FramePipeline:
        built.append(FramePipeline(model, store=store))
        return built[-1]

    store = PatchStore(False)
    win = MainWindow(hunter, source=CHELSEA, settings=cat_settings, out_dir=tmp_path,
                     auto_refine=False, pipeline_factory=factory, store=store)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.current is not None, timeout=15000)
    win.open_source(CHELSEA)
    qtbot.waitUntil(lambda: len(built) == 2 and win.source.worker is not None
                    and win.source.worker._pipeline is built[1], timeout=10000)
    assert all(p.store is store for p in built)
    win.close()


def test_switching_to_a_model_with_its_own_labels_moves_settings_to_its_classes(
        window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    """A card model (chicken, fox, background) replaces the ImageNet hunter: protected
    class and decoy come from its labels, the cam detector replaces NanoDet (whose COCO
    mapping is ImageNet's), and the worker gets model and settings on the same frame."""
    import torch
    from torchvision.models import mobilenet_v2

    import ui.main_window as main_window_module
    from chickensaviour.labels import LabelSet

    labels = LabelSet(("chicken", "fox", "background"), kind="labels.txt")

    def fake_load(reference: str, device: object = None) -> ImageClassifier:
        torch.manual_seed(0)
        model = ImageClassifier(mobilenet_v2(num_classes=3), name="farm", input_size=96,
                                mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), classes=labels)
        return model.eval().requires_grad_(False)

    monkeypatch.setattr(main_window_module, "load_model", fake_load)
    messages = _messages(window)
    worker = window.source.worker
    assert worker is not None and window.settings.detector == "nanodet"
    window.load_model("/cards/farm.json")
    qtbot.waitUntil(lambda: window.model.name == "farm", timeout=30000)
    qtbot.waitUntil(lambda: worker._pipeline.model.name == "farm", timeout=10000)
    settings = window.settings
    assert settings.detector == "cam" and settings.protected == (0,) and settings.target == 1
    assert worker.settings == settings
    assert window.controls.classes == labels
    assert window.controls.model_combo.currentText() == "/cards/farm.json"
    assert window.controls.protected_list.item(0).text().startswith("chicken")
    assert window.controls.target_edit.text() == "fox"
    done = worker.processed
    qtbot.waitUntil(lambda: worker.processed >= done + 3, timeout=20000)
    assert any("cam detector" in m for m in messages), messages
    assert not [m for m in messages if "failed" in m or "Error" in m], messages
    window.edit_settings({"detector": "nanodet"})  # refused, with the reason
    assert window.settings.detector == "cam" and "ImageNet classes only" in messages[-1]
