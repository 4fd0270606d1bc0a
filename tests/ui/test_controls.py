"""The control panel on its own (no window, no model): which controls each mode enables,
the ghost-steps and baseline controls, ``sync`` and ``show_source``."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from chickensaviour.labels import CAT_CLASS_INDICES, imagenet_classes
from chickensaviour.live import PipelineSettings, mode_class, mode_names
from chickensaviour.live.settings import GHOST_STEPS, MAX_GHOST_STEPS
from ui.controls import ControlPanel


def make_panel(qtbot: QtBot, settings: PipelineSettings | None = None) -> ControlPanel:
    settings = settings or PipelineSettings(protected=CAT_CLASS_INDICES, mode="block")
    panel = ControlPanel(settings, imagenet_classes(), source="clip.mp4",
                         model="mobilenet_v2", models=["mobilenet_v2"])
    qtbot.addWidget(panel)
    return panel


def test_each_mode_enables_exactly_the_controls_it_reads(qtbot: QtBot) -> None:
    panel = make_panel(qtbot)
    widgets = panel.mode_widgets()
    assert set(widgets) == {"eps", "ghost_steps", "patch_fraction", "hide_fraction",
                            "baseline"}
    for mode in mode_names():
        # every field a mode reads has a control, except those the panel does not offer
        assert mode_class(mode).controls <= set(widgets) | {"block_size", "alpha"}, mode
        panel.mode_combo.setCurrentText(mode)
        reads = mode_class(mode).controls
        for field, widget in widgets.items():
            assert widget.isEnabled() == (field in reads), (mode, field)


def test_the_epsilon_slider_is_off_in_block_mode(qtbot: QtBot) -> None:
    panel = make_panel(qtbot)  # block mode: the block is not bounded by eps
    assert not panel.eps_slider.isEnabled() and not panel.eps_label.isEnabled()
    assert panel.patch_slider.isEnabled() and panel.patch_label.isEnabled()
    panel.mode_combo.setCurrentText("ghost")
    assert panel.eps_slider.isEnabled() and panel.eps_label.isEnabled()
    assert not panel.patch_slider.isEnabled() and not panel.patch_label.isEnabled()


def test_ghost_steps_spin_box_edits_the_setting(qtbot: QtBot) -> None:
    panel = make_panel(qtbot, PipelineSettings(protected=CAT_CLASS_INDICES, mode="ghost"))
    spin = panel.ghost_steps_spin
    assert (spin.minimum(), spin.maximum()) == (1, MAX_GHOST_STEPS) == (1, 20)
    assert spin.value() == GHOST_STEPS and spin.isEnabled()
    with qtbot.waitSignal(panel.settingsEdited) as edited:
        spin.setValue(7)
    assert edited.args == [{"ghost_steps": 7}]
    assert PipelineSettings().with_changes(**edited.args[0]).ghost_steps == 7


def test_baseline_combo_edits_the_setting_and_explains_itself(qtbot: QtBot) -> None:
    panel = make_panel(qtbot, PipelineSettings(protected=CAT_CLASS_INDICES, mode="hide"))
    combo = panel.baseline_combo
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "trained patch", "grey square", "noise square"]
    assert combo.isEnabled()
    assert "same-size" in combo.toolTip() and "honest" in combo.toolTip()
    with qtbot.waitSignal(panel.settingsEdited) as edited:
        combo.setCurrentText("noise square")
    assert edited.args == [{"baseline": "noise"}]
    with qtbot.waitSignal(panel.settingsEdited) as edited:
        panel.choose_baseline("grey")
    assert edited.args == [{"baseline": "grey"}] and combo.currentText() == "grey square"


def test_sync_shows_every_field_without_emitting(qtbot: QtBot) -> None:
    panel = make_panel(qtbot)
    settings = PipelineSettings(protected=CAT_CLASS_INDICES, mode="ghost", eps=12 / 255,
                                ghost_steps=9, patch_fraction=0.3, hide_fraction=0.25,
                                baseline="noise", target=CAT_CLASS_INDICES[0])
    emitted: list[dict[str, object]] = []
    panel.settingsEdited.connect(emitted.append)
    panel.sync(settings)
    assert emitted == []
    assert panel.mode_combo.currentText() == "ghost"
    assert panel.eps_slider.value() == 12 and panel.eps_label.text() == "12/255"
    assert panel.ghost_steps_spin.value() == 9
    assert panel.patch_slider.value() == 30 and panel.patch_label.text() == "30%"
    assert panel.hide_slider.value() == 25 and panel.hide_label.text() == "25%"
    assert panel.baseline_combo.currentText() == "noise square"
    assert panel.target_edit.text() == panel.classes.names[CAT_CLASS_INDICES[0]]
    assert panel.eps_slider.isEnabled() and not panel.patch_slider.isEnabled()


def test_show_source_names_what_plays_without_asking_for_it(qtbot: QtBot) -> None:
    panel = make_panel(qtbot)
    panel.source_edit.setText("0")  # the camera was asked for, but failed
    requested: list[str] = []
    panel.sourceRequested.connect(requested.append)
    panel.show_source("chickensaviour/assets/samples/chelsea_clip.mp4")
    assert panel.source_edit.text() == "chickensaviour/assets/samples/chelsea_clip.mp4"
    assert requested == []


def test_hide_mode_has_its_own_patch_size(qtbot: QtBot) -> None:
    panel = make_panel(qtbot, PipelineSettings(protected=CAT_CLASS_INDICES, mode="hide"))
    assert panel.hide_slider.isEnabled() and not panel.patch_slider.isEnabled()
    with qtbot.waitSignal(panel.settingsEdited) as edited:
        panel.hide_slider.setValue(40)
    assert edited.args == [{"hide_fraction": 0.4}] and panel.hide_label.text() == "40%"


def test_open_model_card_asks_for_a_file_and_requests_it(qtbot: QtBot, monkeypatch) -> None:
    """The model combo's last entry opens a file dialog for a card; cancelling keeps the
    hunter's name in the combo and requests nothing."""
    from PyQt6.QtWidgets import QFileDialog

    from ui.constants import OPEN_CARD

    panel = make_panel(qtbot)
    combo = panel.model_combo
    assert combo.itemText(combo.count() - 1) == OPEN_CARD
    requested: list[str] = []
    panel.modelRequested.connect(requested.append)
    answers = iter([("/cards/farm.json", "Model cards (*.json)"), ("", "")])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: next(answers))
    for _ in range(2):
        combo.setCurrentIndex(combo.count() - 1)
        combo.activated.emit(combo.count() - 1)
    assert requested == ["/cards/farm.json"]
    assert combo.currentText() == "mobilenet_v2"
