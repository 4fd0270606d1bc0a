"""``printing.sheet``: the patch PDF read back with pypdf: page size, the image's exact
physical size and pixels, crop marks, a true scale bar, text and errors."""

from __future__ import annotations

import datetime
import io
import math
from dataclasses import dataclass

import numpy as np
import pytest
from pypdf import PdfReader
from pypdf.generic import ContentStream

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.printing import (
    PAPER_SIZES,
    PRINT_DPI,
    SheetInfo,
    max_patch_size_cm,
    patch_sheet_pdf,
)

CM = 72 / 2.54  # points per cm
INFO = SheetInfo(model="mobilenet_v2", goal="targeted: hog (ImageNet 341)",
                 made=datetime.date(2024, 5, 1),
                 notes="trained under the print-camera simulation, 400 steps")
PAGES = {"A4": (595.28, 841.89), "Letter": (612.0, 792.0)}


def colourful_patch(size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@dataclass
class Drawn:
    """What one page draws: images with their transformation matrices, and straight
    stroked segments ``(x1, y1, x2, y2)`` in page coordinates."""

    images: list[tuple[str, np.ndarray]]
    segments: list[tuple[float, float, float, float]]


def read_page(pdf: bytes) -> tuple[PdfReader, Drawn]:
    """Walk the content stream keeping the CTM (``q``/``Q``/``cm``) to see where each
    ``Do`` and each ``m``/``l`` line lands on the page."""
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    ctm, stack = np.eye(3), []
    drawn = Drawn([], [])
    start: np.ndarray | None = None
    for operands, operator in ContentStream(page.get_contents(), reader).operations:
        if operator == b"q":
            stack.append(ctm.copy())
        elif operator == b"Q":
            ctm = stack.pop()
        elif operator == b"cm":
            a, b, c, d, e, f = (float(v) for v in operands)
            ctm = np.array([[a, b, 0], [c, d, 0], [e, f, 1]]) @ ctm
        elif operator == b"Do":
            drawn.images.append((str(operands[0]), ctm.copy()))
        elif operator == b"m":
            start = np.array([float(operands[0]), float(operands[1]), 1]) @ ctm
        elif operator == b"l" and start is not None:
            end = np.array([float(operands[0]), float(operands[1]), 1]) @ ctm
            drawn.segments.append((start[0], start[1], end[0], end[1]))
            start = end
    return reader, drawn


def only_image(reader: PdfReader, drawn: Drawn) -> tuple[dict, np.ndarray, np.ndarray]:
    """The single image: its dictionary, decoded pixels (H, W, 3) and its matrix."""
    assert len(drawn.images) == 1
    name, matrix = drawn.images[0]
    xobject = reader.pages[0]["/Resources"]["/XObject"][name].get_object()
    height, width = int(xobject["/Height"]), int(xobject["/Width"])
    pixels = np.frombuffer(xobject.get_data(), np.uint8).reshape(height, width, 3)
    return xobject, pixels, matrix


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_page_is_the_paper(paper: str) -> None:
    reader, _ = read_page(patch_sheet_pdf(colourful_patch(), size_cm=5, paper=paper, info=INFO))
    box = reader.pages[0].mediabox
    assert float(box.left) == float(box.bottom) == 0
    assert float(box.width) == pytest.approx(PAGES[paper][0], abs=0.01)
    assert float(box.height) == pytest.approx(PAGES[paper][1], abs=0.01)
    assert PAPER_SIZES[paper] == pytest.approx(PAGES[paper], abs=0.01)


@pytest.mark.parametrize("paper", ["A4", "Letter"])
@pytest.mark.parametrize("size_cm", [5, 10, 15])
def test_patch_is_drawn_at_exactly_size_cm(paper: str, size_cm: float) -> None:
    patch = colourful_patch()
    reader, drawn = read_page(patch_sheet_pdf(patch, size_cm=size_cm, paper=paper, info=INFO))
    xobject, pixels, matrix = only_image(reader, drawn)
    side = size_cm / 2.54 * 72
    assert matrix[0, 0] == pytest.approx(side, abs=0.01)       # width in points
    assert matrix[1, 1] == pytest.approx(side, abs=0.01)       # height in points
    assert matrix[0, 1] == matrix[1, 0] == 0                   # no rotation or shear
    width, height = PAGES[paper]
    x, y = matrix[2, 0], matrix[2, 1]
    assert x + side / 2 == pytest.approx(width / 2, abs=0.01)  # centred horizontally
    assert y + side > 0.85 * height and y > 0                  # near the top, on the page
    # Embedded losslessly, upscaled by the smallest integer that reaches PRINT_DPI.
    assert "/DCTDecode" not in xobject["/Filter"] and "/FlateDecode" in xobject["/Filter"]
    assert not xobject.get("/Interpolate", False)
    factor, rest = divmod(pixels.shape[1], patch.shape[1])
    assert rest == 0 and pixels.shape[0] == pixels.shape[1]
    inches = size_cm / 2.54
    assert factor * 16 / inches >= PRINT_DPI > (factor - 1) * 16 / inches


def test_image_pixels_round_trip_exactly() -> None:
    patch = colourful_patch(size=24, seed=3)
    patch[0, 0] = (255, 0, 0)  # orientation: row 0 is the top, column 0 the left
    reader, drawn = read_page(patch_sheet_pdf(patch, size_cm=3, paper="A4", info=INFO))
    _, pixels, _ = only_image(reader, drawn)
    factor = pixels.shape[0] // patch.shape[0]
    assert factor > 1
    np.testing.assert_array_equal(pixels, patch.repeat(factor, 0).repeat(factor, 1))


def test_a_patch_already_fine_enough_is_embedded_as_it_is() -> None:
    rows, cols = np.indices((600, 600))  # 600 px over 5 cm is 305 dpi
    patch = np.stack([rows * 255 // 599, cols * 255 // 599, (rows + cols) % 256], axis=-1)
    patch = patch.astype(np.uint8)
    reader, drawn = read_page(patch_sheet_pdf(patch, size_cm=5, paper="A4", info=INFO))
    _, pixels, _ = only_image(reader, drawn)
    np.testing.assert_array_equal(pixels, patch)


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_crop_marks_sit_just_outside_each_corner(paper: str) -> None:
    reader, drawn = read_page(patch_sheet_pdf(colourful_patch(), size_cm=10, paper=paper,
                                              info=INFO))
    _, _, matrix = only_image(reader, drawn)
    x0, y0, side = matrix[2, 0], matrix[2, 1], matrix[0, 0]
    for cx, dx in ((x0, -1), (x0 + side, 1)):
        for cy, dy in ((y0, -1), (y0 + side, 1)):
            along_x = [s for s in drawn.segments if math.isclose(s[1], cy, abs_tol=1e-3)
                       and math.isclose(s[3], cy, abs_tol=1e-3)
                       and min(dx * (s[0] - cx), dx * (s[2] - cx)) > 1]   # a gap, outside
            along_y = [s for s in drawn.segments if math.isclose(s[0], cx, abs_tol=1e-3)
                       and math.isclose(s[2], cx, abs_tol=1e-3)
                       and min(dy * (s[1] - cy), dy * (s[3] - cy)) > 1]
            assert len(along_x) == 1 and len(along_y) == 1, (cx, cy)
            for s in along_x + along_y:
                assert 8 < math.hypot(s[2] - s[0], s[3] - s[1]) < 30  # short: a few mm


def major_ticks(drawn: Drawn, length: float) -> list[float]:
    """x of the vertical segments ``length`` points long (the scale bars' unit ticks)."""
    return sorted(s[0] for s in drawn.segments if math.isclose(s[0], s[2], abs_tol=1e-6)
                  and math.isclose(abs(s[3] - s[1]), length, abs_tol=1e-3))


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_scale_bar_ticks_are_true_centimetres_and_inches(paper: str) -> None:
    _, drawn = read_page(patch_sheet_pdf(colourful_patch(), size_cm=10, paper=paper,
                                         info=INFO))
    ticks = np.array(major_ticks(drawn, 3.2 * CM / 10))
    expected = 6 + (3 if paper == "Letter" else 0)          # 0..5 cm, and 0..2 in on Letter
    assert len(ticks) == expected
    np.testing.assert_allclose(np.diff(ticks[:6]), CM, atol=1e-3)
    if paper == "Letter":
        np.testing.assert_allclose(np.diff(ticks[6:]), 72, atol=1e-3)


def test_text_and_metadata_say_what_the_patch_is() -> None:
    reader, _ = read_page(patch_sheet_pdf(colourful_patch(), size_cm=10, paper="A4",
                                          info=INFO))
    text = " ".join(reader.pages[0].extract_text().split())
    for expected in ("chickensaviour adversarial patch", "mobilenet_v2",
                     "targeted: hog (ImageNet 341)", "2024-05-01", "10 cm × 10 cm",
                     "16 × 16 px", "trained under the print-camera simulation, 400 steps",
                     "Print at 100 % / actual size (no 'fit to page'). "
                     "Check the scale bar with a ruler."):
        assert expected in text
    meta = reader.metadata
    assert meta is not None and meta.creator == "chickensaviour"
    assert meta.title is not None and "chickensaviour adversarial patch" in meta.title
    assert meta.subject is not None
    assert "mobilenet_v2" in meta.subject and "targeted: hog (ImageNet 341)" in meta.subject


def test_long_text_is_cut_and_the_largest_patch_still_fits() -> None:
    info = SheetInfo(model="m" * 300, goal="hide: person from nanodet " * 30,
                     made=datetime.date(2024, 5, 1), notes="a long note " * 100)
    for paper in PAPER_SIZES:
        pdf = patch_sheet_pdf(colourful_patch(), size_cm=max_patch_size_cm(paper),
                              paper=paper, info=info)
        reader, drawn = read_page(pdf)
        text = reader.pages[0].extract_text()
        assert text.count("…") == 3                                       # model, goal, notes
        assert max(len(line) for line in text.splitlines()) < 150         # no runaway line
        assert all(min(s[1], s[3]) > 15 * CM / 10 for s in drawn.segments)  # above margin


def test_same_inputs_give_identical_bytes() -> None:
    patch = colourful_patch()
    first = patch_sheet_pdf(patch, size_cm=7.5, paper="Letter", info=INFO)
    assert patch_sheet_pdf(patch.copy(), size_cm=7.5, paper="Letter", info=INFO) == first
    later = SheetInfo(model=INFO.model, goal=INFO.goal, made=datetime.date(2024, 5, 2))
    assert patch_sheet_pdf(patch, size_cm=7.5, paper="Letter", info=later) != first


def test_paper_names_ignore_case() -> None:
    patch = colourful_patch()
    assert (patch_sheet_pdf(patch, size_cm=5, paper="letter", info=INFO)
            == patch_sheet_pdf(patch, size_cm=5, paper="Letter", info=INFO))


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_too_large_a_size_names_the_maximum(paper: str) -> None:
    largest = max_patch_size_cm(paper)
    assert largest >= 15                       # the sizes people ask for fit on both
    patch_sheet_pdf(colourful_patch(), size_cm=largest, paper=paper, info=INFO)
    with pytest.raises(ChickenSaviourError, match=rf"maximum is {largest:.1f} cm"):
        patch_sheet_pdf(colourful_patch(), size_cm=largest + 0.1, paper=paper, info=INFO)


def test_numpy_sizes_are_numbers() -> None:
    patch = colourful_patch()
    assert (patch_sheet_pdf(patch, size_cm=np.int64(5), info=INFO)  # type: ignore[arg-type]
            == patch_sheet_pdf(patch, size_cm=5.0, info=INFO))


@pytest.mark.parametrize("size_cm", [0, -3, float("nan"), float("inf"), True, "5"])
def test_size_must_be_positive_and_finite(size_cm: float) -> None:
    with pytest.raises(ChickenSaviourError, match="positive"):
        patch_sheet_pdf(colourful_patch(), size_cm=size_cm, info=INFO)


def test_unknown_paper_lists_the_choices() -> None:
    with pytest.raises(ChickenSaviourError, match=r"A3.*A4, Letter"):
        patch_sheet_pdf(colourful_patch(), size_cm=5, paper="A3", info=INFO)


@pytest.mark.parametrize("patch", [
    np.zeros((16, 16), np.uint8),               # grey
    np.zeros((16, 16, 4), np.uint8),            # RGBA
    np.zeros((16, 12, 3), np.uint8),            # not square
    np.zeros((16, 16, 3), np.float32),          # not uint8
], ids=["grey", "rgba", "oblong", "float"])
def test_patch_must_be_square_rgb_uint8(patch: np.ndarray) -> None:
    with pytest.raises(ChickenSaviourError, match=r"\(S, S, 3\) uint8"):
        patch_sheet_pdf(patch, size_cm=5, info=INFO)


def test_patch_must_have_at_least_8_pixels() -> None:
    patch_sheet_pdf(colourful_patch(size=8), size_cm=5, info=INFO)
    with pytest.raises(ChickenSaviourError, match="too small"):
        patch_sheet_pdf(colourful_patch(size=7), size_cm=5, info=INFO)


@pytest.mark.parametrize("fields", [
    {"model": ""}, {"model": "   "}, {"goal": ""}, {"goal": None}, {"notes": 3},
    {"made": "2024-05-01"},
])
def test_sheet_info_is_validated(fields: dict) -> None:
    values = {"model": "m", "goal": "g", "made": datetime.date(2024, 5, 1)} | fields
    with pytest.raises(ChickenSaviourError):
        SheetInfo(**values)
