"""What ``fool`` writes: champion PNGs measured as written, the gallery, the comparison
with gradient ascent, the animation, and the clean-up of an earlier run's files.

Pure functions returning bytes and records; :mod:`chickensaviour.cli.fool_commands`
writes them all at once.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from chickensaviour.cli.bars import gif_bytes
from chickensaviour.imaging import encode_bgr

logger = logging.getLogger(__name__)

#: Classes shown in the gallery (the most confident) when more were searched.
GALLERY_CLASSES = 40
#: Gradient ascent steps of --compare-gradient, and how many classes it optimises.
GRADIENT_STEPS = 200
COMPARED_CLASSES = 10
GIF_WIDTH = 720
#: Images up to this side are drawn enlarged (LeNet's 28).
SMALL_IMAGE = 64


def champion_files(model: Any, champions: list[Any], out: Path, top: int | None,
                   folder: str) -> tuple[dict[Path, bytes], list[dict[str, Any]]]:
    """PNG bytes of the champions and their records, each confidence measured by
    decoding the PNG that will be written."""
    from chickensaviour.fooling.evolution import score_images
    from chickensaviour.imaging import decode_image, encode_image

    outputs: dict[Path, bytes] = {}
    records = []
    saved = champions[:top] if top is not None else champions
    encoded = {c.index: encode_image(c.rgb, ".png") for c in saved}
    measured = {}
    stretched = model.with_fit("stretch")
    for index, data in encoded.items():  # one at a time: 1000 decoded images add up
        measured[index] = float(score_images(stretched, decode_image(data))[0, index])
    for champion in champions:
        name = None
        if champion.index in encoded:
            name = f"{folder}/{champion.index:04d}_{slug(champion.name)}.png"
            outputs[out / name] = encoded[champion.index]
        records.append({
            "index": champion.index, "name": champion.name,
            "confidence": round(measured.get(champion.index, champion.confidence), 6),
            "generation": champion.generation, "png": name})
    records.sort(key=lambda r: (-r["confidence"], r["index"]))
    return outputs, records


#: What ``fool`` writes into ``--out``; an earlier run's files of these names that this
#: run did not write are removed, so the folder always matches its ``fool.json``.
FOOL_FILES = ("gallery.png", "history.csv", "history.png", "evolution.gif", "compare.png")
FOOL_FOLDERS = ("champions", "gradient")


def remove_stale(out: Path, written: set[Path]) -> None:
    stale = [out / name for name in FOOL_FILES]
    for folder in FOOL_FOLDERS:
        if (out / folder).is_dir():
            stale += sorted((out / folder).glob("[0-9][0-9][0-9][0-9]_*.png"))
    for path in stale:
        if path not in written and path.is_file():
            try:
                path.unlink()
            except OSError as exc:  # the new run is written; an old file is a nuisance
                logger.warning("could not remove %s, left by an earlier run: %s", path, exc)
            else:
                logger.info("removed %s, left by an earlier run", path)


def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Classes, those at >= 99% and >= 99.99%, and the median confidence of the records."""
    from chickensaviour.fooling.evolution import confidence_summary

    counts = confidence_summary([r["confidence"] for r in records])
    return {"classes": len(records), "at_99": counts["at_99"], "at_9999": counts["at_9999"],
            "median": round(float(counts["median"]), 6)}


def gallery_order(champions: list[Any], searched: int) -> list[Any]:
    """Few classes (MNIST's ten) in class order; many: the most confident first."""
    if searched <= 20:
        return sorted(champions, key=lambda c: c.index)
    return champions[:GALLERY_CLASSES]


def compared_classes(champions: list[Any], searched: int) -> list[Any]:
    """The classes --compare-gradient optimises: the gallery's, at most ten."""
    return gallery_order(champions, searched)[:COMPARED_CLASSES]


def gallery(champions: list[Any], title: str, searched: int) -> np.ndarray:
    from chickensaviour.fooling.gallery import gallery_image

    shown = gallery_order(champions, searched)
    small = _small(shown)
    return gallery_image(shown, title=title, cell=112 if small else 160,
                         columns=min(len(shown), 5 if small else 8))


def comparison(evolved: list[Any], gradient: list[Any], model: str, encoding: str,
                searched: int) -> np.ndarray:
    """The gallery's evolved champions above gradient ascent's images of the same classes."""
    from chickensaviour.fooling.gallery import gallery_image

    shown = compared_classes(evolved, searched)
    by_class = {c.index: c for c in gradient}
    small = _small(shown)
    cell, columns = (112, min(len(shown), 10)) if small else (128, min(len(shown), 8))
    top = gallery_image(shown, title=f"{model} · evolved ({encoding})", cell=cell,
                        columns=columns)
    bottom = gallery_image([by_class[c.index] for c in shown],
                           title=f"{model} · gradient ascent from noise, "
                                 f"{GRADIENT_STEPS} steps", cell=cell, columns=columns)
    return np.concatenate([top, bottom])


def _small(champions: list[Any]) -> bool:
    """MNIST-sized images: enlarged, more to a row."""
    return all(max(c.image.shape[-2:]) <= SMALL_IMAGE for c in champions)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")[:40] or "class"


def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB ``uint8`` picture as PNG bytes."""
    return encode_bgr(np.ascontiguousarray(rgb[..., ::-1]), ".png")


def animation(frames: list[np.ndarray]) -> bytes:
    return gif_bytes(frames, width=GIF_WIDTH, frame_ms=150, last_ms=2000, colours=255)
