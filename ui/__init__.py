"""The PyQt6 live before|after window (the only package that imports Qt).

``python -m ui`` or :func:`ui.app.run` opens it; it imports ``chickensaviour``, never
the reverse. Threads (capture, inference, refinement, recording) live in Qt-free modules
(:mod:`ui.workers`, :mod:`ui.recorder`); the window pulls their results on a timer.
"""
