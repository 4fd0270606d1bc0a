"""Drawing results onto frames (OpenCV): boxes, ids, labels, side-by-side panels."""

from __future__ import annotations

import cv2
import numpy as np

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.live.modes.hide import detector_verdicts
from chickensaviour.live.results import FrameResult, TrackResult
from chickensaviour.models.detections import Detections
from chickensaviour.models.wrapper import Prediction

FONT = cv2.FONT_HERSHEY_SIMPLEX
GREEN = (80, 200, 80)
RED = (60, 60, 230)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


def text_scale(image: np.ndarray) -> float:
    """Font scale that keeps labels readable from 320 px to 4K frames."""
    return float(np.clip(image.shape[0] / 900.0, 0.45, 2.0))


def draw_label(image: np.ndarray, text: str, origin: tuple[int, int], colour: tuple[int, int, int],
               scale: float = 0.5) -> None:
    """White text on a filled ``colour`` tag whose bottom-left corner is ``origin``."""
    thickness = max(1, round(scale * 2))
    (w, h), base = cv2.getTextSize(text, FONT, scale, thickness)
    x, y = origin
    y = max(y, h + base + 4)
    cv2.rectangle(image, (x, y - h - base - 4), (x + w + 6, y), colour, -1)
    cv2.putText(image, text, (x + 3, y - base - 2), FONT, scale, WHITE, thickness, cv2.LINE_AA)


def draw_tracks(frame: np.ndarray, tracks: tuple[TrackResult, ...], *, after: bool,
                protected: tuple[int, ...]) -> np.ndarray:
    """A copy of ``frame`` with each track's box, id and top-1 label/probability.

    Boxes are green while the hunter still sees a protected class there, red once it
    does not (the region is "saved").
    """
    out = frame.copy()
    scale = text_scale(out)
    line = max(2, round(scale * 3))
    for track in tracks:
        prediction = track.after if after else track.before
        index, name, probability = prediction.top1
        colour = GREEN if index in protected else RED
        x1, y1, x2, y2 = (round(v) for v in track.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, line)
        tag = f"#{track.track_id}" if track.track_id > 0 else "hand"
        draw_label(out, f"{tag} {name} {probability:.2f}", (x1, y1), colour, scale)
    return out


def draw_detector_view(frame: np.ndarray, tracks: tuple[TrackResult, ...],
                       found: Detections, *, after: bool) -> np.ndarray:
    """Hide mode: each region as the detector sees it - green "person 0.73" while it is
    found, red "hidden" once the patch makes the detector miss it."""
    out = frame.copy()
    scale = text_scale(out)
    line = max(2, round(scale * 3))
    verdicts = detector_verdicts([t.box for t in tracks], found)
    for track, verdict in zip(tracks, verdicts, strict=True):
        colour = RED if verdict is None else GREEN
        x1, y1, x2, y2 = (round(v) for v in track.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, line)
        if verdict is None:
            text = "hidden" if after else "not detected"
        else:
            text = f"{'seen: ' * after}{verdict[0]} {verdict[1]:.2f}"
        draw_label(out, text, (x1, y1), colour, scale)
    return out


def _scaled_detections(found: Detections, scale: float) -> Detections:
    if scale == 1.0 or len(found) == 0:
        return found
    return Detections(found.xyxy * scale, found.confidence, found.class_id)


def draw_pane(result: FrameResult, *, after: bool, scale: float = 1.0) -> np.ndarray:
    """The before or after frame, scaled by ``scale``, with its regions drawn: the
    hunter's top-1 per track, in hide mode the detector's verdict, and in printed mode
    (after pane) every region's top-5 and the whole frame's (the before pane stays
    plain enough to see the printed patch)."""
    frame = _resize(result.after if after else result.before, scale)
    tracks = tuple(_scaled(track, scale) for track in result.tracks)
    found = result.after_detections if after else result.before_detections
    if found is not None:
        return draw_detector_view(frame, tracks, _scaled_detections(found, scale), after=after)
    settings = result.settings
    if after and result.whole_frame is not None:
        return draw_top5_view(frame, tracks, result.whole_frame, protected=settings.protected,
                              target=settings.target)
    return draw_tracks(frame, tracks, after=after, protected=settings.protected)


