"""The GUI's threads without a window: fake pipelines and sources, scripted frames."""

from __future__ import annotations

import threading
import time
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from chickensaviour.live import FrameResult, PipelineSettings, StageTimings, mode_class
from chickensaviour.video.capture import CaptureThread
from chickensaviour.video.sources import SourceError
from ui.handoffs import Mailbox
from ui.rate_meter import RateMeter
from ui.recorder import Recorder
from ui.workers import InferenceWorker


class ScriptedSource:
    """A file-like source of ``count`` tiny frames, or a live one that always fails."""

    def __init__(self, count: int = 3, *, live: bool = False, fail: bool = False) -> None:
        self.name = "scripted"
        self.is_live = live
        self.fps = 100.0
        self.count = count
        self.fail = fail
        self.read_count = 0

    def read(self) -> np.ndarray | None:
        if self.fail:
            raise SourceError("camera 9 stopped delivering frames")
        if self.read_count >= self.count:
            return None
        self.read_count += 1
        return np.full((8, 8, 3), self.read_count % 256, dtype=np.uint8)

    def close(self) -> None:
        pass


class RecordingPipeline:
    """Stands in for FramePipeline: remembers the settings each frame was processed with."""

    def __init__(self) -> None:
        self.seen: list[PipelineSettings] = []
        self.resets = 0
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def process(self, frame: np.ndarray, settings: PipelineSettings, *,
                advance: bool = True, should_stop=None) -> FrameResult:  # type: ignore[no-untyped-def]
        self.entered.set()
        self.gate.wait(5)
        self.seen.append(settings)
        return FrameResult(len(self.seen) - 1, frame, frame.copy(), (), settings)

    def prepare(self, frame: np.ndarray, settings: PipelineSettings, *,
                advance: bool = True, should_stop=None, **_) -> tuple:  # type: ignore[no-untyped-def]
        return frame, settings, advance

    def detector_for_another_thread(self, settings: PipelineSettings) -> None:
        return None

    def mode(self, name: str) -> type:
        return mode_class(name)

    def judge(self, prepared: tuple) -> FrameResult:  # type: ignore[type-arg]
        frame, settings, advance = prepared
        return self.process(frame, settings, advance=advance)

    def reset(self) -> None:
        self.resets += 1


