"""What the commands share for long runs: a progress bar, and animated GIFs of frames."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from PIL import Image


@contextmanager
def progress_bar(total: int, what: str, *, unit: str = "step", value: str = "objective",
                 value_format: str = ".3g") -> Iterator[Callable[[int, int, float], None]]:
    """A progress bar on stderr for the library's ``progress(done, total, value)``
    callbacks (the value shown as ``value=...``), closed however the run ends."""
    with tqdm_bar(total, what, unit) as bar:
        def update(done: int, _total: int, current: float) -> None:
            bar.update(done - bar.n)
            bar.set_postfix({value: format(current, value_format)})

        yield update


def tqdm_bar(total: int, what: str, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=what, file=sys.stderr, dynamic_ncols=True)


def gif_bytes(frames: Sequence[np.ndarray], *, width: int, frame_ms: int, last_ms: int,
              colours: int = 256) -> bytes:
    """RGB ``uint8`` frames ``(H, W, 3)`` as a looping GIF, shrunk to ``width`` at most,
    the last frame held for ``last_ms``."""
    pictures = []
    for array in frames:
        picture = Image.fromarray(array)
        if picture.width > width:
            picture = picture.resize((width, round(picture.height * width / picture.width)),
                                     Image.Resampling.LANCZOS)
        pictures.append(picture.quantize(colors=colours, method=Image.Quantize.FASTOCTREE))
    buffer = io.BytesIO()
    durations = [frame_ms] * (len(pictures) - 1) + [last_ms]
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:],
                     duration=durations, loop=0)
    return buffer.getvalue()
