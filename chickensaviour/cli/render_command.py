"""``chickensaviour render``: a video file through the live pipeline, saved side by side.

Every frame of the file goes through the same :class:`FramePipeline` the live app uses;
the before | after panels (boxes, labels, probabilities) are written to a GIF or MP4
through :class:`VideoWriter`, which renames its temporary file into place only once the
whole clip is written. In block mode the block is first refined on the protected regions
of the clip's opening frames, so the rendered block is the in-context one.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from chickensaviour import files
from chickensaviour.cli import options
from chickensaviour.cli.render_report import RenderStats, print_summary
from chickensaviour.coco import COCO_CLASSES, coco_for_imagenet
from chickensaviour.errors import ChickenSaviourError, one_line
from chickensaviour.imaging import bgr_to_tensor, read_image
from chickensaviour.labels import LabelSet, parse_class_list
from chickensaviour.live import (
    FramePipeline,
    PipelineSettings,
)
from chickensaviour.live.draw import side_by_side
from chickensaviour.live.overlap import process_overlapped
from chickensaviour.models import load_model
from chickensaviour.models.registry import model_labels
from chickensaviour.video.sources import IMAGE_SUFFIXES, SourceError, VideoFileSource
from chickensaviour.video.writers import VIDEO_SUFFIXES, VideoWriter

logger = logging.getLogger(__name__)

#: Failures of torch, OpenCV or the file system, reported as one line instead of a traceback.
BACKEND_ERRORS = (OSError, RuntimeError, MemoryError, cv2.error)

#: A clip that ends before this fraction of its announced frame count is called truncated.
TRUNCATED_FRACTION = 0.9

#: Frames sampled for the detector when a render tracked nothing (what did it see?).
SAMPLED_FRAMES = 8


#: The ImageNet defaults of ``--protect`` and ``--target``; other label sets need both.
IMAGENET_PROTECT = "hen,cock"
IMAGENET_DECOY = "hog"


def parse_protected(text: str, classes: LabelSet | None = None) -> tuple[int, ...]:
    """``"hen,cock"``, ``"chicken"`` or ``"cat"`` -> class indices of ``classes``
    (ImageNet's by default), no duplicates."""
    if not any(item.strip() for item in text.split(",")):
        raise ChickenSaviourError("--protect needs at least one class name")
    return parse_class_list(text, classes)


def classes_to_use(protect: str | None, target: str | None, classes: LabelSet,
                   model: str) -> tuple[tuple[int, ...], int]:
    """The protected classes and the decoy; the hen/cock/hog defaults hold for ImageNet
    models only, a model with its own classes must name them."""
    if not classes.is_imagenet and (protect is None or target is None):
        shown = ", ".join(classes.names[:4]) + (", ..." if len(classes) > 4 else "")
        missing = [option for option, value in (("--protect", protect), ("--target", target))
                   if value is None]
        raise ChickenSaviourError(
            f"{' and '.join(missing)} {'are' if len(missing) > 1 else 'is'} needed: {model} "
            f"has its own classes ({shown}), the defaults "
            f"({IMAGENET_PROTECT}, {IMAGENET_DECOY}) are ImageNet's; e.g. --protect "
            f"{classes.names[0]} --target {classes.names[min(1, len(classes) - 1)]}")
    protected = parse_protected(protect or IMAGENET_PROTECT, classes)
    decoy = classes.resolve(target or IMAGENET_DECOY)
    if decoy in protected:
        raise ChickenSaviourError("the target class must not be one of the protected classes")
    return protected, decoy


def parse_fps(text: str | None) -> float | None:
    if text is None:
        return None
    value = options.finite_float(text, "fps")
    if not 0.5 <= value <= 120:
        raise ChickenSaviourError(f"fps must be in 0.5..120, got {text}")
    return value


#: Leading bytes of still-image formats FFmpeg would happily decode as a one-frame video.
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*")


def open_video(path: Path) -> VideoFileSource:
    """A video file source, refusing still images (they would render as one frame)."""
    if path.is_dir():
        raise SourceError(f"{path} is a directory, not a video file")
    if path.suffix.lower() in IMAGE_SUFFIXES or _looks_like_image(path):
        raise SourceError(f"{path} is an image, not a video (use 'attack' for images)")
    # FFmpeg logs its own complaint about a broken file ("moov atom not found") on
    # stderr; the SourceError below says it in one line, so keep FFmpeg quiet unless
    # the user asked for its log. Read when OpenCV first opens a file with FFmpeg.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    return VideoFileSource(path)


def _looks_like_image(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return False  # VideoFileSource gives the precise message
    webp = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    return webp or any(head.startswith(signature) for signature in IMAGE_SIGNATURES)


def frames_of(source: VideoFileSource, buffered: list[np.ndarray],
              limit: int | None) -> Iterator[np.ndarray]:
    """``buffered`` frames first, then the rest of ``source``; at most ``limit`` in all.

    Raises :class:`SourceError` when the file ends well before its announced length
    (a truncated download, for instance), unless ``limit`` stopped the reading first.
    """
    count = 0
    while limit is None or count < limit:
        if buffered:
            frame: np.ndarray | None = buffered.pop(0)
        else:
            frame = source.read()
        if frame is None:
            expected = source.frame_count
            if expected > 0 and count < TRUNCATED_FRACTION * expected - 1:
                raise SourceError(f"{source.name} ended after {count} of {expected} frames "
                                  "(truncated or corrupt video)")
            return
        count += 1
        yield frame


def run_render(args: argparse.Namespace) -> int:
    # Check every argument before loading the model or touching the output.
    video, out = Path(args.video), Path(args.out)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise ChickenSaviourError(f"--out must end in .gif or .mp4, got {out.name!r}")
    eps = options.eps_levels(args.eps)
    width = options.positive_int(args.width, "width", 64, 3840) // 2 * 2  # even, for MP4
    fps = parse_fps(args.fps)
    max_frames = (None if args.max_frames is None
                  else options.positive_int(args.max_frames, "max-frames", 1, 1_000_000))
    refine_frames = options.positive_int(args.refine_frames, "refine-frames", 1, 10_000)
    classes = model_labels(args.model)
    protected, target = classes_to_use(args.protect, args.target, classes, args.model)
    if args.mode == "hide" and not classes.is_imagenet:
        raise ChickenSaviourError(
            f"hide mode hides COCO objects from the NanoDet detector, whose classes map to "
            f"ImageNet's only; {args.model} has its own classes: use --mode block or ghost "
            "with --detector cam")
    hide_fraction = options.finite_float(args.hide_fraction, "hide-fraction")
    settings = PipelineSettings(protected=protected, target=target, mode=args.mode,
                                eps=eps / 255.0, detector=args.detector,
                                ghost_steps=args.ghost_steps, baseline=args.baseline,
                                hide_fraction=hide_fraction)
    if settings.baseline != "none" and settings.mode != "hide":
        raise ChickenSaviourError("--baseline is for --mode hide")
    settings.check_detector(classes)
    hide_patch = _read_hide_patch(args.hide_patch, settings)
    files.check_creatable_file(out)
    if video.exists() and out.exists() and out.resolve() == video.resolve():
        raise ChickenSaviourError("--out must not be the input video")

    source = open_video(video)
    try:
        model = load_model(args.model, device=args.device)
        pipeline = FramePipeline(model)
        buffered: list[np.ndarray] = []
        if hide_patch is not None:
            pipeline.use_patch(settings, hide_patch)
        elif settings.mode == "hide" and not args.refine:
            print("warning: --no-refine without --hide-patch: the hide patch stays an "
                  "untrained grey square", file=sys.stderr)
        if hide_patch is None and args.refine and settings.mode in ("block", "hide"):
            try:
                buffered = _refine(pipeline, source, settings, refine_frames)
            except BACKEND_ERRORS as exc:
                raise ChickenSaviourError(f"block refinement failed: {one_line(exc)}") from exc
        stats, writer = _render(pipeline, source, buffered, settings, out, width,
                                fps or source.fps, max_frames)
    finally:
        source.close()
    if stats.regions == 0:  # a clip of nothing protected proves nothing: say what is there
        writer.abort()
        raise ChickenSaviourError(_nothing_tracked(video, settings, stats, max_frames,
                                                   args.device, classes))
    writer.publish()
    print_summary(stats, settings, out, classes)
    return 0


def coco_seen(video: Path, max_frames: int | None, device: str | None,
              samples: int = SAMPLED_FRAMES) -> tuple[Counter[int], int]:
    """NanoDet on ``samples`` frames spread over the (first ``max_frames``) frames of
    ``video``, all 80 COCO classes: frames each class was seen in, and frames sampled."""
    from chickensaviour.models.nanodet.detector import NanoDetDetector

    detector = NanoDetDetector(None, device=None if device in (None, "auto") else device)
    source = open_video(video)
    try:
        total = source.frame_count if source.frame_count > 0 else samples
        if max_frames is not None:
            total = min(total, max_frames)
        picks = {round(i * (total - 1) / max(1, samples - 1)) for i in range(samples)}
        seen: Counter[int] = Counter()
        sampled = 0
        for index in range(total):
            frame = source.read()
            if frame is None:
                break
            if index in picks:
                found = detector.detect(bgr_to_tensor(frame, device=detector.device))
                seen.update(set(found.class_id.tolist()))
                sampled += 1
    finally:
        source.close()
    return seen, sampled


def _nothing_tracked(video: Path, settings: PipelineSettings, stats: RenderStats,
                     max_frames: int | None, device: str | None, classes: LabelSet) -> str:
    names = ", ".join(classes.name(i) for i in settings.protected)
    message = f"tracked no protected region ({names}) in {stats.frames} frames"
    if not classes.is_imagenet:  # NanoDet's COCO classes say nothing about its classes
        return (f"{message}: the hunter's activation maps never found them (is the "
                "object as large in the frame as in its training pictures?)")
    try:
        seen, sampled = coco_seen(video, max_frames, device)
    except (ChickenSaviourError, *BACKEND_ERRORS) as exc:  # the advice is a bonus
        logger.info("could not sample %s: %s", video, one_line(exc))
        return message
    if not seen:
        return f"{message}; NanoDet saw no COCO object in {sampled} sampled frames either"
    ranked = seen.most_common(5)
    saw = ", ".join(f"{COCO_CLASSES[c]} in {n}" + (f" of {sampled} sampled frames" if i == 0
                                                   else "")
                    for i, (c, n) in enumerate(ranked))
    hints = [COCO_CLASSES[c] for c, _ in ranked if _protectable(c)]
    advice = f": try --protect {hints[0]}" if hints else \
        " (no ImageNet class stands for these: try --detector cam)"
    return f"{message}; NanoDet saw {saw}{advice}"


def _protectable(coco: int) -> bool:
    """Whether ``--protect NAME`` (the COCO name) makes the detector look for ``coco``."""
    try:
        return coco in coco_for_imagenet(parse_class_list(COCO_CLASSES[coco]))
    except ChickenSaviourError:
        return False


def _read_hide_patch(path: str | None, settings: PipelineSettings) -> torch.Tensor | None:
    if path is None:
        return None
    if settings.mode != "hide":
        raise ChickenSaviourError("--hide-patch is for --mode hide")
    patch = read_image(Path(path))
    if patch.shape[-1] != patch.shape[-2]:
        raise ChickenSaviourError(f"a hide patch must be square, {path} is "
                                  f"{patch.shape[-1]}x{patch.shape[-2]}")
    return torch.nn.functional.interpolate(
        patch, size=(settings.block_size, settings.block_size), mode="bilinear",
        align_corners=False, antialias=True)


def _refine(pipeline: FramePipeline, source: VideoFileSource, settings: PipelineSettings,
            count: int) -> list[np.ndarray]:
    """Collect regions from the first ``count`` frames and refine the block on them.

    Returns the frames read, so rendering starts from the first frame again.
    """
    started = time.perf_counter()
    frames: list[np.ndarray] = []
    looking = settings.with_changes(mode="off")  # only the localiser's boxes are needed
    for _ in range(count):
        frame = source.read()
        if frame is None:
            break
        frames.append(frame)
        pipeline.process(frame, looking)
    contexts = len(pipeline.recent_regions)
    what = "hide patch" if settings.mode == "hide" else "block"
    if contexts == 0:
        print(f"no protected region in the first {len(frames)} frames: {what} not refined",
              file=sys.stderr)
    else:
        pipeline.refine(settings)
        seconds = time.perf_counter() - started
        logger.info("refined the %s on %d regions in %.1f s", what, contexts, seconds)
        print(f"refined the {what} on {contexts} regions from the first {len(frames)} "
              f"frames ({seconds:.1f} s)", file=sys.stderr)
    pipeline.reset()  # forget the warm-up's tracks; the refined block stays cached
    return frames


def _render(pipeline: FramePipeline, source: VideoFileSource, buffered: list[np.ndarray],
            settings: PipelineSettings, out: Path, width: int, fps: float,
            max_frames: int | None) -> tuple[RenderStats, VideoWriter]:
    """Render every frame into a finalized (checked, not yet published) writer."""
    stats = RenderStats()
    total = source.frame_count if source.frame_count > 0 else None
    if max_frames is not None:
        total = max_frames if total is None else min(total, max_frames)
    # Drawing and encoding stay on this thread (a writer thread was measured to gain
    # nothing on 2 cores); the detector and the hunter run on threads of their own.
    writer = VideoWriter(out, fps)
    progress = tqdm(total=total, unit="frame", desc=f"render {out.name}", file=sys.stderr,
                    dynamic_ncols=True)
    started = time.perf_counter()
    try:
        # Detector one frame ahead, hunter one frame behind (same results as process()).
        for result in process_overlapped(pipeline, frames_of(source, buffered, max_frames),
                                         settings):
            writer.write(side_by_side(result, width))
            stats.add(result)
            progress.update()
        progress.close()
        writer.finalize()
        stats.seconds = time.perf_counter() - started
    except BACKEND_ERRORS as exc:
        progress.close()
        writer.abort()
        raise ChickenSaviourError(
            f"render failed after {stats.frames} frames: {one_line(exc)}") from exc
    except BaseException:  # bad input found mid-clip, Ctrl-C: nothing is left behind
        progress.close()
        writer.abort()
        raise
    return stats, writer
