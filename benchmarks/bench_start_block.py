"""How good is the block the live app starts with, before any refinement?

Block mode pastes ``live.modes.block.quick_block`` (PGD from mid-grey) until the
in-context refinement finishes. For each offline hunter this prints the probability it
gives the decoy on the block alone, the block's mean brightness and the seconds it took,
beside the same number of 4/255 steps from black (the seed's start).

    .venv/bin/python benchmarks/bench_start_block.py [--models mobilenet_v2 efficientnet_lite0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chickensaviour.attacks.patch import make_patch  # noqa: E402
from chickensaviour.labels import imagenet_classes  # noqa: E402
from chickensaviour.live.modes.base import LiveTools  # noqa: E402
from chickensaviour.live.modes.block import QUICK_BLOCK_STEPS, quick_block  # noqa: E402
from chickensaviour.live.patches import PatchStore  # noqa: E402
from chickensaviour.models import load_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mobilenet_v2", "efficientnet_lite0"])
    parser.add_argument("--target", default="hog")
    args = parser.parse_args()
    target = imagenet_classes().resolve(args.target)
    print(f"{'model':<20}{'start':<28}{'p(' + args.target + ')':>9}{'mean':>7}{'s':>7}")
    for name in args.models:
        model = load_model(name)
        judge = model.with_fit("stretch")
        starts = {
            "quick block (grey, 8/255)": lambda m=model: quick_block(
                LiveTools(m, PatchStore(False)), target, 64),
            "seed start (black, 4/255)": lambda m=model: make_patch(
                m, target, 64, start="black", method="pgd", steps=QUICK_BLOCK_STEPS).patch,
        }
        for label, make in starts.items():
            started = time.perf_counter()
            block = make()
            seconds = time.perf_counter() - started
            p = float(judge.probabilities(block)[0, target])
            print(f"{name:<20}{label:<28}{p:9.3f}{float(block.mean()):7.2f}{seconds:7.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