def draw_top5_view(frame: np.ndarray, tracks: tuple[TrackResult, ...], whole: Prediction, *,
                   protected: tuple[int, ...], target: int) -> np.ndarray:
    """Printed mode: a copy of ``frame`` with each region's box and its top-5 in a small
    list next to it (outside the box where there is room, so the patch stays visible),
    and the whole frame's top-5 in the corner that covers the fewest regions.

    Boxes are green while the hunter's top-1 there is a protected class, red once it is
    not; a small bar before each class shows its probability (green: protected, orange:
    the decoy, blue: other).
    """
    out = frame.copy()
    height, width = out.shape[:2]
    # Panes are often shown smaller than the frame (a 640 px frame in a 480 px pane).
    scale = max(0.5, text_scale(out))
    line = max(2, round(text_scale(out) * 3))
    boxes = [tuple(round(v) for v in track.box) for track in tracks]
    taken: list[tuple[int, int, int, int]] = list(boxes)  # type: ignore[arg-type]
    panel = _top5_block("whole frame top 5", whole, protected, target, scale, WHITE)
    corners = [(4, 4), (width - panel.shape[1] - 4, 4), (4, height - panel.shape[0] - 4),
               (width - panel.shape[1] - 4, height - panel.shape[0] - 4)]
    taken.append(_paste(out, panel, _least_covering(corners, panel, taken, width, height)))
    for track, (x1, y1, x2, y2) in zip(tracks, boxes, strict=True):
        colour = GREEN if track.before.top1[0] in protected else RED
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, line)
        tag = f"#{track.track_id}" if track.track_id > 0 else f"hand {-track.track_id}"
        block = _top5_block(f"{tag} top 5", track.before, protected, target, scale, colour)
        h, w = block.shape[:2]
        # Beside, above or below the box first; inside its top-left corner last.
        places = [(x2 + 3, y1), (x1 - w - 3, y1), (x1, y1 - h - 3), (x1, y2 + 3),
                  (x1 + line, y1 + line)]
        taken.append(_paste(out, block, _least_covering(places, block, taken, width, height)))
    return out


def _top5_block(title: str, prediction: Prediction, protected: tuple[int, ...], target: int,
                scale: float, colour: tuple[int, int, int]) -> np.ndarray:
    """A small dark label: ``title`` in ``colour`` and one line per class, "0.62 tabby",
    each after a bar as long as its probability."""
    thickness = 1
    (_, text_h), base = cv2.getTextSize("Ag", FONT, scale, thickness)
    row = text_h + base + 3
    bar = round(row * 2.2)
    lines = [f"{p:.2f} {name if len(name) <= 18 else name[:17] + '.'}"
             for name, p in zip(prediction.names, prediction.probabilities, strict=True)]
    text_w = max(cv2.getTextSize(t, FONT, scale, thickness)[0][0] for t in [*lines, title])
    block = np.full((row * (len(lines) + 1) + 4, bar + text_w + 12, 3), 16, dtype=np.uint8)
    cv2.putText(block, title, (4, row - base), FONT, scale, colour, thickness, cv2.LINE_AA)
    for i, (index, p, text) in enumerate(zip(prediction.indices, prediction.probabilities,
                                              lines, strict=True)):
        top = row * (i + 1)
        fill = GREEN if index in protected else ORANGE if index == target else BAR_BLUE
        cv2.rectangle(block, (4, top + 3), (4 + bar, top + row - 2), (60, 60, 60), -1)
        cv2.rectangle(block, (4, top + 3), (4 + max(1, round(bar * p)), top + row - 2), fill, -1)
        cv2.putText(block, text, (bar + 8, top + row - base), FONT, scale, WHITE, thickness,
                    cv2.LINE_AA)
    return block


