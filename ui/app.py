"""Entry point of the live window: ``run(argv) -> exit code``.

Exit codes: 0 closed normally, 1 a ``--screenshot`` that was asked for and not saved,
2 bad arguments (one line on stderr via logging), :data:`EXIT_NO_DISPLAY` (3) when there
is no display to open a window on (the message names what is missing, down to the
system libraries of Qt's X11 plugin); callers such as ``main.py`` can then render the
clip to a file instead. Qt is imported only once a
display is known to exist, so importing this module is cheap and safe anywhere.

Example: ``python -m ui --source 0 --protect "hen, cock" --target hog --mode ghost``
"""

from __future__ import annotations

import argparse
import ctypes.util
import importlib.util
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from chickensaviour.assets import sample
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.live import DETECTORS, PipelineSettings, mode_names
from chickensaviour.live.settings import GHOST_STEPS
from chickensaviour.live.stats import RunStats
from chickensaviour.live.threads import LiveThreads
from chickensaviour.models.engines import ENGINES
from ui.constants import EPS_MAX, LIVE_OUT_DIR, QT_XCB_PACKAGES

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1  # e.g. a --screenshot that was asked for and not saved
EXIT_USAGE = 2
EXIT_NO_DISPLAY = 3
LEFTOVER_JOIN_S = 30.0
QT_MESSAGE_CHARS = 300  # how much of Qt's own complaint a one-line report keeps



def display_problem(environ: Mapping[str, str] | None = None,
                    platform: str | None = None) -> str | None:
    """Why Qt could not open a window here, or ``None`` when it can.

    A chosen platform plugin (``QT_QPA_PLATFORM``) is trusted; on Linux and the BSDs an
    X11 or Wayland display must be set, and X11 needs every library of Qt's X11 plugin
    (Qt aborts the whole process without one, and may blame the wrong one): the answer
    names those missing (:func:`missing_qt_libraries`). Windows and macOS always have a
    display.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if environ.get("QT_QPA_PLATFORM") or not (platform.startswith("linux") or "bsd" in platform):
        return None
    if environ.get("WAYLAND_DISPLAY"):
        return None
    if not environ.get("DISPLAY"):
        return "no display available (DISPLAY, WAYLAND_DISPLAY and QT_QPA_PLATFORM are unset)"
    missing = missing_qt_libraries()
    if missing:
        return f"{describe_missing(missing)}; or set QT_QPA_PLATFORM"
    return None


def qt_xcb_plugin() -> Path | None:
    """PyQt6's X11 platform plugin, ``.../PyQt6/Qt6/plugins/platforms/libqxcb.so``, or
    ``None`` when PyQt6 (or the plugin) is not installed. Does not import PyQt6."""
    spec = importlib.util.find_spec("PyQt6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        plugin = Path(folder) / "Qt6" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def run_ldd(path: Path, timeout: float = 10.0) -> str | None:
    """What ``ldd`` says of ``path``, or ``None`` where ldd is missing or fails."""
    import subprocess

    try:
        done = subprocess.run(["ldd", str(path)], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def missing_qt_libraries(plugin: Path | None = None) -> list[str]:
    """The shared libraries (sonames) that Qt's X11 plugin needs and the system lacks.

    Read from ``ldd`` of the plugin (``libX.so.N => not found``), which follows the Qt
    libraries it loads too; without ldd or the plugin, each library of
    :data:`QT_XCB_PACKAGES` is looked up with :func:`ctypes.util.find_library`.
    Example: ``["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]``.
    """
    plugin = plugin if plugin is not None else qt_xcb_plugin()
    report = run_ldd(plugin) if plugin is not None else None
    if report is not None:
        missing = {line.split("=>")[0].strip() for line in report.splitlines()
                   if line.rstrip().endswith("=> not found")}
        return sorted(missing)
    return sorted(soname for soname in QT_XCB_PACKAGES
                  if ctypes.util.find_library(_link_name(soname)) is None)


def _link_name(soname: str) -> str:
    """``"libxcb-icccm.so.4"`` -> ``"xcb-icccm"``, the name find_library takes."""
    return soname.removeprefix("lib").split(".so")[0]


def describe_missing(sonames: Sequence[str]) -> str:
    """One line naming the missing libraries and the Debian packages that hold them."""
    packages = sorted({QT_XCB_PACKAGES[name] for name in sonames if name in QT_XCB_PACKAGES})
    how = (f"as root: apt-get install {' '.join(packages)}, or run scripts/setup.sh"
           if packages else "install the packages that hold them")
    return f"Qt's X11 plugin cannot load: missing {', '.join(sonames)} ({how})"


def qt_complaint(stderr: str) -> str:
    """Qt's own words from a failed start, as one line (its ``qt.*`` log lines, else the
    first lines it wrote), at most :data:`QT_MESSAGE_CHARS` characters."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    chosen = [line for line in lines if line.startswith("qt.")] or lines[:2]
    text = " ".join(chosen)
    return text if len(text) <= QT_MESSAGE_CHARS else text[:QT_MESSAGE_CHARS - 1] + "…"


