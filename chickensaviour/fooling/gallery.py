"""The gallery: every champion with its class name and confidence, in one picture.

Returns an RGB ``uint8`` array ``(H, W, 3)``; the CLI writes it. Small images (MNIST's
28 pixels) are enlarged with nearest-neighbour so each pixel stays visible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.fooling.champions import Champion
from chickensaviour.imaging import tensor_to_bgr

BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)
FOOLED = (120, 230, 120)  # confidence at or above the threshold
LABEL_HEIGHT = 34
TITLE_HEIGHT = 30
PAD = 6


def confidence_text(confidence: float) -> str:
    """``99.99%``, with more digits when they are nines (``99.9996%``)."""
    percent = confidence * 100.0
    if percent >= 99.99:
        return f"{math.floor(percent * 1e4) / 1e4:.4f}%"
    return f"{math.floor(percent * 100) / 100:.2f}%"


def gallery_image(champions: Sequence[Champion], *, title: str = "", cell: int = 128,
                  columns: int | None = None, threshold: float = 0.99) -> np.ndarray:
    """A grid of the champions (in the given order) with name and confidence below each;
    confidences at or above ``threshold`` are green."""
    if not champions:
        raise ChickenSaviourError("no champions to show")
    if not 32 <= cell <= 1024:
        raise ChickenSaviourError(f"cell must be in 32..1024 pixels, got {cell}")
    columns = columns or min(len(champions), max(1, math.ceil(math.sqrt(len(champions) * 1.5))))
    rows = math.ceil(len(champions) / columns)
    width = columns * (cell + PAD) + PAD
    top = TITLE_HEIGHT if title else 0
    height = top + rows * (cell + LABEL_HEIGHT + PAD) + PAD
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = _font(13)
    if title:
        draw.text((PAD, 7), title, fill=TEXT, font=_font(16))
    for position, champion in enumerate(champions):
        row, column = divmod(position, columns)
        x = PAD + column * (cell + PAD)
        y = top + PAD + row * (cell + LABEL_HEIGHT + PAD)
        canvas.paste(_picture(champion, cell), (x, y))
        name = _fit(draw, champion.name, font, cell)
        draw.text((x, y + cell + 2), name, fill=TEXT, font=font)
        colour = FOOLED if champion.confidence >= threshold else TEXT
        draw.text((x, y + cell + 17), confidence_text(champion.confidence), fill=colour,
                  font=font)
    return np.asarray(canvas)


def _picture(champion: Champion, cell: int) -> Image.Image:
    picture = Image.fromarray(np.ascontiguousarray(tensor_to_bgr(champion.rgb)[:, :, ::-1]))
    small = max(picture.size) < cell / 2
    return picture.resize((cell, cell), Image.Resampling.NEAREST if small
                          else Image.Resampling.LANCZOS)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
         width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()
