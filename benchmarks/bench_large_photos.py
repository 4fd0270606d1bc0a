"""Peak memory and time of ``attack``, ``sweep`` and ``dream`` on an 8000x6000 JPEG
(issue 9.3: the photo ended in an allocator error). Each command runs as its own
``python -m chickensaviour`` process with default options (``--device cpu``); its peak
resident memory comes from ``wait4``'s rusage.

    .venv/bin/python benchmarks/bench_large_photos.py [--commands attack sweep dream]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "chickensaviour" / "assets" / "samples" / "chelsea.png"


def make_photo(path: Path, size: tuple[int, int] = (8000, 6000)) -> Path:
    """The bundled cat photo enlarged to ``size`` (a smooth, photo-like 48 MP JPEG)."""
    cv2.imwrite(str(path), cv2.resize(cv2.imread(str(PHOTO)), size,
                                      interpolation=cv2.INTER_CUBIC),
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def run(argv: list[str]) -> tuple[int, float, float, str]:
    """Exit code, seconds, peak RSS in GB and the last stderr line of one command."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "chickensaviour", *argv], cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    err = process.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    lines = err.strip().splitlines()
    return process.returncode, seconds, usage.ru_maxrss / 1e6, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", nargs="+", default=["attack", "sweep", "dream"])
    parser.add_argument("--dream-layer", default="features.10")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        photo = make_photo(folder / "photo_8000x6000.jpg")
        argvs = {
            "attack": ["attack", str(photo), "--target", "hog", "--out", str(folder / "a")],
            "sweep": ["sweep", str(photo), "--target", "hog", "--out", str(folder / "s")],
            "dream": ["dream", str(photo), "--layer", args.dream_layer, "--out",
                      str(folder / "d.png")],
        }
        for command in args.commands:
            code, seconds, peak, last = run([*argvs[command], "--device", "cpu"])
            print(f"{command:6s}: exit {code}, {seconds:.1f} s, peak RSS {peak:.2f} GB "
                  f"({last})", flush=True)


if __name__ == "__main__":
    main()
