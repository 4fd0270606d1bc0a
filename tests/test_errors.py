from __future__ import annotations

from chickensaviour.errors import one_line


def test_one_line_prefers_strerror_then_opencv_last_line_then_first_line() -> None:
    assert one_line(PermissionError(13, "Permission denied")) == "Permission denied"
    opencv = RuntimeError("OpenCV(5.0.0) loadsave.cpp:79: error:\n(-215) pixels too many")
    assert one_line(opencv) == "(-215) pixels too many"
    assert one_line(RuntimeError("out of memory\n  at frame 3")) == "out of memory"
    assert one_line(MemoryError()) == "MemoryError"


#: Internal invariants, not user input: the GIF block walker's ValueError is caught and
#: turned into one line by ``count_frames``.
NOT_YET_SWEPT = ("video/codecs.py",)


def test_user_input_errors_use_the_projects_error_type() -> None:
    """No plain ``raise ValueError``: bad input raises ChickenSaviourError (or a subclass),
    which the CLI and the app turn into one line. It subclasses ValueError, so callers
    catching ValueError still work."""
    import ast
    from pathlib import Path

    import chickensaviour

    package = Path(chickensaviour.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith(NOT_YET_SWEPT):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                call = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(call, ast.Name) and call.id == "ValueError":
                    found.append(f"{relative}:{node.lineno}")
    assert found == []
