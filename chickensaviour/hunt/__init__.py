"""Finding and following what the hunter looks for: detections, localisers, tracking."""

from __future__ import annotations
