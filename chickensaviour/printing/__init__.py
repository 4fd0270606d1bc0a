"""Printable sheets: a patch as a PDF page at an exact physical size."""

from __future__ import annotations

from chickensaviour.printing.sheet import (
    PAPER_SIZES,
    PRINT_DPI,
    SheetInfo,
    max_patch_size_cm,
    patch_sheet_pdf,
)

__all__ = [
    "PAPER_SIZES",
    "PRINT_DPI",
    "SheetInfo",
    "max_patch_size_cm",
    "patch_sheet_pdf",
]
