"""Signals on a real ``python -m chickensaviour`` process (issue 9.4).

SIGTERM and SIGHUP used to leave the writer's ``.NAME.*.part.*`` file behind, and SIGINT
took up to 8.5 s to end the process. Now any of them removes the temporary files and
ends the process within a second or two, with the conventional exit code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTUP_LIMIT_S = 180.0  # loading torch and the models on a busy 2-core machine
EXIT_LIMIT_S = 2.0  # issue 9.4: "within a second or two" (the grace time is 1 s)


def _clip(path: Path, frames: int = 900) -> Path:
    """A 10 fps clip of moving noise blobs, long enough to still be rendering when hit."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10, (192, 144))
    generator = np.random.default_rng(0)
    base = generator.integers(0, 256, (144, 192, 3), dtype=np.uint8)
    for index in range(frames):
        writer.write(np.roll(base, index * 3, axis=1))
    writer.release()
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _clip(tmp_path_factory.mktemp("clip") / "noise.mp4")


def _reset_signals() -> None:
    # A test runner started in the background may ignore SIGINT; the child must not.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _run_until_part_file(argv: list[str], out_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "chickensaviour", *argv], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=_reset_signals)
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while not any(p.name.startswith(".") and ".part" in p.name for p in out_dir.iterdir()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"no .part file appeared (exit {process.returncode}): {err[-2000:]!r}")
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the frame loop
    return process


CASES = [
    ("render", signal.SIGINT, ".mp4"),
    ("render", signal.SIGTERM, ".mp4"),
    ("render", signal.SIGHUP, ".gif"),
    ("detect", signal.SIGTERM, ".mp4"),
    ("detect", signal.SIGINT, ".gif"),
]


@pytest.mark.pretrained
@pytest.mark.parametrize(("command", "signum", "suffix"), CASES,
                         ids=[f"{c}-{s.name}-{x[1:]}" for c, s, x in CASES])
def test_a_signal_removes_temporaries_and_exits_quickly_with_the_conventional_code(
        command: str, signum: signal.Signals, suffix: str, clip: Path,
        tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / f"result{suffix}"
    argv = [command, str(clip), "--out", str(out), "--device", "cpu"]
    if command == "render":
        argv += ["--mode", "ghost", "--protect", "cat", "--width", "320"]
    process = _run_until_part_file(argv, out_dir)
    sent = time.monotonic()
    process.send_signal(signum)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"still running 30 s after {signum.name}")
    elapsed = time.monotonic() - sent
    expected = 130 if signum == signal.SIGINT else 128 + signum
    message = err.decode(errors="replace")
    assert process.returncode == expected, message[-2000:]
    assert elapsed < EXIT_LIMIT_S, f"{elapsed:.2f} s after {signum.name}"
    assert sorted(p.name for p in out_dir.iterdir()) == []
    assert "Traceback" not in message, message[-2000:]
    last = message.strip().splitlines()[-1]
    assert last.startswith(f"chickensaviour {command}: ") and signum.name in last, last


STUCK_SCRIPT = """
import sys, time
from pathlib import Path
import torch
from chickensaviour import files
from chickensaviour.cli.signals import SignalGuard

temp = Path(sys.argv[1])
with SignalGuard("render", end_process=True):
    files.register_temporary(temp)
    temp.write_bytes(b"partial")
    a = torch.rand(4000, 4000)
    Path(sys.argv[2]).write_text("ready")
    for _ in range(50):  # one long C call after another: the handler cannot run meanwhile
        a = torch.linalg.matrix_exp(a / 4000)
"""


def test_a_main_thread_stuck_in_a_long_c_call_still_ends_within_the_grace_time(
        tmp_path: Path) -> None:
    temp, ready = tmp_path / ".out.gif.1234.part.gif", tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", STUCK_SCRIPT, str(temp), str(ready)],
                               env=env, stderr=subprocess.PIPE, preexec_fn=_reset_signals)
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while not ready.exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    elapsed = time.monotonic() - sent
    assert process.returncode == 128 + signal.SIGTERM
    assert elapsed < EXIT_LIMIT_S, f"{elapsed:.2f} s"
    assert not temp.exists()
    assert err.decode().strip().splitlines()[-1] == "chickensaviour render: stopped by SIGTERM"
