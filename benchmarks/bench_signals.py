"""Signal to exit: how long a real ``python -m chickensaviour`` takes to end after SIGINT,
SIGTERM or SIGHUP in the middle of ``render``/``detect`` (issue 9.4).

For each case the command is started on a long synthetic clip, the signal is sent once
its hidden ``.NAME.*.part.*`` file exists (plus ``--settle`` seconds, well inside the
frame loop), and the script prints the seconds from the signal to the process's end, the
exit code (expected 128 + N) and whether anything was left in the output folder.

    .venv/bin/python benchmarks/bench_signals.py [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CASES = [("render", signal.SIGINT, ".mp4"), ("render", signal.SIGTERM, ".mp4"),
         ("render", signal.SIGHUP, ".gif"), ("detect", signal.SIGTERM, ".mp4"),
         ("detect", signal.SIGINT, ".gif")]


def make_clip(path: Path, frames: int = 900) -> Path:
    """A 10 fps clip of moving noise, long enough to still be running when signalled."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10, (192, 144))
    base = np.random.default_rng(0).integers(0, 256, (144, 192, 3), dtype=np.uint8)
    for index in range(frames):
        writer.write(np.roll(base, index * 3, axis=1))
    writer.release()
    return path


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background shell ignores SIGINT
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def measure(command: str, signum: signal.Signals, suffix: str, clip: Path, folder: Path,
            settle: float) -> tuple[float, int, list[str]]:
    out_dir = folder / f"{command}-{signum.name}"
    out_dir.mkdir()
    argv = [command, str(clip), "--out", str(out_dir / f"result{suffix}"), "--device", "cpu"]
    if command == "render":
        argv += ["--mode", "ghost", "--protect", "cat", "--width", "320"]
    process = subprocess.Popen([sys.executable, "-m", "chickensaviour", *argv], cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=_default_signals)
    while not any(".part" in p.name for p in out_dir.iterdir()):
        if process.poll() is not None:
            raise SystemExit(f"{command} ended before writing: {process.stderr.read()[-500:]!r}")
        time.sleep(0.02)
    time.sleep(settle)
    sent = time.monotonic()
    process.send_signal(signum)
    process.communicate(timeout=60)
    elapsed = time.monotonic() - sent
    return elapsed, process.returncode, sorted(p.name for p in out_dir.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--settle", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        clip = make_clip(folder / "noise.mp4")
        for repeat in range(args.repeats):
            for command, signum, suffix in CASES:
                run_folder = folder / f"run{repeat}"
                run_folder.mkdir(exist_ok=True)
                elapsed, code, left = measure(command, signum, suffix, clip, run_folder,
                                              args.settle)
                print(f"{command:6s} {suffix:4s} {signum.name:7s}: exit {code} (expected "
                      f"{128 + signum}) {elapsed:.3f} s after the signal, left behind: "
                      f"{left or 'nothing'}", flush=True)


if __name__ == "__main__":
    main()