def display_available(environ: Mapping[str, str] | None = None,
                      platform: str | None = None) -> bool:
    """Whether Qt can open a window (see :func:`display_problem`)."""
    return display_problem(environ, platform) is None


def sample_source() -> str:
    """The bundled sample clip (Chelsea the cat)."""
    return str(sample("chelsea_clip.mp4"))


def default_source() -> str:
    """Camera 0 when one opens, else the bundled sample."""
    from chickensaviour.video.sources import CameraSource, SourceError

    try:
        CameraSource(0).close()
    except (SourceError, Exception):  # no camera, no permission, no V4L2: use the sample
        logger.info("no camera found: showing the bundled sample")
        return sample_source()
    return "0"


def display_reachable(timeout: float = 20.0) -> str | None:
    """Open and close a Qt application in a child process; why it failed, or ``None``.

    A set but stale ``DISPLAY`` (an ssh session, a closed Xvfb) passes
    :func:`display_problem` yet makes Qt abort the whole process, so it is tried first
    where it cannot hurt.
    """
    import subprocess

    if os.environ.get("QT_QPA_PLATFORM") or not sys.platform.startswith("linux"):
        return None
    probe = "from PyQt6.QtWidgets import QApplication; QApplication([])"
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not test the display: {exc}"
    if done.returncode == 0:
        return None
    said = (qt_complaint(done.stderr.decode(errors="replace")).rstrip(".")
            or f"exit code {done.returncode}")
    problem = f"Qt cannot open a window on DISPLAY={os.environ.get('DISPLAY', '')}: {said}"
    missing = missing_qt_libraries()
    return f"{problem}; {describe_missing(missing)}" if missing else problem


