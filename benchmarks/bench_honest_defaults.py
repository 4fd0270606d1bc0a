"""Issue 9.9's honest defaults, through the real commands: ``patch --target hog`` at
several ``--steps`` and ``render --mode ghost --ghost-steps N`` on the bundled clip.

Prints, for each patch step count, the probability the command reports for "hog" (read
back from the saved PNG, as the command does), and for each ghost step count the
summary's decoy line (regions whose top-1 after the attack is "hog").

    .venv/bin/python benchmarks/bench_honest_defaults.py \
        [--patch-steps 60 100 150] [--ghost-steps 1 3 5] [--max-frames N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chickensaviour.cli import main as chickensaviour  # noqa: E402

CLIP = ROOT / "chickensaviour" / "assets" / "samples" / "chelsea_clip.mp4"


def run(argv: list[str]) -> tuple[str, float]:
    """``chickensaviour ARGV`` in this process: its stdout and the seconds it took."""
    stdout = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(stdout):
        code = chickensaviour(argv)
    if code != 0:
        raise SystemExit(f"chickensaviour {' '.join(argv)} exited {code}")
    return stdout.getvalue(), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patch-steps", type=int, nargs="*", default=[60, 100, 150])
    parser.add_argument("--ghost-steps", type=int, nargs="*", default=[1, 3, 5])
    parser.add_argument("--max-frames", type=int, help="render at most N frames of the clip")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for steps in args.patch_steps:
            out, seconds = run(["patch", "--target", "hog", "--steps", str(steps), "--out",
                                f"{folder}/patch.png", "--device", args.device])
            p = re.search(r"with p = ([0-9.]+)", out)
            print(f"patch --target hog --steps {steps}: p(hog) = {p.group(1) if p else '?'} "
                  f"({seconds:.1f} s)", flush=True)
        frames = [] if args.max_frames is None else ["--max-frames", str(args.max_frames)]
        for steps in args.ghost_steps:
            out, seconds = run(["render", str(CLIP), "--out", f"{folder}/ghost.gif",
                                "--mode", "ghost", "--protect", "cat", "--ghost-steps",
                                str(steps), "--width", "320", "--device", args.device,
                                *frames])
            decoy = next((line for line in out.splitlines() if line.startswith("decoy")), "?")
            print(f"render --mode ghost --ghost-steps {steps}: {decoy} ({seconds:.1f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
