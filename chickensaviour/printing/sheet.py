"""A printable PDF sheet for an adversarial patch, drawn at an exact physical size.

One page of A4 or Letter: a title, the patch centred horizontally near the top at exactly
``size_cm`` x ``size_cm``, print-shop crop marks just outside its corners, a ruler-style
scale bar (5 cm; on Letter also 2 in) to check that the printer did not scale the page,
and a block of text saying what the patch is and how to print it.

Printers and viewers must not blur the patch. PDF's default for an image's
``/Interpolate`` is false, but reportlab offers no way to write the key and some viewers
and printer drivers smooth upscaled images anyway, so the patch is embedded losslessly
(Flate) with every pixel repeated ``k`` x ``k`` times (nearest neighbour, an integer
``k``, the smallest that reaches :data:`PRINT_DPI` at the printed size). Smoothing then
can only touch a 1/300 in seam between the blocks; ``image[::k, ::k]`` is the patch.

The output is deterministic: reportlab's invariant mode fixes the timestamps and the
document id, so the same inputs give the same bytes.

Example::

    info = SheetInfo(model="mobilenet_v2", goal="targeted: hog (ImageNet 341)",
                     made=datetime.date(2024, 5, 1))
    data = patch_sheet_pdf(patch, size_cm=10, paper="A4", info=info)  # PDF bytes to save
"""

from __future__ import annotations

import datetime
import io
import logging
import math
import numbers
from dataclasses import dataclass

import numpy as np
from PIL import Image
from reportlab.lib.colors import Color, black, white
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import cm, inch, mm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from chickensaviour.errors import ChickenSaviourError

logger = logging.getLogger(__name__)

#: Paper sizes (width, height) in PDF points (1/72 in).
PAPER_SIZES: dict[str, tuple[float, float]] = {"A4": A4, "Letter": LETTER}

#: The patch is upscaled (nearest neighbour) to at least this resolution at its printed size.
PRINT_DPI = 300

#: The smallest patch side in pixels that is accepted.
MIN_PATCH_PIXELS = 8

TITLE = "chickensaviour adversarial patch"
INSTRUCTION = ("Print at 100 % / actual size (no 'fit to page'). "
               "Check the scale bar with a ruler.")

# Layout, in points. The text block has a fixed height (long goals and notes are
# wrapped to a few lines and cut), so the largest patch depends on the paper only.
_MARGIN = 15 * mm
_TITLE_SIZE = 16.0
_HEADER = 11 * mm           # title line and the rule under it
_CROP_GAP = 2 * mm          # between the patch corner and the start of a crop mark
_CROP_LENGTH = 5 * mm
_CROP_EXTENT = _CROP_GAP + _CROP_LENGTH
_CROP_WIDTH = 0.3
_GAP_TO_SCALE = 5 * mm      # below the bottom crop marks
_SCALE_BLOCK = 14 * mm      # the bars: blocks, ticks, numbers and the caption under them
_BAR_GAP = 12 * mm          # between the cm and the inch bar on Letter
_GAP_TO_TEXT = 4 * mm
_FONT = "Helvetica"
_BOLD = "Helvetica-Bold"
_TEXT_SIZE = 9.5
_LEADING = 12.5
_LABEL_WIDTH = 62.0
_GOAL_LINES = 2
_NOTES_LINES = 2
_INSTRUCTION_SIZE = 10.5
_INSTRUCTION_BOX = 24.0
# model, goal, made, patch, embedded, notes, then a blank line before the instruction box
_TEXT_LINES = 5 + _GOAL_LINES + _NOTES_LINES
_TEXT_BLOCK = _TEXT_LINES * _LEADING + _INSTRUCTION_BOX
_GREY = Color(0.35, 0.35, 0.35)
_LIGHT = Color(0.93, 0.93, 0.93)