def _least_covering(places: list[tuple[int, int]], block: np.ndarray,
                    taken: list[tuple[int, int, int, int]], width: int,
                    height: int) -> tuple[int, int]:
    """The first of ``places`` (top-left corners, moved into the frame) where ``block``
    covers the least of the ``taken`` rectangles."""
    h, w = block.shape[:2]

    def inside(x: int, y: int) -> tuple[int, int]:
        return min(max(x, 0), max(0, width - w)), min(max(y, 0), max(0, height - h))

    def covered(x: int, y: int) -> int:
        return sum(max(0, min(x + w, r[2]) - max(x, r[0])) * max(0, min(y + h, r[3]) - max(y, r[1]))
                   for r in taken)

    candidates = [inside(x, y) for x, y in places]
    return min(candidates, key=lambda xy: covered(*xy))  # min keeps the first of equals


def _paste(image: np.ndarray, block: np.ndarray,
           at: tuple[int, int]) -> tuple[int, int, int, int]:
    """Blend ``block`` onto ``image`` at ``at`` (80% opaque, clipped to the frame); the
    rectangle it covers."""
    x, y = at
    h = min(block.shape[0], image.shape[0] - y)
    w = min(block.shape[1], image.shape[1] - x)
    region = image[y:y + h, x:x + w]
    region[:] = cv2.addWeighted(block[:h, :w], 0.8, region, 0.2, 0)
    return x, y, x + w, y + h


BAR_BLUE = (200, 140, 60)
ORANGE = (40, 150, 245)  # the decoy, as in the window


def probability_bars(prediction: Prediction | None, width: int, *, title: str,
                     protected: tuple[int, ...], target: int, scale: float = 0.5,
                     rows: int = 5) -> np.ndarray:
    """The window's top-5 bars as a BGR image ``width`` pixels wide: one row per class,
    green for a protected class, red for the decoy, blue otherwise. Room for ``rows``
    classes is kept whatever is shown, so a recording keeps one frame size when the
    tracked region comes and goes (a video cannot change size mid-way)."""
    thickness = max(1, round(scale * 2))
    (_, text_h), base = cv2.getTextSize("Ag", FONT, scale, thickness)
    row = text_h + base + 8
    rows = max(rows, len(prediction.indices) if prediction is not None else 1)
    image = np.full((row * (rows + 1) + 6, width, 3), 24, dtype=np.uint8)
    cv2.putText(image, title, (8, row - base - 2), FONT, scale, WHITE, thickness, cv2.LINE_AA)
    if prediction is None:
        cv2.putText(image, "no region tracked", (8, 2 * row - base - 2), FONT, scale,
                    (160, 160, 160), thickness, cv2.LINE_AA)
        return image
    label_w = int(width * 0.45)
    for i, (index, name, p) in enumerate(zip(prediction.indices, prediction.names,
                                             prediction.probabilities, strict=True)):
        top = row * (i + 1) + 2
        colour = GREEN if index in protected else ORANGE if index == target else BAR_BLUE
        text = name if len(name) <= 24 else name[:22] + "..."
        cv2.putText(image, text, (8, top + row - base - 6), FONT, scale, WHITE, thickness,
                    cv2.LINE_AA)
        full = width - label_w - 70
        cv2.rectangle(image, (label_w, top + 2), (label_w + full, top + row - 4), (48, 48, 48),
                      -1)
        cv2.rectangle(image, (label_w, top + 2), (label_w + max(1, round(full * p)),
                                                  top + row - 4), colour, -1)
        cv2.putText(image, f"{p:.3f}", (width - 64, top + row - base - 6), FONT, scale, WHITE,
                    thickness, cv2.LINE_AA)
    return image