def wait_for(condition, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_mailbox_keeps_only_the_newest_item() -> None:
    box: Mailbox[int] = Mailbox()
    box.put(1)
    box.put(2)
    assert box.take() == 2
    assert box.take() is None


def test_new_settings_are_used_from_the_next_frame_on() -> None:
    pipeline = RecordingPipeline()
    first = PipelineSettings(eps=1 / 255)
    worker = InferenceWorker(pipeline, CaptureThread(ScriptedSource(50)), first)  # type: ignore[arg-type]
    pipeline.gate.clear()  # hold the first frame inside process()
    worker.start()
    try:
        assert pipeline.entered.wait(5)
        worker.update_settings(first.with_changes(eps=9 / 255))
        pipeline.gate.set()
        assert wait_for(lambda: len(pipeline.seen) >= 3)
    finally:
        worker.stop(1.0)
    # The frame in flight keeps its snapshot; every later frame has the new one.
    assert pipeline.seen[0].eps == pytest.approx(1 / 255)
    assert all(s.eps == pytest.approx(9 / 255) for s in pipeline.seen[1:])


def test_a_file_source_is_looped_with_a_reset_pipeline() -> None:
    pipeline = RecordingPipeline()
    sources: list[ScriptedSource] = []

    def reopen() -> CaptureThread:
        sources.append(ScriptedSource(2))
        return CaptureThread(sources[-1])

    worker = InferenceWorker(pipeline, CaptureThread(ScriptedSource(2)),  # type: ignore[arg-type]
                             PipelineSettings(), reopen=reopen)
    worker.start()
    try:
        assert wait_for(lambda: len(pipeline.seen) >= 5)
    finally:
        worker.stop(1.0)
    assert pipeline.resets >= 2 and len(sources) >= 2
    assert not worker.is_alive() and not worker.capture.is_alive()


def test_a_failing_camera_becomes_a_message_not_a_crash() -> None:
    capture = CaptureThread(ScriptedSource(live=True, fail=True), retry_interval=0.05)
    worker = InferenceWorker(RecordingPipeline(), capture, PipelineSettings())  # type: ignore[arg-type]
    worker.start()
    try:
        messages: list[str] = []
        assert wait_for(lambda: bool(messages.extend(worker.messages.pop_all()) or messages))
        assert "stopped delivering" in messages[0]
        assert worker.is_alive()
    finally:
        worker.stop(1.0)


def test_recorder_aborted_or_empty_leaves_nothing(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "a.gif", fps=10)
    recorder.start()
    recorder.add(np.zeros((16, 16, 3), np.uint8))
    recorder.abort()
    assert recorder.done.wait(5)
    empty = Recorder(tmp_path / "b.gif", fps=10)  # never started, finished with no frame
    empty.finish()
    assert empty.done.wait(5) and empty.error == "nothing was recorded"
    assert list(tmp_path.iterdir()) == []


def test_recorder_stops_taking_frames_at_its_limit(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "c.gif", fps=10, max_frames=2)
    recorder.start()
    frame = np.zeros((16, 16, 3), np.uint8)
    assert [recorder.add(frame) for _ in range(3)] == [True, True, False]
    assert recorder.full
    recorder.finish()
    assert recorder.done.wait(5) and (tmp_path / "c.gif").is_file()


def test_rate_meter_counts_events_per_second() -> None:
    meter = RateMeter(span=2.0)
    for i in range(11):
        meter.tick(100.0 + i * 0.1)
    assert meter.rate == pytest.approx(10.0)


def test_a_click_selects_the_smallest_box_under_it() -> None:
    from ui.video_pane import box_under

    boxes = [(0.0, 0.0, 100.0, 100.0), (10.0, 10.0, 30.0, 30.0)]
    assert box_under(boxes, 20, 20) == 1
    assert box_under(boxes, 50, 50) == 0
    assert box_under(boxes, 150, 50) is None


class CountingPipeline(RecordingPipeline):
    """Records how many threads were inside ``process`` at once, and who reset it."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.inside = 0
        self.most_inside = 0
        self.threads: set[str] = set()
        self.reset_threads: set[str] = set()

    def process(self, frame: np.ndarray, settings: PipelineSettings, *,  # type: ignore[override]
                advance: bool = True, should_stop=None) -> FrameResult:  # type: ignore[no-untyped-def]
        with self._lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            self.threads.add(threading.current_thread().name + str(threading.get_ident()))
        try:
            return super().process(frame, settings, advance=advance)
        finally:
            with self._lock:
                self.inside -= 1

    def reset(self) -> None:
        self.reset_threads.add(threading.current_thread().name)
        super().reset()


def test_switching_source_mid_frame_never_shares_or_resets_a_running_pipeline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 6: the old switch ran reset() on the GUI thread under the running frame and
    started a second worker on the same pipeline (two threads inside process at once)."""
    import ui.session as session_module
    from ui.session import SourceSession

    monkeypatch.setattr(session_module, "open_source", lambda spec, **_: ScriptedSource(10_000))
    made: list[CountingPipeline] = []

    def make_pipeline() -> CountingPipeline:
        made.append(CountingPipeline())
        return made[-1]

    session = SourceSession(make_pipeline, PipelineSettings())  # type: ignore[arg-type]
    try:
        session.open("a.mp4")
        assert wait_for(lambda: session.poll().started is not None or session.worker is not None)
        first = made[0]
        assert wait_for(lambda: len(first.seen) >= 2)
        first.gate.clear()  # hold the next frame inside process()
        first.entered.clear()
        assert first.entered.wait(5)
        session.open("b.mp4")
        assert wait_for(lambda: session.poll().started == "b.mp4")
        second = made[1]
        assert wait_for(lambda: len(second.seen) >= 3)
        first.gate.set()
    finally:
        session.stop(2.0)
    assert second is not first
    assert first.most_inside == 1 and second.most_inside == 1
    assert len(first.threads) == 1 and len(second.threads) == 1
    assert "MainThread" not in first.reset_threads | second.reset_threads
    assert not any(w.is_alive() for w in session.retired)


def test_a_pipeline_handed_over_twice_in_a_row_ends_with_the_newest() -> None:
    """Defect 6: the worker took the next pipeline with a read then a write, so a second
    hand-over landing between the two was lost. Hammer the hand-over while it swaps."""
    import sys

    pipelines = [RecordingPipeline() for _ in range(400)]
    worker = InferenceWorker(pipelines[0], CaptureThread(ScriptedSource(10**7)),  # type: ignore[arg-type]
                             PipelineSettings())
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    worker.start()
    try:
        for pipeline in pipelines[1:]:
            worker.replace_pipeline(pipeline)  # type: ignore[arg-type]
        last = pipelines[-1]
        assert wait_for(lambda: len(last.seen) >= 2), "the newest pipeline was never used"
    finally:
        sys.setswitchinterval(interval)
        worker.stop(2.0)


def test_settings_changed_while_a_pipeline_is_handed_over_are_not_lost() -> None:
    """The worker taking a handed pipeline (with its older settings) between the GUI's
    ``self._settings = new`` and its look at the mailbox left the worker on the older
    settings. The worker's take is made to land exactly there (from its own thread)."""
    old_pipeline, new_pipeline = RecordingPipeline(), RecordingPipeline()
    first = PipelineSettings(eps=1 / 255)
    worker = InferenceWorker(old_pipeline, CaptureThread(ScriptedSource(3)), first)  # type: ignore[arg-type]
    handed = first.with_changes(eps=2 / 255)
    newest = first.with_changes(eps=9 / 255)
    worker.replace_pipeline(new_pipeline, handed)  # type: ignore[arg-type]
    box = worker._next_pipeline
    peek = box.peek
    takers: list[threading.Thread] = []

    def worker_takes_now() -> object:
        taker = threading.Thread(target=worker._take_handoff)
        takers.append(taker)
        taker.start()
        taker.join(0.3)  # it finishes now unless the hand-off is guarded
        return peek()

    box.peek = worker_takes_now  # type: ignore[method-assign]
    worker.update_settings(newest)
    box.peek = peek  # type: ignore[method-assign]
    for taker in takers:
        taker.join(2.0)
    worker._take_handoff()
    assert worker._pipeline is new_pipeline
    assert worker.settings.eps == pytest.approx(9 / 255)
    worker.stop(0.5)


class TwoStagePipeline(RecordingPipeline):
    """Each stage takes ``seconds``; remembers when and on which thread each ran."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.spans: dict[str, list[tuple[float, float, str]]] = {"prepare": [], "judge": []}
        self.judged: list[int] = []

    def _stage(self, name: str) -> None:
        start = time.monotonic()
        time.sleep(self.seconds)
        self.spans[name].append((start, time.monotonic(), threading.current_thread().name))

    def prepare(self, frame: np.ndarray, settings: PipelineSettings, *,
                advance: bool = True, should_stop=None, **_) -> tuple:  # type: ignore[no-untyped-def]
        self._stage("prepare")
        return frame, settings, advance

    def judge(self, prepared: tuple) -> FrameResult:  # type: ignore[type-arg]
        frame, settings, _ = prepared
        self._stage("judge")
        self.judged.append(int(frame[0, 0, 0]))
        self.seen.append(settings)
        return FrameResult(len(self.seen) - 1, frame, frame.copy(), (), settings)


def test_without_overlap_every_frame_goes_through_process_on_the_inference_thread() -> None:
    pipeline = CountingPipeline()
    worker = InferenceWorker(pipeline, CaptureThread(ScriptedSource(8)),  # type: ignore[arg-type]
                             PipelineSettings())
    worker.start()
    try:
        assert wait_for(lambda: worker.ended.is_set() and worker.processed == 8, 10)
    finally:
        worker.stop(2.0)
    assert len(pipeline.seen) == 8 and pipeline.most_inside == 1
    assert {name.rstrip("0123456789") for name in pipeline.threads} == {"inference"}


def test_overlap_judges_frame_n_while_frame_n_plus_1_is_prepared() -> None:
    pipeline = TwoStagePipeline(0.03)
    worker = InferenceWorker(pipeline, CaptureThread(ScriptedSource(8)),  # type: ignore[arg-type]
                             PipelineSettings(), overlap=True, draw=True)
    results = []
    worker.start()
    try:
        assert wait_for(lambda: worker.ended.is_set() and worker.processed == 8, 10)
        while (item := worker.take_result()) is not None:
            results.append(item)
    finally:
        worker.stop(2.0)
    assert pipeline.judged == list(range(1, 9))  # every frame judged, in order
    judges, prepares = pipeline.spans["judge"], pipeline.spans["prepare"]
    assert {name for *_, name in judges} != {name for *_, name in prepares}
    overlapping = sum(1 for j_start, j_end, _ in judges[:-1]
                      for p_start, p_end, _ in prepares
                      if p_start < j_end and j_start < p_end)
    assert overlapping >= 5  # judge(n) ran while prepare(n+1) did
    assert results[-1].sequence == 8
    assert results[-1].panes is not None  # drawn off the GUI thread
    assert results[-1].panes[0].shape == results[-1].result.before.shape


def test_a_cpu_share_slows_the_live_view_down_and_lifting_it_restores_the_rate() -> None:
    """While a refinement job runs, the window limits the live view's share of the time so
    the job gets the CPU: after a frame whose stages took t, the next starts t / share
    later; a live source drops the frames in between."""

    class TimedPipeline(RecordingPipeline):
        def process(self, frame, settings, *, advance=True, should_stop=None):  # type: ignore[no-untyped-def]
            time.sleep(0.01)
            result = super().process(frame, settings, advance=advance)
            return replace(result, timings=StageTimings(patch=0.01))

    pipeline = TimedPipeline()
    worker = InferenceWorker(pipeline, CaptureThread(ScriptedSource(10**7, live=True)),  # type: ignore[arg-type]
                             PipelineSettings())
    worker.set_cpu_share(0.1)  # 10 ms of work, then 100 ms from start to start
    worker.start()
    try:
        time.sleep(0.2)
        before = len(pipeline.seen)
        time.sleep(1.0)
        limited = len(pipeline.seen) - before
        worker.set_cpu_share(None)
        time.sleep(0.2)
        before = len(pipeline.seen)
        time.sleep(1.0)
        free = len(pipeline.seen) - before
    finally:
        worker.stop(2.0)
    assert 1 <= limited <= 11  # at most one frame per 100 ms
    assert free > limited  # about one per 10 ms of work once the limit is lifted
    with pytest.raises(ValueError):
        worker.set_cpu_share(0)


def test_the_status_bar_names_the_engine_of_the_forward_stages() -> None:
    from ui.rate_meter import describe_engines, describe_performance
    from ui.workers import ProcessedFrame

    frame = np.zeros((4, 4, 3), np.uint8)
    result = FrameResult(0, frame, frame, (), PipelineSettings(),
                         StageTimings(0.004, 0.001, 0.002, 0.013),
                         engines=(("classify", "onnxruntime"), ("localise", "onnxruntime"),
                                  ("patch", "pytorch")))
    text, details = describe_performance(ProcessedFrame(1, result, 0.0, 0.05, 0.02), 29.5)
    assert "engine onnxruntime" in text and "29.5 fps" in text and "latency 50 ms" in text
    assert "patch pytorch" in details and "classify 13 ms" in details
    assert describe_engines({"classify": "pytorch", "localise": "none"}) == "engine pytorch"
    assert describe_engines({"classify": "pytorch", "localise": "onnxruntime"}) == \
        "localise onnxruntime, classify pytorch"  # in the order the stages run


class _PixelDetector:
    """Finds one box; the frame it ran on is told by its pixel value."""

    def detect(self, frame):  # type: ignore[no-untyped-def]
        from chickensaviour.models.detections import Detections

        time.sleep(0.005)
        return Detections(np.array([[1.0, 1.0, 6.0, 6.0]]), np.array([0.9]), np.array([15]))


class DetectingPipeline(RecordingPipeline):
    """Records, for every prepared frame, the frame its found regions came from."""

    def __init__(self) -> None:
        super().__init__()
        self.detector = _PixelDetector()
        self.model = types.SimpleNamespace(device=torch.device("cpu"))
        self.uses: list[tuple[str, int, int | None]] = []

    def detector_for_another_thread(self, settings: PipelineSettings) -> object:
        return self.detector

    def prepare(self, frame, settings, *, advance=True, should_stop=None, found=None,  # type: ignore[no-untyped-def]
                detect=True):
        source = None if found is None else round(float(found.image[0, 0, 0, 0]) * 255)
        self.uses.append((settings.mode, int(frame[0, 0, 0]), source))
        return frame, settings, advance


def test_regions_found_long_ago_are_never_given_to_the_tracker() -> None:
    """Block mode takes the detector thread's boxes when ready; after a spell in hide mode
    (which detects one frame ahead instead) the block-mode detection left over from before
    is dropped, not pasted where the object was seconds ago."""
    pipeline = DetectingPipeline()
    block = PipelineSettings(mode="block", detect_every=2)
    worker = InferenceWorker(pipeline, CaptureThread(ScriptedSource(400)),  # type: ignore[arg-type]
                             block, overlap=True)
    worker.start()
    try:
        assert wait_for(lambda: len(pipeline.uses) >= 20)
        worker.update_settings(block.with_changes(mode="hide"))
        assert wait_for(lambda: sum(m == "hide" for m, *_ in pipeline.uses) >= 40)
        worker.update_settings(block)
        assert wait_for(lambda: worker.ended.is_set(), 10)
    finally:
        worker.stop(2.0)
    used = [(mode, shown, source) for mode, shown, source in pipeline.uses
            if source is not None]
    assert any(mode == "hide" for mode, *_ in used) and any(mode == "block" for mode, *_ in used)
    for mode, shown, source in used:
        if mode == "hide":
            assert source == shown  # detected on the very frame, one frame ahead
        else:
            assert 0 <= shown - source <= block.detect_every + 1  # 0: the frame held back


def test_a_slow_mode_on_a_live_source_still_gets_its_boxes() -> None:
    """Review defect: a detection's age was counted in capture indices, which a live
    source skips while a slow mode runs, so every box was thrown away as stale."""

    class SlowPipeline(DetectingPipeline):
        def prepare(self, frame, settings, **kwargs):  # type: ignore[no-untyped-def]
            time.sleep(0.03)  # the capture thread reads several frames meanwhile
            return super().prepare(frame, settings, **kwargs)

    pipeline = SlowPipeline()
    worker = InferenceWorker(pipeline, CaptureThread(ScriptedSource(10**7, live=True)),  # type: ignore[arg-type]
                             PipelineSettings(mode="block", detect_every=2), overlap=True)
    worker.start()
    try:
        assert wait_for(lambda: len(pipeline.uses) >= 30)
    finally:
        worker.stop(2.0)
    assert worker.capture.slot.dropped > 0  # frames were skipped between two prepared
    used = sum(source is not None for *_, source in pipeline.uses)
    assert used >= 5, pipeline.uses