@dataclass(frozen=True)
class SheetInfo:
    """What the sheet says about the patch.

    Args:
        model: the model the patch was made against, e.g. ``"mobilenet_v2"``.
        goal: what it does, e.g. ``"targeted: hog (ImageNet 341)"`` or
            ``"hide: person from nanodet"``.
        made: the day it was made.
        notes: optional, e.g. ``"trained under the print-camera simulation, 400 steps"``.
    """

    model: str
    goal: str
    made: datetime.date
    notes: str = ""

    def __post_init__(self) -> None:
        for name in ("model", "goal"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ChickenSaviourError(f"sheet {name} must be a non-empty string, "
                                          f"got {value!r}")
        if not isinstance(self.notes, str):
            raise ChickenSaviourError(f"sheet notes must be a string, got {self.notes!r}")
        if not isinstance(self.made, datetime.date):
            raise ChickenSaviourError(f"sheet date must be a datetime.date, got {self.made!r}")


def _paper(paper: str) -> tuple[str, float, float]:
    """The name as in :data:`PAPER_SIZES`, width and height in points, of ``paper`` (any case)."""
    for name, (width, height) in PAPER_SIZES.items():
        if isinstance(paper, str) and paper.strip().lower() == name.lower():
            return name, width, height
    raise ChickenSaviourError(f"unknown paper {paper!r}; choose one of "
                              f"{', '.join(PAPER_SIZES)}")


def max_patch_size_cm(paper: str = "A4") -> float:
    """The largest patch side in cm (rounded down to 1 mm) that fits on ``paper`` with the
    margins, crop marks, scale bar and text."""
    return math.floor(_max_patch_points(paper) / cm * 10 + 1e-9) / 10


def patch_sheet_pdf(patch_rgb: np.ndarray, *, size_cm: float, paper: str = "A4",
                    info: SheetInfo) -> bytes:
    """One PDF page with the patch printed at exactly ``size_cm`` x ``size_cm``.

    Args:
        patch_rgb: ``(S, S, 3)`` uint8 RGB, ``S >= 8``; row 0 is the top.
        size_cm: the printed side in cm, ``0 < size_cm <= max_patch_size_cm(paper)``.
        paper: ``"A4"`` or ``"Letter"``.
        info: model, goal, date and notes for the text.

    Returns:
        The PDF bytes (deterministic for the same inputs). The image is drawn with the
        matrix ``[size, 0, 0, size, x, y]``, ``size = size_cm / 2.54 * 72`` points.

    Raises:
        ChickenSaviourError: a bad patch, size or paper.
    """
    if not isinstance(info, SheetInfo):
        raise ChickenSaviourError(f"info must be a SheetInfo, got {type(info).__name__}")
    pixels = _check_patch(patch_rgb)
    name, width, height = _paper(paper)
    side = _check_size(size_cm, name)
    factor = _upscale_factor(pixels, size_cm)
    embedded = np.repeat(np.repeat(patch_rgb, factor, axis=0), factor, axis=1)

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(width, height), invariant=1, pageCompression=1)
    canvas.setTitle(f"{TITLE}: {info.model}")
    canvas.setSubject(f"model: {info.model}; goal: {info.goal}")
    canvas.setCreator("chickensaviour")
    canvas.setAuthor("chickensaviour")

    top = height - _MARGIN
    canvas.setFont(_BOLD, _TITLE_SIZE)
    canvas.drawString(_MARGIN, top - _TITLE_SIZE, TITLE)
    canvas.setFont(_FONT, _TEXT_SIZE)
    canvas.setFillColor(_GREY)
    canvas.drawRightString(width - _MARGIN, top - _TITLE_SIZE,
                           f"{name} · print at actual size")
    canvas.setFillColor(black)
    canvas.setLineWidth(0.5)
    canvas.line(_MARGIN, top - _HEADER + 2 * mm, width - _MARGIN, top - _HEADER + 2 * mm)

    x = (width - side) / 2
    y = top - _HEADER - _CROP_EXTENT - side
    canvas.drawImage(ImageReader(Image.fromarray(embedded)), x, y, side, side)
    _crop_marks(canvas, x, y, side)

    cursor = y - _CROP_EXTENT - _GAP_TO_SCALE
    _scale_bars(canvas, _bars_for(name), cursor, width)
    cursor -= _SCALE_BLOCK
    _text_block(canvas, info, cursor - _GAP_TO_TEXT, width, pixels, size_cm, factor)

    canvas.showPage()
    canvas.save()
    logger.debug("patch sheet: %d px patch at %g cm on %s, embedded x%d", pixels, size_cm,
                 name, factor)
    return buffer.getvalue()


def _max_patch_points(paper: str) -> float:
    _, width, height = _paper(paper)
    across = width - 2 * _MARGIN - 2 * _CROP_EXTENT
    down = (height - 2 * _MARGIN - _HEADER - 2 * _CROP_EXTENT - _GAP_TO_SCALE
            - _SCALE_BLOCK - _GAP_TO_TEXT - _TEXT_BLOCK)
    return min(across, down)


