"""The main job: the live before/after window.

``python main.py`` opens the window on camera 0 (protecting hen and cock) or, when there
is no camera, on the bundled sample clip (a cat, so the cats are protected there).
Options are those of ``python -m ui`` (``--source``, ``--model``, ``--protect``,
``--target``, ``--mode``, ``--eps``, ...). With no display it says so and renders the
clip (the bundled one, or the video file given with ``--source``) to a before | after
GIF in ``out/demo/`` instead, through the same pipeline and with the same options.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ui.app import EXIT_NO_DISPLAY, build_parser, default_source, run, sample_source

ROOT = Path(__file__).resolve().parent
SAMPLE_PROTECT = "cat"  # the bundled clip shows Chelsea the cat
FALLBACK_DIR = ROOT / "out" / "demo"
LIVE_SOURCES = ("screen",)

logger = logging.getLogger("main")


def _given(argv: list[str], option: str) -> bool:
    return any(a == option or a.startswith(f"{option}=") for a in argv)


def live_arguments(argv: list[str], source: str | None = None) -> list[str]:
    """Pick the source when none is given; on the bundled sample, protect the cats."""
    if _given(argv, "--source"):
        return argv
    source = source if source is not None else default_source()
    chosen = [*argv, "--source", source]
    if source == sample_source() and not _given(argv, "--protect"):
        chosen += ["--protect", SAMPLE_PROTECT]
    return chosen


def render_fallback(argv: list[str]) -> int:
    """Render a clip with the user's options, since no window can open."""
    from chickensaviour.cli import main as cli

    args = build_parser().parse_args(argv)
    source = args.source or sample_source()
    if source.isdigit() or source.startswith(LIVE_SOURCES):
        logger.error("no display, and %r is a live source: nothing to render", source)
        return EXIT_NO_DISPLAY
    if Path(source).suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp"):
        source = sample_source()
    protect = args.protect if _given(argv, "--protect") or source != sample_source() \
        else SAMPLE_PROTECT
    out = FALLBACK_DIR / f"{Path(source).stem}_before_after.gif"
    logger.warning("rendering %s to %s instead of opening the window", source, out)
    return cli(["render", source, "--out", str(out), "--protect", protect,
                "--target", args.target, "--mode", args.mode, "--eps", str(args.eps),
                "--model", args.model, "--width", "800"])


def main(argv: list[str]) -> int:
    code = run(live_arguments(argv, source=None if _given(argv, "--source") else
                              _quick_source(argv)))
    if code == EXIT_NO_DISPLAY:
        return render_fallback(argv)
    return code


def _quick_source(argv: list[str]) -> str:
    # Without a display the window will not open: do not probe the camera for nothing.
    from ui.app import display_problem

    return sample_source() if display_problem() is not None else default_source()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