def side_by_side(result: FrameResult, width: int | None = None, *, bars: bool = False,
                 track_id: int | None = None) -> np.ndarray:
    """Before | after, each with its boxes and a title bar; optionally ``width`` pixels wide.

    Frames are scaled first and the boxes and labels drawn afterwards, so text stays
    sharp and readable at any output size. ``bars=True`` adds the top-5 probability bars
    before and after of track ``track_id`` (default: the first track) below the panes,
    as the window shows them; in hide mode a last line gives the hide tally.
    """
    gap_width = 6
    scale = 1.0
    if width is not None:
        if width < 2 * 16 + gap_width:
            raise ChickenSaviourError(f"width {width} is too small for two panels")
        scale = (width - gap_width) / (2 * result.before.shape[1])
    before = draw_pane(result, after=False, scale=scale)
    after = draw_pane(result, after=True, scale=scale)
    gap = np.full((before.shape[0], gap_width, 3), 32, dtype=np.uint8)
    panel = np.hstack([before, gap, after])
    font = text_scale(before) * 1.15
    bar_height = round(30 * font / 0.5 * 0.6) + 8
    bar = np.full((bar_height, panel.shape[1], 3), 24, dtype=np.uint8)
    baseline = bar_height - round(bar_height * 0.3)
    thickness = max(1, round(font * 2))
    cv2.putText(bar, "before", (8, baseline), FONT, font, WHITE, thickness, cv2.LINE_AA)
    mode = result.settings.mode
    eps = f" eps {result.settings.eps * 255:.3g}/255" if mode == "ghost" else ""
    if result.hide is not None and result.settings.baseline != "none":
        eps = f", {result.settings.baseline} square baseline"
    if result.whole_frame is not None:
        eps = "-patch test: nothing pasted"
    cv2.putText(bar, f"after ({mode}{eps})", (before.shape[1] + gap_width + 8, baseline), FONT,
                font, WHITE, thickness, cv2.LINE_AA)
    parts = [bar, panel]
    if bars:
        parts.append(_bars_row(result, before.shape[1], gap_width, track_id))
    if result.hide is not None:
        parts.append(_caption(result.hide.describe(), panel.shape[1]))
    image = np.vstack(parts)
    if image.shape[0] % 2:  # video codecs want even sizes
        image = np.vstack([image, np.full((1, image.shape[1], 3), 24, dtype=np.uint8)])
    if image.shape[1] % 2:
        image = np.hstack([image, np.full((image.shape[0], 1, 3), 24, dtype=np.uint8)])
    return image


def _resize(frame: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return frame
    size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(frame, size, interpolation=interpolation)


def _scaled(track: TrackResult, scale: float) -> TrackResult:
    if scale == 1.0:
        return track
    box = tuple(v * scale for v in track.box)
    return TrackResult(track.track_id, box, track.before, track.after)  # type: ignore[arg-type]


def _bars_row(result: FrameResult, pane_width: int, gap_width: int,
              track_id: int | None) -> np.ndarray:
    """Before and after bars of the track, or in printed mode the whole frame's and the
    track's (before and after are the same frame there)."""
    track = next((t for t in result.tracks if t.track_id == track_id), None) \
        if track_id is not None else None
    if track is None and result.tracks:
        track = result.tracks[0]
    tag = "" if track is None else (f" - track #{track.track_id}" if track.track_id > 0
                                    else f" - hand box {-track.track_id}")
    scale = float(np.clip(pane_width / 900.0, 0.4, 1.2))
    settings = result.settings
    shown: tuple[tuple[str, Prediction | None], ...] = (
        (f"Before: top 5{tag}", track.before if track else None),
        (f"After: top 5{tag}", track.after if track else None))
    if result.whole_frame is not None:
        shown = (("Whole frame: top 5", result.whole_frame),
                 (f"Region: top 5{tag}", track.before if track else None))
    halves = [probability_bars(prediction, pane_width, title=title,
                               protected=settings.protected, target=settings.target,
                               scale=scale)
              for title, prediction in shown]
    height = max(h.shape[0] for h in halves)
    halves = [np.vstack([h, np.full((height - h.shape[0], pane_width, 3), 24, np.uint8)])
              for h in halves]
    gap = np.full((height, gap_width, 3), 32, dtype=np.uint8)
    return np.hstack([halves[0], gap, halves[1]])


def _caption(text: str, width: int) -> np.ndarray:
    scale = float(np.clip(width / 1800.0, 0.4, 1.2))
    thickness = max(1, round(scale * 2))
    (_, h), base = cv2.getTextSize(text, FONT, scale, thickness)
    strip = np.full((h + base + 10, width, 3), 24, dtype=np.uint8)
    cv2.putText(strip, text, (8, h + 4), FONT, scale, WHITE, thickness, cv2.LINE_AA)
    return strip
