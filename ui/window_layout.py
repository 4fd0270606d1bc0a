"""The live window's layout, actions, presentation mode and control states.

:class:`WindowLayout` builds the widgets and keeps what they show in step with the
settings and the mode (which controls are live, what the actions say, presentation
mode). :class:`ui.main_window.MainWindow` adds the threads, sources, models and jobs.
Owner: the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from PyQt6.QtCore import QPoint, QSize, Qt
from PyQt6.QtGui import QAction, QGuiApplication, QKeySequence
from PyQt6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QToolBar,
    QWidget,
)

from chickensaviour.live import TrackResult, mode_class
from chickensaviour.models import model_names
from ui.constants import BASELINE_NAMES
from ui.controls import ControlPanel
from ui.probability_bars import ProbabilityBars
from ui.video_pane import ElidedLabel, VideoPane


class WindowLayout(QMainWindow):
    """Widgets, actions, titles, presentation mode and control states of the window.

    Subclasses provide ``settings``, ``model``, ``current``, ``selected_track`` and the
    slots the actions call (``set_paused``, ``set_recording``, ...).
    """

    # -- layout -----------------------------------------------------------------------
    def _build(self, source: str) -> None:
        # Titles elide instead of widening their column: the panes stay equal.
        self.before_title, self.after_title = ElidedLabel(), ElidedLabel()
        for label in (self.before_title, self.after_title):
            label.setMargin(2)
        self.before_pane = VideoPane(drawable=True, placeholder="waiting for frames…")
        self.after_pane = VideoPane(placeholder="waiting for frames…")
        self.before_bars = ProbabilityBars("Before")
        self.after_bars = ProbabilityBars("After")
        self.track_combo = QComboBox()
        self.track_combo.setMinimumWidth(200)
        self.track_combo.setToolTip("The track whose top-5 the bars show (or click a box)")
        self.track_combo.activated.connect(
            lambda i: self.select_track(self.track_combo.itemData(i)))
        self.before_pane.clicked.connect(self._pane_clicked)
        self.after_pane.clicked.connect(self._pane_clicked)
        self.before_pane.boxDrawn.connect(self.add_manual_box)

        grid = QGridLayout()
        grid.addWidget(self.before_title, 0, 0)
        grid.addWidget(self.after_title, 0, 1)
        grid.addWidget(self.before_pane, 1, 0)
        grid.addWidget(self.after_pane, 1, 1)
        track_row = QHBoxLayout()
        self.track_hint = ElidedLabel()
        self.track_hint.setText("drag on the left pane to protect a region by hand")
        self.track_hint.setStyleSheet("color: gray;")
        for widget, stretch in ((QLabel("Track:"), 0), (self.track_combo, 0),
                                (self.track_hint, 1)):
            track_row.addWidget(widget, stretch)
        track_row.addStretch(0)  # keeps the row left-aligned while the hint is hidden
        grid.addLayout(track_row, 2, 0, 1, 2)
        grid.addWidget(self.before_bars, 3, 0)
        grid.addWidget(self.after_bars, 3, 1)
        grid.setRowStretch(1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        left = QWidget()
        left.setLayout(grid)

        self.controls = ControlPanel(self.settings, self.model.classes, source=source,
                                     model=self.model_reference, models=model_names())
        self.controls.settingsEdited.connect(self.edit_settings)
        self.controls.sourceRequested.connect(self.open_source)
        self.controls.modelRequested.connect(self.load_model)
        self.controls.problem.connect(self.show_message)
        scroll = self.controls_scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        needed = (self.controls.minimumSizeHint().width() + 2 * scroll.frameWidth()
                  + scroll.verticalScrollBar().sizeHint().width())
        scroll.setFixedWidth(max(340, needed))
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        central = QWidget()
        row = QHBoxLayout(central)
        row.addWidget(left, 1)
        row.addWidget(scroll)
        self.setCentralWidget(central)
        self._build_actions()
        self.perf_label, self.refine_label, self.record_label = QLabel(), QLabel(), QLabel()
        for label in (self.record_label, self.refine_label, self.perf_label):
            self.statusBar().addPermanentWidget(label)
        self.record_label.setStyleSheet("color: #d33; font-weight: bold;")
        # Honest demos: hide-rate tally and "the hunter never saw a protected class".
        self.honesty_label = QLabel()
        self.honesty_label.setStyleSheet("color: #b60; font-weight: bold;")
        self.statusBar().addPermanentWidget(self.honesty_label)
        self._presenting = self._maximized_before = False
        self._show_sizes(presenting=False)
        self._update_titles()
        self._fit_to_screen()

    def _build_actions(self) -> None:
        toolbar = self.toolbar = QToolBar("Actions")
        toolbar.setMovable(False)
        self.addToolBar(toolbar)

        def action(text: str, key: str | None, slot: Callable[..., object], *,
                   checkable: bool = False, tip: str = "") -> QAction:
            act = QAction(text, self)
            act.setCheckable(checkable)
            if key:
                act.setShortcut(QKeySequence(key))
                act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.setToolTip(f"{tip} ({key})" if key else tip)
            (act.toggled if checkable else act.triggered).connect(slot)
            toolbar.addAction(act)
            self.addAction(act)
            return act

        self.pause_action = action("Pause", "Space", self.set_paused, checkable=True,
                                   tip="Freeze the stream; controls still apply to the frame")
        self.record_action = action("Record", "R", self.set_recording, checkable=True,
                                    tip="Record before|after to GIF or MP4 in the output folder")
        self.discard_action = action("Discard recording", None,
                                     self.discard_recording, tip="Stop and delete")
        self.discard_action.setEnabled(False)
        self.snapshot_action = action("Snapshot", "S", self.take_snapshot,
                                      tip="Save before|after as PNG")
        toolbar.addSeparator()
        self.refine_action = action("Refine block", None, lambda: self.start_refine(),
                                    tip="Optimise the block (hide mode: train the hide "
                                    "patch) on recent frames")
        self.clear_action = action("Clear hand boxes", None, self.clear_manual_boxes,
                                   tip="Forget the regions drawn by hand")
        self.baseline_action = action(
            "Grey baseline", "B", self.toggle_baseline,
            tip="Hide mode: show a same-size grey square in the same place instead of the "
            "trained patch, the honest comparison; again: the trained patch")
        self.baseline_action.setCheckable(True)  # shows the state; triggered toggles it
        toolbar.addSeparator()
        self.presentation_action = action(
            "Present", "F11", self.set_presentation, checkable=True,
            tip="Full screen with large panes and bars, controls hidden; Esc leaves")
        self.leave_presentation_action = QAction("Leave presentation", self)
        self.leave_presentation_action.setShortcut(QKeySequence("Esc"))
        self.leave_presentation_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.leave_presentation_action.triggered.connect(lambda: self.set_presentation(False))
        self.leave_presentation_action.setEnabled(False)  # Esc is the fields' otherwise
        self.addAction(self.leave_presentation_action)
        self.quit_action = action("Quit", "Q", self.close, tip="Close the window")

    # -- presentation and control states ----------------------------------------------
    #: Share of the screen's available area the window opens at.
    SCREEN_FRACTION = 0.9
    TITLE_POINTS, PRESENT_TITLE_POINTS = 11.0, 20.0
    PRESENT_BAR_POINTS = 15.0
    #: What the refine action says for each ``Mode.trains``, and what a title adds once
    #: the frame on show used the refined patch.
    REFINE_WORDS: ClassVar[dict[str, tuple[str, str]]] = {
        "block": ("Refine block", "refined"), "hide patch": ("Train hide patch", "trained")}

    @staticmethod
    def initial_size(available: QSize, *, minimum: QSize,
                     fraction: float = SCREEN_FRACTION) -> QSize:
        """``fraction`` of the screen's ``available`` area, at least ``minimum`` (what the
        layout needs) and never more than ``available``: 1280x720 -> 1152x648."""
        return QSize(
            min(available.width(), max(minimum.width(), round(available.width() * fraction))),
            min(available.height(), max(minimum.height(),
                                        round(available.height() * fraction))))

    def _fit_to_screen(self) -> None:
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            self.resize(1280, 720)
            return
        area = screen.availableGeometry()
        size = self.initial_size(area.size(), minimum=self.minimumSizeHint())
        self.resize(size)
        self.move(area.topLeft() + QPoint((area.width() - size.width()) // 2,
                                          (area.height() - size.height()) // 2))

    def set_presentation(self, on: bool) -> None:
        """Presentation mode (F11; Esc leaves): full screen, toolbar and controls hidden,
        panes, titles and bars large. The keys keep working."""
        if self.presentation_action.isChecked() != on:
            self.presentation_action.setChecked(on)  # re-enters through toggled
            return
        if on == self._presenting:
            return
        self._presenting = on
        self.toolbar.setVisible(not on)
        self.controls_scroll.setVisible(not on)
        self.track_hint.setVisible(not on)
        self.leave_presentation_action.setEnabled(on)
        self._show_sizes(presenting=on)
        if on:
            self._maximized_before = self.isMaximized()
            self.showFullScreen()
        elif self._maximized_before:
            self.showMaximized()
        else:
            self.showNormal()
        self.before_pane.setFocus()  # not a hidden control: the keys must reach the window

    def _show_sizes(self, *, presenting: bool) -> None:
        for label in (self.before_title, self.after_title):
            font = label.font()
            font.setBold(True)
            font.setPointSizeF(self.PRESENT_TITLE_POINTS if presenting else self.TITLE_POINTS)
            label.setFont(font)
        for bars in (self.before_bars, self.after_bars):
            bars.set_point_size(self.PRESENT_BAR_POINTS if presenting else None)

    def toggle_baseline(self) -> None:
        """Key B: hide mode shows the grey square instead of the trained patch, or back."""
        if "baseline" not in mode_class(self.settings.mode).controls:
            self._update_control_states()
            return
        self.controls.choose_baseline("grey" if self.settings.baseline == "none" else "none")
        self._update_control_states()  # also when the edit was refused

    def _mode_detail(self) -> str:
        """The after title's account of the mode: its name, the values of the controls it
        reads, and whether the frame on show used its refined patch."""
        settings = self.settings
        mode = mode_class(settings.mode)
        reads = mode.controls
        head = mode.trains or mode.name
        baseline = "baseline" in reads and settings.baseline != "none"
        if baseline:  # a plain square instead of the patch
            head = f"{BASELINE_NAMES[settings.baseline]} baseline"
        for fraction in ("patch_fraction", "hide_fraction"):
            if fraction in reads:
                head += f" {round(getattr(settings, fraction) * 100)}%"
        parts = [head]
        if "eps" in reads:
            parts.append(f"eps {round(settings.eps * 255)}/255")
        if "ghost_steps" in reads:
            steps = settings.ghost_steps
            parts.append(f"{steps} step{'s' * (steps != 1)}")
        shown = self.current.result if self.current is not None else None
        if (mode.trains is not None and shown is not None and shown.patch_ready
                and shown.settings.mode == settings.mode and not baseline):
            parts.append(self.REFINE_WORDS.get(mode.trains, ("", "refined"))[1])
        return ", ".join(parts)

    def _update_control_states(self) -> None:
        """Actions say and allow what the current mode and state mean."""
        paused = self.pause_action.isChecked()
        self.pause_action.setText("Resume" if paused else "Pause")
        self.pause_action.setToolTip("Go on with the stream (Space)" if paused else
                                     "Freeze the stream; controls still apply to the frame "
                                     "(Space)")
        mode = mode_class(self.settings.mode)
        trains = mode.trains
        if trains is None:
            self.refine_action.setText("Refine")
            self.refine_action.setToolTip(f"{self.settings.mode} mode has no patch to refine")
        else:
            self.refine_action.setText(self.REFINE_WORDS.get(trains, (f"Refine {trains}", ""))[0])
            self.refine_action.setToolTip(f"Optimise the {trains} on recent frames")
        self.refine_action.setEnabled(trains is not None)
        reads_baseline = "baseline" in mode.controls
        self.baseline_action.setEnabled(reads_baseline)
        self.baseline_action.setChecked(reads_baseline and self.settings.baseline != "none")

    def clear_tracks(self) -> None:
        """Forget the tracks on show: the combo, the selection, the bars and highlights
        (call on a source switch; the next source numbers its tracks from 1 again)."""
        self.selected_track = None
        self._fill_track_combo(())
        self._update_bars()

    def _fill_track_combo(self, tracks: tuple[TrackResult, ...]) -> None:
        """Show ``tracks`` in the combo: refilled when the ids change, relabelled in place
        when only the labels do (an open popup stays open)."""
        entries = [(t.track_id, (f"#{t.track_id}" if t.track_id > 0 else f"hand {-t.track_id}")
                    + f"  {t.before.names[0]}") for t in tracks]
        combo = self.track_combo
        combo.blockSignals(True)
        if [combo.itemData(i) for i in range(combo.count())] != [i for i, _ in entries]:
            combo.clear()
            for track_id, text in entries:
                combo.addItem(text, track_id)
        else:
            for i, (_, text) in enumerate(entries):
                if combo.itemText(i) != text:
                    combo.setItemText(i, text)
        combo.blockSignals(False)
