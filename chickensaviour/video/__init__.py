"""Frame sources (camera, video file, still image, screen) and the capture thread."""

from __future__ import annotations
