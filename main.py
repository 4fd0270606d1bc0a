"""The main job: the live before/after window.

``python main.py`` opens the window on the bundled sample clip (a cat, so the protected
classes default to the cats there; on a camera they default to hen and cock). Options are
those of ``python -m ui`` (``--source 0``, ``--model``, ``--protect``, ``--target``,
``--mode``, ...). With no display it says so and renders the bundled clip to a
before | after GIF in ``out/demo/`` instead, through the same pipeline.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ui.app import EXIT_NO_DISPLAY, SAMPLE_CLIP, run

ROOT = Path(__file__).resolve().parent
SAMPLE_PROTECT = "cat"  # the bundled clip shows Chelsea the cat
FALLBACK_GIF = ROOT / "out" / "demo" / "chelsea_clip_before_after.gif"

logger = logging.getLogger("main")


def live_arguments(argv: list[str]) -> list[str]:
    """Protect the cats when the window opens on the bundled clip without --protect."""
    on_sample = "--source" not in argv and not any(a.startswith("--source=") for a in argv)
    if on_sample and not any(a == "--protect" or a.startswith("--protect=") for a in argv):
        return [*argv, "--protect", SAMPLE_PROTECT]
    return argv


def render_fallback() -> int:
    from chickensaviour.cli import main as cli

    logger.warning("rendering the bundled clip to %s instead of opening the window",
                   FALLBACK_GIF)
    return cli(["render", str(SAMPLE_CLIP), "--out", str(FALLBACK_GIF),
                "--protect", SAMPLE_PROTECT, "--mode", "block", "--width", "800"])


def main(argv: list[str]) -> int:
    code = run(live_arguments(argv))
    if code == EXIT_NO_DISPLAY:
        return render_fallback()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
