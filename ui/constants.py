"""Constants shared by the live app's modules; importing this pulls in nothing else.

It exists so that modules which need the same number (the eps slider and ``--eps``, the
GIF size of recordings and of ``main.py``'s fallback render) import it from here instead
of from each other, which made import cycles (``ui.controls`` importing ``ui.app``).
"""

from __future__ import annotations

EPS_MAX = 64
"""The largest ghost budget, in 1/255 units: the eps slider's range and ``--eps``'s."""

GIF_WIDTH = 800
"""Width in pixels of the GIFs the app writes (recordings, the no-display render):
GIFs are scaled down because a palette per frame is costly at full size."""

LIVE_OUT_DIR = "out/live"
"""The default folder for the window's snapshots and recordings (``--out``)."""
