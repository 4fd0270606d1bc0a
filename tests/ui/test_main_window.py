"""The live window on the bundled photo with the real MobileNetV2 (offscreen)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image
from PyQt6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot

from chickensaviour.labels import CAT_CLASS_INDICES
from chickensaviour.pipeline import PipelineSettings
from chickensaviour.zoo import ImageClassifier
from tests.ui.conftest import CHELSEA
from ui.main_window import MainWindow

pytestmark = pytest.mark.pretrained


def test_window_shows_both_panes_a_track_its_bars_and_the_frame_rate(
        window: MainWindow, qtbot: QtBot) -> None:
    qtbot.waitUntil(lambda: window.current is not None and bool(window.current.result.tracks),
                    timeout=10000)
    assert window.before_pane.frame_size == (451, 300)
    assert window.after_pane.frame_size == (451, 300)
    assert window.selected_track == window.current.result.tracks[0].track_id  # default: first
    prediction = window.before_bars.prediction
    assert prediction is not None and len(prediction.names) == 5
    assert window.after_bars.prediction is not None
    qtbot.waitUntil(lambda: "fps" in window.perf_label.text(), timeout=2000)
    assert "ms/frame" in window.perf_label.text()
    assert "latency" in window.perf_label.text()  # the photo is a live source


def test_epsilon_slider_is_used_by_the_next_processed_frame(window: MainWindow,
                                                            qtbot: QtBot) -> None:
    worker = window.source.worker
    assert worker is not None
    window.controls.mode_combo.setCurrentText("ghost")
    window.controls.eps_slider.setValue(20)
    assert window.settings.eps == pytest.approx(20 / 255)
    changed_at = worker.processed
    # One frame may already be in flight with the old snapshot; the one after must not be.
    qtbot.waitUntil(lambda: window.current is not None
                    and window.current.sequence >= changed_at + 2, timeout=15000)
    assert window.current is not None
    assert window.current.result.settings.eps == pytest.approx(20 / 255)
    assert window.current.result.settings.mode == "ghost"
    assert "eps 20/255" in window.after_title.text()


def _start_recording(window: MainWindow, qtbot: QtBot, frames: int):
    """Press record and wait until ``frames`` frames are queued; returns the recorder."""
    window.record_action.setChecked(True)
    recorder = window.output.recorder
    assert recorder is not None
    qtbot.waitUntil(lambda: recorder.queued >= frames, timeout=10000)
    return recorder


def test_record_writes_a_gif_that_pil_can_read(window: MainWindow, qtbot: QtBot,
                                               tmp_path: Path) -> None:
    recorder = _start_recording(window, qtbot, 2)
    window.record_action.setChecked(False)
    qtbot.waitUntil(lambda: recorder.done.is_set() and not window.output.closing, timeout=10000)
    gifs = list(tmp_path.glob("*.gif"))
    assert len(gifs) == 1 and not recorder.error
    with Image.open(gifs[0]) as gif:
        assert gif.n_frames >= 1
        assert gif.width == 800  # before|after side by side, scaled for GIF
    assert sorted(p.name for p in tmp_path.iterdir()) == [gifs[0].name]  # no temp file left


def test_discarded_recording_leaves_nothing(window: MainWindow, qtbot: QtBot,
                                            tmp_path: Path) -> None:
    recorder = _start_recording(window, qtbot, 1)
    window.discard_action.trigger()
    qtbot.waitUntil(lambda: recorder.done.is_set(), timeout=5000)
    assert not window.record_action.isChecked()
    assert list(tmp_path.iterdir()) == []


def test_closing_stops_every_thread_within_a_second_and_finishes_the_recording(
        window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    window.record_action.setChecked(True)
    recorder = window.output.recorder
    assert recorder is not None
    qtbot.waitUntil(lambda: recorder.queued >= 1, timeout=10000)
    worker = window.source.worker
    assert worker is not None
    capture = worker.capture
    started = time.monotonic()
    window.close()
    elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert not worker.is_alive() and not capture.is_alive() and not recorder.is_alive()
    files = [p.name for p in tmp_path.iterdir()]
    assert len(files) == 1 and files[0].endswith(".gif")  # finished, no temp file


def test_space_toggles_pause_and_s_saves_a_snapshot(window: MainWindow, qtbot: QtBot,
                                                    tmp_path: Path) -> None:
    window.activateWindow()
    qtbot.waitActive(window)
    window.before_pane.setFocus()
    qtbot.keyClick(window.before_pane, Qt.Key.Key_Space)
    assert window.pause_action.isChecked()
    worker = window.source.worker
    assert worker is not None and worker.paused
    qtbot.wait(300)
    frozen = worker.processed
    qtbot.wait(400)
    assert worker.processed == frozen  # paused: no new frame is pulled
    qtbot.keyClick(window.before_pane, Qt.Key.Key_S)
    assert len(list(tmp_path.glob("snapshot-*.png"))) == 1
    qtbot.keyClick(window.before_pane, Qt.Key.Key_Space)
    assert not window.pause_action.isChecked() and not worker.paused


def test_a_box_drawn_on_the_before_pane_is_protected_and_can_be_cleared(
        window: MainWindow, qtbot: QtBot) -> None:
    pane = window.before_pane
    rect = pane.image_rect()
    start = QPoint(round(rect.left() + 10), round(rect.top() + 10))
    end = QPoint(round(rect.left() + rect.width() / 3), round(rect.top() + rect.height() / 3))
    qtbot.mousePress(pane, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(pane, end)
    qtbot.mouseRelease(pane, Qt.MouseButton.LeftButton, pos=end)
    assert len(window.settings.manual_boxes) == 1
    x1, y1, x2, y2 = window.settings.manual_boxes[0]
    assert 0 <= x1 < x2 <= 451 and 0 <= y1 < y2 <= 300
    qtbot.waitUntil(lambda: window.current is not None
                    and any(t.track_id < 0 for t in window.current.result.tracks),
                    timeout=10000)
    window.clear_action.trigger()
    assert window.settings.manual_boxes == ()


def test_source_errors_reach_the_status_bar(window: MainWindow, qtbot: QtBot) -> None:
    worker = window.source.worker
    assert worker is not None
    worker.messages.add("camera 0 stopped delivering frames")
    qtbot.waitUntil(lambda: "stopped delivering" in window.statusBar().currentMessage(),
                    timeout=2000)
    assert not window.source.open("no/such/video.mp4")  # the old source keeps running
    assert "cannot open source" in window.statusBar().currentMessage()
    assert window.source.worker is worker and worker.is_alive()


def test_r_records_and_q_quits(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    window.activateWindow()
    qtbot.waitActive(window)
    window.before_pane.setFocus()
    qtbot.keyClick(window.before_pane, Qt.Key.Key_R)
    recorder = window.output.recorder
    assert window.record_action.isChecked() and recorder is not None
    qtbot.waitUntil(lambda: recorder.queued >= 1, timeout=10000)
    qtbot.keyClick(window.before_pane, Qt.Key.Key_R)
    assert not window.record_action.isChecked()
    qtbot.keyClick(window.before_pane, Qt.Key.Key_Q)
    assert not window.isVisible()
    assert recorder.done.is_set() and len(list(tmp_path.glob("record-*.gif"))) == 1


def test_typing_in_a_class_field_is_not_taken_as_a_shortcut(window: MainWindow,
                                                           qtbot: QtBot) -> None:
    window.activateWindow()
    qtbot.waitActive(window)
    field = window.controls.protect_edit
    field.setFocus()
    qtbot.keyClicks(field, "rs q")
    assert field.text() == "rs q"
    assert not window.record_action.isChecked() and not window.pause_action.isChecked()
    assert window.isVisible()


def test_an_unwritable_output_folder_is_reported_and_nothing_records(
        window: MainWindow, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    window.output.out_dir = blocker
    window.record_action.setChecked(True)
    assert not window.record_action.isChecked() and window.output.recorder is None
    assert "cannot record" in window.statusBar().currentMessage()


def test_block_mode_refines_the_block_once_by_itself_and_closing_cancels_it(
        qtbot: QtBot, hunter: ImageClassifier, tmp_path: Path) -> None:
    settings = PipelineSettings(protected=CAT_CLASS_INDICES, mode="block")
    win = MainWindow(hunter, source=CHELSEA, settings=settings, out_dir=tmp_path)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.refiner is not None, timeout=30000)
    refiner = win.refiner
    assert refiner is not None
    qtbot.waitUntil(lambda: "refining block" in win.refine_label.text(), timeout=2000)
    assert not win.start_refine(auto=True)  # once: no second run while one is going
    started = time.monotonic()
    win.close()
    assert time.monotonic() - started < 1.0
    assert not refiner.is_alive() and refiner.state == "cancelled"