def build_parser() -> argparse.ArgumentParser:
    from chickensaviour.models import DEFAULT_MODEL

    parser = argparse.ArgumentParser(
        prog="chickensaviour-live",
        description="Live before|after window: the hunter's view with and without "
                    "adversarial blocks or ghosts on the protected classes.")
    parser.add_argument("--source", default=None,
                        help="camera index (0), video or image file, 'screen' or "
                             "'screen:X,Y,W,H' (default: the bundled clip)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the hunter (default: %(default)s)")
    parser.add_argument("--protect", default=None,
                        help="comma-separated classes to protect (default: hen, cock; for "
                        "a model with its own labels, its first class)")
    parser.add_argument("--target", default=None,
                        help="decoy class (default: hog; for a model with its own labels, "
                        "its first class not protected)")
    parser.add_argument("--mode", choices=mode_names(), default="block",
                        help="overlay mode (default: %(default)s)")
    parser.add_argument("--detector", choices=DETECTORS, default=None,
                        help="what finds the protected regions: nanodet (COCO detector, "
                        "for ImageNet models) or cam (the hunter's activation maps) "
                        "(default: nanodet; cam for a model with its own labels)")
    parser.add_argument("--eps", type=float, default=8.0,
                        help=f"ghost budget in 1/255 units, 0..{EPS_MAX} "
                        "(default: %(default)s)")
    parser.add_argument("--ghost-steps", type=int, default=GHOST_STEPS,
                        help="ghost mode: iterative FGSM steps per frame, 1..20, each "
                        "tracked region going on from its last frame's perturbation (a "
                        "new one starts with the seed's FGSM; default: %(default)s)")
    parser.add_argument("--out", default=LIVE_OUT_DIR,
                        help="folder for snapshots and recordings (default: %(default)s)")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: best)")
    parser.add_argument("--no-auto-refine", action="store_true",
                        help="do not refine the block automatically in block mode")
    parser.add_argument("--quit-after", type=float, default=None, metavar="SECONDS",
                        help="close the window after this many seconds (demos, checks)")
    parser.add_argument("--screenshot", default=None, metavar="PNG",
                        help="with --quit-after: save a picture of the window before closing")
    parser.add_argument("--as-camera", action="store_true",
                        help="play a video file as a live camera: in real time, newest "
                        "frame only (late frames are dropped), looped")
    parser.add_argument("--stats", default=None, metavar="JSON",
                        help="on quit, write the run's rates (fps, latency, stage times, "
                        "engines, dropped frames) to this JSON file")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="what runs the forward-only stages (detector, before/after "
                        "classification): auto = ONNX Runtime where the model exports, else "
                        "PyTorch (shown as 'pytorch'); gradient stages are always PyTorch "
                        "(default: %(default)s)")
    parser.add_argument("--engine-threads", type=int, default=1, metavar="N",
                        help="intra-op threads of each ONNX Runtime session (default: "
                        "%(default)s; measured best on 2 cores with the GUI running)")
    parser.add_argument("--no-overlap", action="store_true",
                        help="run the pipeline's stages one after the other on one thread "
                        "(default: judge frame n while frame n+1 is prepared)")
    return parser


def settings_from_args(args: argparse.Namespace) -> PipelineSettings:
    """The first settings snapshot for the hunter ``args.model``; raises
    ChickenSaviourError on a bad class, eps or detector.

    For a model with its own labels (a model card) the defaults are its first class
    protected, the next one as decoy and the cam detector: the COCO detector's classes
    map to ImageNet's only.
    """
    from chickensaviour.models.registry import model_labels
    from ui.class_lookup import parse_class_list

    classes = model_labels(args.model)
    if not 0 <= args.eps <= EPS_MAX:  # the slider's range, so both always agree
        raise ChickenSaviourError(f"--eps must be in 0..{EPS_MAX} (1/255 units), got {args.eps}")
    own = not classes.is_imagenet
    protected = (parse_class_list(args.protect, classes) if args.protect
                 else (0,) if own else parse_class_list("hen, cock", classes))
    if args.target:
        target = classes.resolve(args.target)
    elif own:
        target = next((i for i in range(len(classes)) if i not in protected), 0)
    else:
        target = classes.resolve("hog")
    # Hide mode fools NanoDet: with its own labels that is refused below, with the reason.
    detector = args.detector or ("cam" if own and args.mode != "hide" else "nanodet")
    settings = PipelineSettings(protected=protected, target=target, mode=args.mode,
                                eps=args.eps / 255, detector=detector,
                                ghost_steps=args.ghost_steps)
    settings.check_detector(classes)
    return settings


