"""The live window on the bundled photo with the real MobileNetV2 (offscreen)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from PyQt6.QtCore import QPoint, QSize, Qt
from PyQt6.QtWidgets import QToolBar
from pytestqt.qtbot import QtBot

from chickensaviour.labels import CAT_CLASS_INDICES
from chickensaviour.live import PipelineSettings
from chickensaviour.models import ImageClassifier, Prediction
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


def test_closing_stops_every_thread_and_finishes_the_recording(
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
    assert elapsed < 10.0  # a second or two: stop the threads, finish the GIF
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
    window.open_source("no/such/video.mp4")  # opened off the GUI thread
    qtbot.waitUntil(lambda: "cannot open source" in window.statusBar().currentMessage(),
                    timeout=5000)
    assert window.source.worker is worker and worker.is_alive()  # the old one plays on


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
    assert time.monotonic() - started < 10.0  # one optimisation step at most
    assert not refiner.is_alive() and refiner.state == "cancelled"


# -- defect 8 of issue 9: the window's layout and stale state ----------------------------
def _wait_for_a_track(window: MainWindow, qtbot: QtBot) -> None:
    qtbot.waitUntil(lambda: window.current is not None and bool(window.current.result.tracks),
                    timeout=10000)


def test_before_and_after_panes_stay_equal_whatever_the_titles_say(
        window: MainWindow, qtbot: QtBot) -> None:
    window.timer.stop()  # no new frame may set the titles again
    window.resize(760, 700)
    window.after_title.setText("After — hide patch (refined hide patch): what the detector "
                               "sees, and a title much longer than the pane is wide")
    window.before_title.setText("Before")
    qtbot.wait(100)  # layouts settle on the event loop
    before, after = window.before_pane, window.after_pane
    assert abs(before.width() - after.width()) <= 1
    assert before.height() == after.height()
    assert abs(window.before_bars.width() - window.after_bars.width()) <= 1


def test_the_window_opens_at_most_the_screens_size(window: MainWindow) -> None:
    available = window.screen().availableGeometry()  # offscreen: 800x800
    assert window.width() <= available.width() and window.height() <= available.height()
    assert window.width() >= 0.8 * available.width()  # and it uses most of it


@pytest.mark.parametrize(("available", "expected"), [
    ((1280, 720), (1152, 648)),  # was cut off at 1400x740
    ((1920, 1080), (1728, 972)),  # was small
    ((640, 480), (640, 480)),  # below the minimum: the whole screen, never more
])
def test_initial_size_is_most_of_the_screen_and_never_larger(
        available: tuple[int, int], expected: tuple[int, int]) -> None:
    size = MainWindow.initial_size(QSize(*available), minimum=QSize(700, 500))
    assert (size.width(), size.height()) == expected


def test_f11_presents_full_screen_with_large_panes_and_esc_leaves(
        window: MainWindow, qtbot: QtBot) -> None:
    window.activateWindow()
    qtbot.waitActive(window)
    toolbar = window.findChild(QToolBar)
    assert toolbar is not None and toolbar.isVisible() and window.controls.isVisible()
    pane_width = window.after_pane.width()
    bar_points = window.after_bars.font().pointSizeF()
    title_points = window.after_title.font().pointSizeF()
    window.before_pane.setFocus()
    qtbot.keyClick(window.before_pane, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: window.after_pane.width() > pane_width, timeout=2000)
    assert window.isFullScreen()
    assert not toolbar.isVisible() and not window.controls.isVisible()
    assert window.after_bars.font().pointSizeF() > bar_points
    assert window.after_bars.height() > window.after_bars.sizeHint().height() - 1
    assert window.after_title.font().pointSizeF() > title_points
    qtbot.keyClick(window.before_pane, Qt.Key.Key_Space)  # keys still work, unseen
    assert window.pause_action.isChecked()
    qtbot.keyClick(window.before_pane, Qt.Key.Key_Escape)
    assert not window.isFullScreen()
    assert toolbar.isVisible() and window.controls.isVisible()
    assert window.after_bars.font().pointSizeF() == bar_points
    assert window.after_title.font().pointSizeF() == title_points


def test_clear_tracks_forgets_the_old_sources_tracks(window: MainWindow,
                                                     qtbot: QtBot) -> None:
    _wait_for_a_track(window, qtbot)
    assert window.track_combo.count() >= 1
    window.timer.stop()  # no new frame may refill it
    window.clear_tracks()
    assert window.track_combo.count() == 0 and window.selected_track is None
    assert window.before_bars.prediction is None and window.after_bars.prediction is None


def test_the_track_combo_relabels_a_track_id_that_a_new_source_reuses(
        window: MainWindow, qtbot: QtBot) -> None:
    _wait_for_a_track(window, qtbot)
    window.timer.stop()
    current = window.current
    assert current is not None
    track = current.result.tracks[0]
    assert "hen" not in window.track_combo.itemText(0)
    hen = Prediction((8, 7, 9, 10, 11), ("hen", "cock", "ostrich", "brambling", "goldfinch"),
                     (0.5, 0.2, 0.1, 0.1, 0.1))
    # the next source's tracker numbers its first track #1 again, but it is a hen now
    window.show_frame(replace(current, result=replace(current.result, tracks=(
        replace(track, before=hen),))))
    assert window.track_combo.count() == 1
    assert window.track_combo.itemText(0) == f"#{track.track_id}  hen"


def test_refine_action_and_titles_follow_the_mode(window: MainWindow, qtbot: QtBot) -> None:
    _wait_for_a_track(window, qtbot)
    window.timer.stop()
    current = window.current
    assert current is not None
    block = window.settings.with_changes(mode="block")
    window.current = replace(current, result=replace(current.result, settings=block,
                                                     patch_ready=True))
    expected = {"block": ("Refine block", True), "hide": ("Train hide patch", True),
                "ghost": (None, False), "off": (None, False)}
    for mode, (text, enabled) in expected.items():
        window.controls.mode_combo.setCurrentText(mode)
        assert window.settings.mode == mode
        assert window.refine_action.isEnabled() == enabled, mode
        if text is not None:
            assert window.refine_action.text() == text
        if mode == "block":
            assert "refined" in window.after_title.text()
        else:  # the frame on show was refined in block mode, not in this one
            assert "refined" not in window.after_title.text(), mode
            assert "trained" not in window.after_title.text(), mode


def test_the_pause_button_reads_resume_while_paused(window: MainWindow) -> None:
    assert window.pause_action.text() == "Pause"
    window.pause_action.trigger()
    assert window.pause_action.isChecked() and window.pause_action.text() == "Resume"
    window.pause_action.trigger()
    assert window.pause_action.text() == "Pause"


def test_the_epsilon_slider_is_off_in_block_mode(window: MainWindow) -> None:
    window.controls.mode_combo.setCurrentText("block")
    assert not window.controls.eps_slider.isEnabled()
    assert window.controls.patch_slider.isEnabled()


def test_b_toggles_the_grey_baseline_in_hide_mode_only(window: MainWindow,
                                                      qtbot: QtBot) -> None:
    window.activateWindow()
    qtbot.waitActive(window)
    pane = window.before_pane
    pane.setFocus()
    qtbot.keyClick(pane, Qt.Key.Key_B)  # off mode reads no baseline: nothing happens
    assert window.settings.baseline == "none" and not window.baseline_action.isEnabled()
    window.controls.mode_combo.setCurrentText("hide")
    pane.setFocus()
    qtbot.keyClick(pane, Qt.Key.Key_B)
    assert window.settings.baseline == "grey"
    assert window.controls.baseline_combo.currentText() == "grey square"
    assert window.baseline_action.isChecked()
    assert "grey square" in window.after_title.text()
    qtbot.keyClick(pane, Qt.Key.Key_B)
    assert window.settings.baseline == "none" and not window.baseline_action.isChecked()
    window.controls.baseline_combo.setCurrentText("noise square")
    assert window.baseline_action.isChecked()  # any plain square counts as "baseline on"
    qtbot.keyClick(pane, Qt.Key.Key_B)
    assert window.settings.baseline == "none"


def test_printed_mode_shows_the_whole_frame_and_region_top5_and_says_nothing_is_pasted(
        window: MainWindow, qtbot: QtBot) -> None:
    combo = window.controls.mode_combo
    assert combo.findText("printed") >= 0
    combo.setCurrentText("printed")
    assert window.settings.mode == "printed"
    assert not window.refine_action.isEnabled()
    assert not any(w.isEnabled() for w in window.controls.mode_widgets().values())
    assert "nothing pasted" in window.after_title.text()
    qtbot.waitUntil(lambda: window.current is not None
                    and window.current.result.whole_frame is not None
                    and bool(window.current.result.tracks), timeout=15000)
    # No event is handled until the next wait: the frame on show stays this one.
    result = window.current.result  # type: ignore[union-attr]
    assert (result.before == result.after).all()
    assert window.before_bars.title == "Whole frame: top 5"
    assert window.before_bars.prediction == result.whole_frame
    assert window.after_bars.title.startswith("Region: top 5")
    assert window.after_bars.prediction == result.tracks[0].before
    assert "printed-patch test: nothing is pasted" in window.honesty_label.text()
    combo.setCurrentText("off")  # the next frame brings back the before/after bars
    qtbot.waitUntil(lambda: window.before_bars.title.startswith("Before"), timeout=15000)
    assert "printed" not in window.honesty_label.text()
