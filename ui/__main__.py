"""``python -m ui``: the live before|after window (see :mod:`ui.app`)."""

from __future__ import annotations

import sys

from ui.app import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
