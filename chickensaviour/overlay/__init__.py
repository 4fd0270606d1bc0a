"""Putting adversarial pixels onto tracked regions: compositing, blocks, ghosts."""

from __future__ import annotations
