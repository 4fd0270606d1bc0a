"""The PyQt6 before/after window (the only package that imports Qt).

Filled by the live-overlay issue; it imports ``chickensaviour``, never the reverse.
"""
