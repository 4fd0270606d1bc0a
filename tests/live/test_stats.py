"""``RunStats``: scripted runs of shown frames, with the summary's figures worked out by
hand from the definitions in :mod:`chickensaviour.live.stats`.

Times are multiples of 1/32 s so they are exact in floating point. ``fps`` counts the
frames shown in each whole second from the first frame on (the last, partial second
left out): its ``median`` is the median count, its ``p95`` the 5th percentile of the
counts. Percentiles are numpy's linear interpolation: of ``n`` sorted values the
``q``-th is the value at index ``q / 100 * (n - 1)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.live.stats import RunStats, ShownFrame, per_second, percentile


def _frame(index: int, shown_at: float, *, latency: float = 0.05,
           stages: Mapping[str, float] | None = None,
           engines: Mapping[str, str] | None = None,
           job_running: bool = False) -> ShownFrame:
    """Capture ``index`` shown at ``shown_at`` s, read ``latency`` s before that."""
    return ShownFrame(capture_index=index, captured_at=shown_at - latency,
                      shown_at=shown_at, stages=dict(stages or {}),
                      engines=dict(engines or {}), job_running=job_running)


def _run(frames: list[ShownFrame], mode: str = "block") -> RunStats:
    stats = RunStats(mode)
    for frame in frames:
        stats.add(frame)
    return stats


def _seconds(counts: list[int]) -> list[float]:
    """Show times with ``counts[s]`` frames in second ``s`` (1/32 s apart from its start),
    then one frame at the start of the next second: the last, partial one."""
    return [s + k / 32 for s, count in enumerate(counts) for k in range(count)] + [
        float(len(counts))]


def test_fps_is_the_median_and_the_low_5th_percentile_of_frames_per_second() -> None:
    # 21 whole seconds: one stall (12 frames), one slow second (24), the rest at 30.
    # Sorted counts: the median is index 10 (30), the 5th percentile index
    # 0.05 * 20 = 1 (24): the p95 figure is the rate 95 % of the seconds reached.
    counts = [30] * 7 + [12] + [30] * 8 + [24] + [30] * 4
    stats = _run([_frame(i, t) for i, t in enumerate(_seconds(counts))])
    summary = stats.summary()
    assert summary["fps"] == {"median": 30.0, "p95": 24.0}
    assert summary["frames"] == stats.frames == sum(counts) + 1
    assert summary["mode"] == "block"


def test_fps_p95_interpolates_between_the_seconds() -> None:
    # Counts sorted [8, 10, 10, 10, 10]: the 5th percentile at index 0.2 is
    # 8 + 0.2 * (10 - 8) = 8.4; the median 10.
    counts = [10, 8, 10, 10, 10]
    summary = _run([_frame(i, t) for i, t in enumerate(_seconds(counts))]).summary()
    assert summary["fps"] == {"median": 10.0, "p95": 8.4}


def test_fps_counts_frames_per_second_however_unevenly_they_came() -> None:
    # Frames bunched in pairs (1/32 s then 7/32 s apart): still 8 a second.
    times = [s + k / 4 + j / 32 for s in range(3) for k in range(4) for j in range(2)]
    summary = _run([_frame(i, t) for i, t in enumerate([*times, 3.0])]).summary()
    assert summary["fps"] == {"median": 8.0, "p95": 8.0}


def test_per_second_counts_whole_seconds_from_the_first_frame() -> None:
    # Seconds [10, 11) and [11, 12); 12.5 is in the partial third second, left out.
    assert per_second([10.0, 10.5, 11.0, 11.96875, 12.5]) == [2, 2]
    assert per_second([0.0, 0.5, 1.0, 3.0]) == [2, 1, 0]  # an empty second counts 0
    assert per_second([]) == [] and per_second([4.0, 4.5]) == []


def test_a_run_shorter_than_a_whole_second_has_no_rate() -> None:
    summary = _run([_frame(0, 0.0), _frame(1, 0.5, latency=0.07)]).summary()
    assert summary["fps"] == {"median": None, "p95": None}
    assert summary["latency_ms"] == {"median": 60.0, "p95": 69.0}  # of 50 and 70 ms


def test_latency_is_from_capture_to_show_in_milliseconds() -> None:
    # 21 frames with latencies 40..60 ms (shuffled): median 50 ms, p95 at index 19: 59 ms.
    latencies_ms = [40 + (5 * i) % 21 for i in range(21)]
    assert sorted(latencies_ms) == list(range(40, 61))
    frames = [_frame(i, 10.0 + i / 32, latency=ms / 1000)
              for i, ms in enumerate(latencies_ms)]
    assert _run(frames).summary()["latency_ms"] == {"median": 50.0, "p95": 59.0}


def test_stage_times_are_medians_in_ms_over_the_frames_that_ran_the_stage() -> None:
    frames = [
        _frame(0, 0.0, stages={"localise": 0.004, "classify": 0.013, "pipeline": 0.020}),
        _frame(1, 0.1, stages={"localise": 0.010, "pipeline": 0.030, "draw": 0.003}),
        _frame(2, 0.2, stages={"localise": 0.005, "classify": 0.012, "pipeline": 0.025}),
    ]
    assert _run(frames).summary()["stages_ms"] == {
        "localise": 5.0,  # median of 4, 10, 5
        "classify": 12.5,  # only frames 0 and 2 classified: median of 13, 12
        "pipeline": 25.0,
        "draw": 3.0,
    }


def test_engines_are_merged_over_the_run_the_latest_report_winning() -> None:
    frames = [
        _frame(0, 0.0, engines={"localise": "pytorch"}),
        _frame(1, 0.1, engines={"localise": "onnxruntime", "classify": "onnxruntime"}),
        _frame(2, 0.2),
        _frame(3, 0.3, engines={"patch": "pytorch"}),
    ]
    assert _run(frames).summary()["engines"] == {
        "localise": "onnxruntime", "classify": "onnxruntime", "patch": "pytorch"}


def test_dropped_counts_capture_index_gaps_and_frames_the_source_skipped() -> None:
    # Captures 2, 3, 6, 7 and 8 were never shown (5 frames); the source skipped 2 more.
    # Capture 9 shown twice (a re-render of the same frame) drops nothing.
    indices = [0, 1, 4, 5, 9, 9]
    stats = _run([_frame(index, n / 8) for n, index in enumerate(indices)])
    stats.source_skipped = 2
    summary = stats.summary()
    assert summary["dropped"] == 5 + 2
    assert summary["frames"] == 6


def test_nothing_is_dropped_when_every_capture_was_shown() -> None:
    summary = _run([_frame(i, i / 8) for i in range(5)]).summary()
    assert summary["dropped"] == 0


def test_without_jobs_is_the_longest_stretch_shown_while_no_job_ran() -> None:
    # A short quiet stretch (3 frames), a job that slows the window to 2 fps (200 ms),
    # then a long quiet stretch at 8 fps (50 ms): 2.0 .. 4.0 s, 17 frames, which is the
    # one ``without_jobs`` describes (its whole seconds: [2, 3) and [3, 4), 8 each).
    quiet_before = [_frame(i, i / 8) for i in range(3)]
    job = [_frame(3 + i, 0.75 + i / 2, latency=0.2, job_running=True) for i in range(3)]
    quiet_after = [_frame(6 + i, 2.0 + i / 8) for i in range(17)]
    summary = _run(quiet_before + job + quiet_after).summary()
    assert summary["without_jobs"] == {
        "fps": {"median": 8.0, "p95": 8.0},
        "latency_ms": {"median": 50.0, "p95": 50.0},
        "frames": 17,
    }
    # The job's frames came 0.5 s apart: 0.25 -> 0.75, 0.75 -> 1.25, 1.25 -> 1.75.
    assert summary["jobs_s"] == 1.5
    # The whole run keeps them: seconds [0, 1) 4 frames, [1, 2) 2, then 8 and 8.
    # Sorted [2, 4, 8, 8]: median 6, 5th percentile at index 0.15: 2 + 0.15 * 2 = 2.3.
    assert summary["fps"] == {"median": 6.0, "p95": 2.3}
    # 20 latencies of 50 ms and 3 of 200: the 95th percentile (index 20.9) is 200 ms.
    assert summary["latency_ms"] == {"median": 50.0, "p95": 200.0}
    assert summary["frames"] == 23 and summary["dropped"] == 0


def test_a_run_without_jobs_has_the_same_figures_without_jobs() -> None:
    counts = [30] * 7 + [12] + [30] * 8 + [24] + [30] * 4
    summary = _run([_frame(i, t) for i, t in enumerate(_seconds(counts))]).summary()
    without = summary["without_jobs"]
    assert isinstance(without, dict)
    assert without["fps"] == summary["fps"] and without["latency_ms"] == summary["latency_ms"]
    assert without["frames"] == summary["frames"] and summary["jobs_s"] == 0.0


def test_without_jobs_is_null_when_a_job_ran_throughout() -> None:
    frames = [_frame(i, i / 4, job_running=True) for i in range(9)]  # 0 .. 2 s
    summary = _run(frames).summary()
    assert summary["without_jobs"] == {
        "fps": {"median": None, "p95": None},
        "latency_ms": {"median": None, "p95": None},
        "frames": 0,
    }
    assert summary["jobs_s"] == 2.0  # 8 intervals of 1/4 s
    assert summary["fps"] == {"median": 4.0, "p95": 4.0}


def test_frames_added_out_of_order_are_refused() -> None:
    stats = _run([_frame(0, 1.0)])
    with pytest.raises(ChickenSaviourError, match="order"):
        stats.add(_frame(1, 0.5))
    assert stats.frames == 1  # the refused frame was not kept


def test_an_empty_run_gives_nulls_not_errors() -> None:
    summary = RunStats("ghost").summary()
    assert summary["mode"] == "ghost"
    assert summary["fps"] == {"median": None, "p95": None}
    assert summary["latency_ms"] == {"median": None, "p95": None}
    assert summary["stages_ms"] == {} and summary["engines"] == {}
    assert summary["frames"] == 0 and summary["dropped"] == 0
    without = summary["without_jobs"]
    assert isinstance(without, dict)
    assert without["fps"] == {"median": None, "p95": None} and without["frames"] == 0
    assert summary["jobs_s"] == 0.0
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_one_frame_gives_no_rate() -> None:
    summary = _run([_frame(0, 3.0, latency=0.06)]).summary()
    assert summary["fps"] == {"median": None, "p95": None}
    assert summary["frames"] == 1


def test_the_first_job_of_each_kind_appears_in_the_summary() -> None:
    stats = _run([_frame(i, i / 8) for i in range(9)])  # one whole second at 8 fps
    stats.record_job("block", 14.23)
    stats.record_job("block", 3.0)  # a later refinement: the first one is reported
    stats.record_job("hide patch", 22.0)
    summary = stats.summary()
    assert summary["refine_s"] == {"block": 14.2, "hide patch": 22.0}
    assert summary["fps"] == {"median": 8.0, "p95": 8.0}  # the figures are still there


def test_the_summary_is_json_with_every_documented_key() -> None:
    frames = [
        _frame(0, 0.0, stages={"localise": 0.004, "pipeline": 0.02},
               engines={"localise": "onnxruntime"}),
        _frame(2, 0.125, stages={"localise": 0.006, "pipeline": 0.03}, job_running=True),
        _frame(3, 0.25, stages={"localise": 0.005, "pipeline": 0.025}),
        _frame(4, 1.0),  # a whole second counted: the rates are numbers, not nulls
    ]
    stats = _run(frames)
    stats.source_skipped = 1
    summary = stats.summary()
    text = json.dumps(summary, allow_nan=False)  # strict JSON: no NaN or Infinity
    assert json.loads(text) == summary
    assert {"mode", "fps", "latency_ms", "stages_ms", "engines", "frames", "dropped",
            "without_jobs", "jobs_s", "refine_s"} <= set(summary)
    assert summary["dropped"] == 1 + 1
    assert summary["fps"] == {"median": 3.0, "p95": 3.0}


def test_percentile_interpolates_and_refuses_no_values() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0], 95) == 10.0
    with pytest.raises(ChickenSaviourError):
        percentile([], 50)