def _configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def run(argv: Sequence[str] | None = None) -> int:
    """Open the live window; returns 0, 2 (bad arguments) or :data:`EXIT_NO_DISPLAY`."""
    _configure_logging()
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse has already said what was wrong
        return EXIT_OK if exc.code in (0, None) else EXIT_USAGE
    if args.screenshot and args.quit_after is None:
        logger.error("--screenshot needs --quit-after")
        return EXIT_USAGE
    if args.quit_after is not None and not 0 < args.quit_after < 1e6:
        logger.error("--quit-after must be a number of seconds between 0 and 1e6")
        return EXIT_USAGE
    if not 1 <= args.engine_threads <= 64:
        logger.error("--engine-threads must be 1..64, got %d", args.engine_threads)
        return EXIT_USAGE
    if args.stats and (Path(args.stats).is_dir()
                       or not Path(args.stats).resolve().parent.is_dir()):
        logger.error("--stats %s: give a file in a folder that exists", args.stats)
        return EXIT_USAGE
    if args.engine == "torch" and args.engine_threads != 1:
        logger.warning("--engine-threads is for ONNX Runtime; --engine torch ignores it")
    if args.engine == "onnxruntime":
        from chickensaviour.models.engines import onnxruntime_problem

        if problem := onnxruntime_problem():
            logger.error("--engine onnxruntime: %s", problem)
            return EXIT_USAGE
    try:
        settings = settings_from_args(args)
    except ChickenSaviourError as exc:
        logger.error("%s", exc)
        return EXIT_USAGE
    problem = display_problem() or display_reachable()
    if problem is not None:
        logger.error("%s: the live window cannot open", problem)
        return EXIT_NO_DISPLAY
    source = args.source or default_source()
    from chickensaviour.video.sources import source_kind

    if args.as_camera and source_kind(source) != "video":
        logger.warning("--as-camera changes only video files; %s is already live", source)
    try:
        _check_source(source)
        from chickensaviour.models import load_model

        logger.info("loading %s…", args.model)
        model = load_model(args.model, device=args.device)
    except ChickenSaviourError as exc:
        logger.error("%s", exc)
        return EXIT_USAGE
    return _run_window(args, model, source, settings)


def _save_screenshot(window: object, path: Path) -> None:
    """The window as PNG, written all-or-nothing like every other output."""
    from PyQt6.QtCore import QBuffer, QIODevice

    from chickensaviour.files import atomic_write_bytes

    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not window.grab().save(buffer, "PNG"):  # type: ignore[attr-defined]
        raise ChickenSaviourError("Qt could not encode the window as PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, bytes(buffer.data()))


def _write_stats(path: Path, stats: RunStats, mode: str) -> bool:
    """The run's rates as JSON, written all-or-nothing (``--stats``); False (said) when
    it could not be written."""
    import json

    from chickensaviour.files import atomic_write_bytes

    summary = stats.summary()
    summary["mode"] = mode  # the mode at the end (the panel may have changed it)
    try:
        atomic_write_bytes(path, (json.dumps(summary, indent=2) + "\n").encode())
    except (OSError, ChickenSaviourError) as exc:
        logger.error("could not write %s: %s", path, exc)
        return False
    logger.info("wrote the run's rates to %s", path)
    return True


def _check_source(spec: str) -> None:
    from chickensaviour.video.sources import open_source

    open_source(spec).close()  # SourceError is a ChickenSaviourError


def _run_window(args: argparse.Namespace, model: object, source: str,
                settings: PipelineSettings) -> int:
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "chickensaviour"])
    stats = RunStats(settings.mode) if args.stats else None
    threads = LiveThreads(engine=args.engine_threads)
    window = MainWindow(model, source=source, settings=settings, model_reference=args.model,  # type: ignore[arg-type]
                        out_dir=args.out, auto_refine=not args.no_auto_refine,
                        engine=args.engine, as_camera=args.as_camera,
                        overlap=not args.no_overlap, stats=stats,
                        threads=threads)
    window.show()
    saved: list[Path] = []
    if args.quit_after is not None:
        def finish() -> None:
            if args.screenshot:
                path = Path(args.screenshot)
                try:
                    _save_screenshot(window, path)
                except (OSError, ChickenSaviourError) as exc:
                    logger.error("could not save %s: %s", path, exc)
                else:
                    logger.info("saved a picture of the window to %s", path)
                    saved.append(path)
            window.close()

        QTimer.singleShot(round(args.quit_after * 1000), finish)
    app.exec()
    for thread in window.shutdown():
        # The window is gone; a thread still inside torch at interpreter exit would abort
        # the process, so let it end (a model load takes a few seconds at most).
        thread.join(LEFTOVER_JOIN_S)
    if stats is not None and not _write_stats(Path(args.stats), stats, window.settings.mode):
        return EXIT_FAILED
    if args.screenshot and not saved:
        logger.error("no screenshot was taken (%s)", args.screenshot)
        return EXIT_FAILED
    return EXIT_OK
