"""chickensaviour: show, live, how easily a neural network is fooled.

The library half of the project (no Qt). Tensor contract everywhere: float RGB
``(B, 3, H, W)`` in ``[0, 1]``; normalisation lives inside the model wrapper.
"""

from __future__ import annotations

__version__ = "0.1.0"
