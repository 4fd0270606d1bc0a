"""The main job: the live before/after window.

``python main.py`` opens the window on camera 0 (protecting hen and cock) or, when there
is no camera, on the bundled sample clip (a cat, so the cats are protected there).
Options are those of ``python -m ui`` (``--source``, ``--model``, ``--protect``,
``--target``, ``--mode``, ``--eps``, ...). With no display it says so and renders the
clip (the bundled one, or the video file given with ``--source``) to a before | after
GIF instead, through the same pipeline and with the same options: into ``out/demo/``,
or into the folder given with ``--out``; with ``--quit-after SECONDS`` only that many
seconds of the clip. A ``--screenshot`` cannot be taken without a display: it says so,
renders the clip all the same and exits with :data:`ui.app.EXIT_NO_DISPLAY`.
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

from chickensaviour.video.sources import IMAGE_SUFFIXES, SourceError, VideoFileSource
from ui.app import EXIT_NO_DISPLAY, EXIT_USAGE, build_parser, default_source, run, sample_source
from ui.constants import GIF_WIDTH

ROOT = Path(__file__).resolve().parent
SAMPLE_PROTECT = "cat"  # the bundled clip shows Chelsea the cat
FALLBACK_DIR = ROOT / "out" / "demo"
LIVE_SOURCES = ("screen",)
REFINE_FRAMES = 30  # `render`'s default --refine-frames; fewer when fewer are rendered

logger = logging.getLogger("main")


def _given(argv: list[str], option: str) -> bool:
    return any(a == option or a.startswith(f"{option}=") for a in argv)


def live_arguments(argv: list[str], source: str | None = None) -> list[str]:
    """Pick the source when none is given; on the bundled sample, protect the cats."""
    if _given(argv, "--source"):
        return argv
    source = source if source is not None else default_source()
    chosen = [*argv, "--source", source]
    if source == sample_source() and not _given(argv, "--protect") and _imagenet_hunter(argv):
        chosen += ["--protect", SAMPLE_PROTECT]
    return chosen


def _imagenet_hunter(argv: list[str]) -> bool:
    """Whether the ``--model`` of ``argv`` has ImageNet's labels (a card may have its own;
    "cat" means nothing to it). An unreadable card counts as ImageNet: the app says
    what is wrong with it."""
    from chickensaviour.errors import ChickenSaviourError
    from chickensaviour.models.registry import model_labels

    model = build_parser().parse_known_args(argv)[0].model
    try:
        return model_labels(model).is_imagenet
    except ChickenSaviourError:
        return True


def frames_in(seconds: float, fps: float) -> int:
    """How many frames ``seconds`` of a clip at ``fps`` hold (at least one)."""
    return max(1, math.ceil(seconds * fps - 1e-6))  # 0.2 s at 15 fps is 3, not 4 (float error)


def render_fallback(argv: list[str]) -> int:
    """Render a clip with the user's options, since no window can open.

    Returns ``render``'s exit code, or :data:`EXIT_NO_DISPLAY` when a ``--screenshot``
    was asked for (it needs a window) and the render itself went well.
    """
    from chickensaviour.cli import main as cli
    from chickensaviour.models.registry import model_labels

    args = build_parser().parse_args(argv)
    source = args.source or sample_source()
    if source.isdigit() or source.startswith(LIVE_SOURCES):
        logger.error("no display, and %r is a live source: nothing to render", source)
        return EXIT_NO_DISPLAY
    if Path(source).suffix.lower() in IMAGE_SUFFIXES:
        logger.warning("%s is a still image: rendering the bundled clip instead", source)
        source = sample_source()
    if args.screenshot:
        logger.error("--screenshot %s cannot be taken without a display (set "
                     "QT_QPA_PLATFORM=offscreen to draw the window off screen); rendering "
                     "the clip instead", args.screenshot)
    protect = args.protect
    if protect is None and source == sample_source() and model_labels(args.model).is_imagenet:
        protect = SAMPLE_PROTECT
    folder = Path(args.out) if _given(argv, "--out") else FALLBACK_DIR
    out = folder / f"{Path(source).stem}_before_after.gif"
    # Ghost mode with eps 0 changes nothing: render takes that as mode off (its --eps
    # must be positive).
    mode = "off" if args.mode == "ghost" and args.eps == 0 else args.mode
    command = ["render", source, "--out", str(out), "--mode", mode,
               "--ghost-steps", str(args.ghost_steps),
               "--model", args.model, "--width", str(GIF_WIDTH)]
    for option, value in (("--protect", protect), ("--target", args.target),
                          ("--detector", args.detector)):
        if value is not None:  # else render's own default
            command += [option, value]
    if args.eps > 0:
        command += ["--eps", str(args.eps)]
    if args.device:
        command += ["--device", args.device]
    if args.quit_after is not None:
        frames = _frames_for(source, args.quit_after)
        if frames is None:
            return EXIT_USAGE
        command += ["--max-frames", str(frames), "--refine-frames",
                    str(min(frames, REFINE_FRAMES))]
        logger.warning("rendering the first %d frames of %s to %s instead of opening the "
                       "window (--quit-after %g)", frames, source, out, args.quit_after)
    else:
        logger.warning("rendering %s to %s instead of opening the window", source, out)
    code = cli(command)
    return EXIT_NO_DISPLAY if code == 0 and args.screenshot else code


def _frames_for(source: str, seconds: float) -> int | None:
    """The frames in ``seconds`` of ``source``, or ``None`` (said) if it cannot be read."""
    try:
        clip = VideoFileSource(source)
    except SourceError as exc:
        logger.error("%s", exc)
        return None
    clip.close()
    return frames_in(seconds, clip.fps)


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
