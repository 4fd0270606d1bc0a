"""Bundled data (NanoDet weights, sample photos and clip), read as package data.

Files are found with :mod:`importlib.resources`, so they are there whether the package
runs from a checkout, an editable install or a wheel installed anywhere. Example:
``bundled("samples", "chelsea.png")``.
"""

from __future__ import annotations

import atexit
import contextlib
from importlib import resources
from pathlib import Path

from chickensaviour.errors import ChickenSaviourError

_extracted = contextlib.ExitStack()  # files unpacked from a zip install live until exit
atexit.register(_extracted.close)

SAMPLE_PHOTOS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png")


def bundled(*parts: str) -> Path:
    """The real path of a bundled file, e.g. ``bundled("nanodet", "nanodet_coco.pt")``."""
    resource = resources.files(__package__).joinpath(*parts)
    if not resource.is_file():
        raise ChickenSaviourError(
            f"bundled file {'/'.join(parts)} is missing from the installed package; "
            "reinstall chickensaviour")
    return Path(_extracted.enter_context(resources.as_file(resource)))


def sample(name: str) -> Path:
    """A bundled sample photo or clip by file name (``"chelsea.png"``)."""
    return bundled("samples", name)
