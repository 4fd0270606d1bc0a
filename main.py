"""Entry point of the main job.

Until the live before/after window exists (the live-overlay issue), the main job is the
image attack on the bundled sample photo: Chelsea the cat becomes a reflex camera for
MobileNetV2 at eps = 8/255, and the results land in ``out/demo``. Any arguments are
passed to the ``chickensaviour`` command line instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

from chickensaviour.cli import main

ROOT = Path(__file__).resolve().parent
DEMO = [
    "attack", str(ROOT / "assets" / "samples" / "chelsea.png"),
    "--target", "reflex camera", "--eps", "8", "--method", "pgd",
    "--out", str(ROOT / "out" / "demo"),
]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or DEMO))
