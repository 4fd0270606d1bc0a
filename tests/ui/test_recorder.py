"""``Recorder``: the recorder thread alone owns its writer; closing while it writes never
crashes, never publishes after "removing it" was logged and leaves no temporary file."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from chickensaviour import files
from chickensaviour.video.codecs import count_frames, gif_frame_ms
from tests.conftest import fill
from ui.recorder import Recorder

ROOT = Path(__file__).resolve().parents[2]

# Records big noisy frames (slow to encode) and closes with a timeout shorter than the
# backlog, several times: the old code released OpenCV's writer from this (the "GUI")
# thread while the recorder thread was inside write(), which crashed with SIGSEGV.
CLOSE_WHILE_WRITING = textwrap.dedent("""
    import logging, sys, time
    from pathlib import Path
    import numpy as np
    from chickensaviour.video.codecs import count_frames
    from ui.recorder import Recorder

    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    out = Path(sys.argv[1])
    rng = np.random.default_rng(0)
    for trial, (width, height) in enumerate([(1920, 1080)] * 3 + [(1286, 480)] * 2):
        frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(3)]
        recorder = Recorder(out / f"rec{trial}.mp4", fps=30, max_frames=9000)
        recorder.start()
        for i in range(40):
            recorder.add(frames[i % 3])
        time.sleep(0.3)  # the recorder thread is inside write() now
        print(f"trial {trial}: closing", flush=True)
        recorder.close_now(0.02)
        assert recorder.done.wait(30), "recorder thread did not end"
        print(f"trial {trial}: done error={recorder.error!r} aborted={recorder.aborted}",
              flush=True)
        if recorder.path.exists():  # published: it must play, every frame there
            assert count_frames(recorder.path, ".mp4") == recorder.writer.count > 0
    print("all trials ended")
""")


def everything_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())  # hidden temporaries included


def noise(count: int, width: int, height: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def frames_in(path: Path) -> int:
    """Reopen a published recording and count the frames a player would show."""
    return count_frames(path, path.suffix, gif_frame_ms(10))


def feed(recorder: Recorder, frames: list[np.ndarray]) -> None:
    """Queue every frame, waiting for the backlog to drain rather than dropping any."""
    for frame in frames:
        deadline = time.monotonic() + 30
        while not recorder.add(frame):
            assert time.monotonic() < deadline and not recorder.done.is_set()
            time.sleep(0.01)


def test_closing_during_an_mp4_recording_does_not_crash(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CLOSE_WHILE_WRITING, str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"recorder process ended with {done.returncode}:\n{log[-3000:]}"
    assert "all trials ended" in done.stdout
    assert not [name for name in everything_in(tmp_path) if ".part" in name], log[-3000:]
    for trial in range(5):
        if f"rec{trial}.mp4" in everything_in(tmp_path):  # published: only if never removed
            section = log.split(f"trial {trial}: closing")[1].split(f"trial {trial}: done")[0]
            assert "removing it" not in section


def test_gif_close_that_times_out_never_publishes(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Old code: the GUI thread removed the file while the thread was saving the GIF,
    which then published it anyway after the log said "removing it"."""
    path = tmp_path / "rec.gif"
    recorder = Recorder(path, fps=10)
    recorder.start()
    feed(recorder, noise(120, 320, 240))
    deadline = time.monotonic() + 60
    while recorder.writer.count < 120:  # every frame quantized: saving comes next
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with caplog.at_level(logging.INFO, logger="ui.recorder"):
        recorder.close_now(0.01)  # saving 120 noisy frames takes far longer
        recorder.join(60)
    assert not recorder.is_alive()
    assert "removing it" in caplog.text
    assert recorder.aborted and not path.exists()
    assert everything_in(tmp_path) == []
    assert files.remove_registered_temporaries() == []


def record_calls(recorder: Recorder) -> list[tuple[str, str]]:
    """Wrap the writer's methods to note which thread calls them."""
    calls: list[tuple[str, str]] = []
    writer = recorder.writer
    for name in ("write", "close", "finalize", "publish", "abort"):
        method: Callable[..., object] = getattr(writer, name)

        def wrapped(*args: object, _method: Callable[..., object] = method,
                    _name: str = name, **kwargs: object) -> object:
            calls.append((_name, threading.current_thread().name))
            return _method(*args, **kwargs)

        setattr(writer, name, wrapped)
    return calls


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
@pytest.mark.parametrize("ending", ["finish", "abort", "close_now", "close_now_late"])
def test_only_the_recorder_thread_touches_the_writer(tmp_path: Path, suffix: str,
                                                     ending: str) -> None:
    path = tmp_path / f"rec{suffix}"
    recorder = Recorder(path, fps=10)
    calls = record_calls(recorder)
    recorder.start()
    feed(recorder, noise(40, 640, 360))
    if ending == "finish":
        recorder.finish()
    elif ending == "abort":
        recorder.abort()
    else:
        recorder.close_now(0.0 if ending == "close_now_late" else 60.0)
    recorder.join(60)
    assert calls and {thread for _, thread in calls} == {recorder.name}
    published = ending in ("finish", "close_now")
    assert path.exists() == published
    assert recorder.aborted == (not published) and not recorder.error
    assert everything_in(tmp_path) == ([path.name] if published else [])
    if published:
        assert recorder.writer.count == 40 and frames_in(path) == 40


def test_close_now_in_time_publishes_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "rec.mp4"
    recorder = Recorder(path, fps=10, max_frames=5)
    recorder.start()
    feed(recorder, noise(5, 64, 48))
    assert not recorder.add(noise(1, 64, 48)[0]) and recorder.full
    recorder.close_now(60)
    assert recorder.done.is_set() and not recorder.aborted and not recorder.error
    assert recorder.writer.count == 5 and everything_in(tmp_path) == ["rec.mp4"]
    assert recorder.writer.codec == "h264" and frames_in(path) == 5


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_a_full_disk_keeps_the_old_recording_and_reports_one_line(
        small_disk: Path, suffix: str) -> None:
    """Defect 1 in the app: a recording that does not fit is reported and removed; the
    good file of the same name stays as it was."""
    path = small_disk / f"rec{suffix}"
    old = Recorder(path, fps=10)
    old.start()
    feed(old, noise(2, 64, 48))
    old.finish()
    assert old.done.wait(30) and not old.error
    good = path.read_bytes()
    fill(small_disk, 16_384)
    recorder = Recorder(path, fps=10)
    recorder.start()
    for frame in noise(12, 320, 240):  # incompressible: far more than 16 KiB
        recorder.add(frame)  # the writer may fail (and the thread end) meanwhile
    recorder.finish()
    assert recorder.done.wait(60)
    assert recorder.aborted and path.name in recorder.error and "\n" not in recorder.error
    assert path.read_bytes() == good
    assert everything_in(small_disk) == ["filler", path.name]
    assert files.remove_registered_temporaries() == []


def test_a_failing_writer_reports_the_error_and_leaves_nothing(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "rec.gif", fps=10)
    recorder.start()
    recorder.add(noise(1, 64, 48)[0])
    recorder.add(noise(1, 32, 48)[0])  # another size: the writer refuses it
    assert recorder.done.wait(10)
    assert "size changed" in recorder.error and recorder.aborted
    assert not recorder.add(noise(1, 64, 48)[0])
    recorder.finish()  # too late: ignored, no hang
    recorder.close_now(1)
    assert everything_in(tmp_path) == []
