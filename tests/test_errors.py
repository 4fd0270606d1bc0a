from __future__ import annotations

from chickensaviour.errors import one_line


def test_one_line_prefers_strerror_then_opencv_last_line_then_first_line() -> None:
    assert one_line(PermissionError(13, "Permission denied")) == "Permission denied"
    opencv = RuntimeError("OpenCV(5.0.0) loadsave.cpp:79: error:\n(-215) pixels too many")
    assert one_line(opencv) == "(-215) pixels too many"
    assert one_line(RuntimeError("out of memory\n  at frame 3")) == "out of memory"
    assert one_line(MemoryError()) == "MemoryError"
