"""``python -m chickensaviour`` is the CLI."""

from __future__ import annotations

import sys

from chickensaviour.cli.main import main

sys.exit(main())