def _check_patch(patch_rgb: np.ndarray) -> int:
    if not isinstance(patch_rgb, np.ndarray):
        raise ChickenSaviourError(f"patch must be a numpy array, got {type(patch_rgb).__name__}")
    shape = patch_rgb.shape
    if patch_rgb.dtype != np.uint8 or len(shape) != 3 or shape[2] != 3 or shape[0] != shape[1]:
        raise ChickenSaviourError(f"patch must be a square (S, S, 3) uint8 RGB array, got "
                                  f"shape {shape} dtype {patch_rgb.dtype}")
    if shape[0] < MIN_PATCH_PIXELS:
        raise ChickenSaviourError(f"patch is too small to print: {shape[0]} x {shape[1]} px "
                                  f"(at least {MIN_PATCH_PIXELS} x {MIN_PATCH_PIXELS})")
    return int(shape[0])


def _check_size(size_cm: float, paper: str) -> float:
    """The side in points of a valid ``size_cm``."""
    if (not isinstance(size_cm, numbers.Real) or isinstance(size_cm, bool)
            or not math.isfinite(size_cm) or size_cm <= 0):
        raise ChickenSaviourError(f"patch size must be a positive number of cm, got {size_cm!r}")
    side = float(size_cm) * cm
    if side > _max_patch_points(paper) + 1e-9:
        raise ChickenSaviourError(
            f"a {size_cm:g} cm patch does not fit on {paper} with the margins and text; "
            f"the maximum is {max_patch_size_cm(paper):.1f} cm")
    return side


def _upscale_factor(pixels: int, size_cm: float) -> int:
    """The smallest integer k with ``pixels * k`` at least :data:`PRINT_DPI` when printed."""
    needed = size_cm / 2.54 * PRINT_DPI
    return max(1, math.ceil(needed / pixels - 1e-9))


def _crop_marks(canvas: Canvas, x: float, y: float, side: float) -> None:
    """Short lines along the patch edges outside each corner, a small gap away from it."""
    canvas.setStrokeColor(black)
    canvas.setLineWidth(_CROP_WIDTH)
    near, far = _CROP_GAP, _CROP_EXTENT
    for cx, dx in ((x, -1), (x + side, 1)):
        for cy, dy in ((y, -1), (y + side, 1)):
            canvas.line(cx + dx * near, cy, cx + dx * far, cy)   # along the horizontal edge
            canvas.line(cx, cy + dy * near, cx, cy + dy * far)   # along the vertical edge


@dataclass(frozen=True)
class _Bar:
    unit: float   # points per unit
    count: int    # units long
    minor: int    # ticks per unit
    label: str

    @property
    def span(self) -> float:
        """Width in points with the unit label after the last number."""
        return self.count * self.unit + 3 * mm + stringWidth(self.label, _FONT, _BAR_FONT)


_CM_BAR = _Bar(unit=cm, count=5, minor=10, label="cm")
_INCH_BAR = _Bar(unit=inch, count=2, minor=8, label="in")
_BAR_FONT = 7.5


def _bars_for(paper_name: str) -> tuple[_Bar, ...]:
    return (_CM_BAR, _INCH_BAR) if paper_name == "Letter" else (_CM_BAR,)


def _scale_bars(canvas: Canvas, bars: tuple[_Bar, ...], top: float, page_width: float) -> None:
    """The bars side by side, centred on the page, with a caption under them."""
    total = sum(bar.span for bar in bars) + _BAR_GAP * (len(bars) - 1)
    left = (page_width - total) / 2
    for bar in bars:
        _scale_bar(canvas, bar, left, top)
        left += bar.span + _BAR_GAP
    lengths = " and ".join(f"{bar.count} {bar.label}" for bar in bars)
    canvas.setFont(_FONT, _BAR_FONT)
    canvas.setFillColor(_GREY)
    canvas.drawCentredString(page_width / 2, top - 12 * mm,
                             f"check with a ruler: {'these bars' if len(bars) > 1 else 'this bar'}"
                             f" must measure exactly {lengths}")
    canvas.setFillColor(black)


def _scale_bar(canvas: Canvas, bar: _Bar, left: float, top: float) -> None:
    """A ruler: alternating black and white unit blocks, ticks every ``1 / minor`` unit
    (longer at halves and units) and numbered unit ticks."""
    block = 1.2 * mm
    base = top - block
    canvas.setLineWidth(0.4)
    canvas.setStrokeColor(black)
    for i in range(bar.count):
        canvas.setFillColor(black if i % 2 == 0 else white)
        canvas.rect(left + i * bar.unit, base, bar.unit, block, stroke=1, fill=1)
    canvas.setLineWidth(0.3)
    half = bar.minor // 2
    for j in range(bar.count * bar.minor + 1):
        length = 3.2 if j % bar.minor == 0 else 2.0 if j % half == 0 else 1.1
        tick = left + j * bar.unit / bar.minor
        canvas.line(tick, base, tick, base - length * mm)
    canvas.setFillColor(black)
    canvas.setFont(_FONT, _BAR_FONT)
    label_y = base - 3.2 * mm - 8
    for i in range(bar.count + 1):
        canvas.drawCentredString(left + i * bar.unit, label_y, str(i))
    canvas.drawString(left + bar.count * bar.unit + 3 * mm, label_y, bar.label)


def _text_block(canvas: Canvas, info: SheetInfo, top: float, page_width: float,
                pixels: int, size_cm: float, factor: int) -> None:
    """Labelled lines (model, goal, date, size, notes) and the boxed print instruction."""
    value_width = page_width - 2 * _MARGIN - _LABEL_WIDTH
    size = f"{size_cm:g}"
    embedded = pixels * factor
    rows: list[tuple[str, list[str]]] = [
        ("Model", _wrapped(info.model, value_width, 1)),
        ("Goal", _wrapped(info.goal, value_width, _GOAL_LINES)),
        ("Made", [f"{info.made:%Y-%m-%d}"]),
        ("Patch", [f"{size} cm × {size} cm, {pixels} × {pixels} px"]),
        ("Embedded", [f"{embedded} × {embedded} px: each pixel repeated {factor} × {factor} "
                      "(nearest neighbour), so printers cannot blur it"]),
    ]
    if info.notes.strip():
        rows.append(("Notes", _wrapped(info.notes, value_width, _NOTES_LINES)))
    baseline = top - _TEXT_SIZE
    for label, lines in rows:
        canvas.setFont(_BOLD, _TEXT_SIZE)
        canvas.drawString(_MARGIN, baseline, label)
        canvas.setFont(_FONT, _TEXT_SIZE)
        for line in lines:
            canvas.drawString(_MARGIN + _LABEL_WIDTH, baseline, line)
            baseline -= _LEADING
    box_top = baseline + _TEXT_SIZE - _LEADING  # one blank line under the text
    canvas.setFillColor(_LIGHT)
    canvas.setStrokeColor(black)
    canvas.setLineWidth(0.6)
    canvas.rect(_MARGIN, box_top - _INSTRUCTION_BOX, page_width - 2 * _MARGIN,
                _INSTRUCTION_BOX, stroke=1, fill=1)
    canvas.setFillColor(black)
    canvas.setFont(_BOLD, _INSTRUCTION_SIZE)
    canvas.drawCentredString(page_width / 2, box_top - _INSTRUCTION_BOX / 2 - 3.8, INSTRUCTION)


def _wrapped(text: str, width: float, max_lines: int) -> list[str]:
    """``text`` on lines at most ``width`` points wide, at most ``max_lines`` of them; what
    does not fit (more lines, or one word wider than a line) is cut with "…"."""
    lines = simpleSplit(" ".join(text.split()), _FONT, _TEXT_SIZE, width)
    kept = [_fitted(line, width, cut=False) for line in lines[:max_lines]]
    if len(lines) > max_lines:
        kept[-1] = _fitted(kept[-1], width, cut=True)
    if kept != lines:
        logger.warning("sheet text cut to %d line(s): %r", max_lines, text)
    return kept


def _fitted(line: str, width: float, *, cut: bool) -> str:
    """``line`` shortened until it fits ``width`` with a "…" after it (always when ``cut``)."""
    if not cut and stringWidth(line, _FONT, _TEXT_SIZE) <= width:
        return line
    while line and stringWidth(line.rstrip() + " …", _FONT, _TEXT_SIZE) > width:
        line = line[:-1]
    return line.rstrip() + " …"
