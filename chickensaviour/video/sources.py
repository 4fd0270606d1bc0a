"""Frame sources behind one interface: camera, video file, still image, screen region.

Every source yields BGR ``uint8`` frames ``(H, W, 3)``; ``read()`` returns ``None`` at
the end of a file and raises :class:`SourceError` when a device fails. A video file can
also play as a live camera (:class:`~chickensaviour.video.file_as_camera.FileAsCameraSource`,
``open_source(path, as_camera=True)``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from chickensaviour.errors import ChickenSaviourError, one_line
from chickensaviour.imaging import decode_quietly

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class SourceError(ChickenSaviourError):
    """A source could not be opened or stopped delivering frames."""


class FrameSource(Protocol):
    """What the capture thread reads from.

    ``close()`` is called once and never while a ``read()`` runs, so a source need not
    be thread-safe.

    Optional: ``needs_pacing`` (default ``False``), true for a source whose ``read()``
    returns at once, so the reader must call it at most ``fps`` times a second (a still
    image, the screen); cameras block until their next frame, a file played as a camera
    waits for its frames' times, and files are paced by their consumer. Read it with
    :func:`reader_must_pace`.
    """

    name: str
    is_live: bool  # live sources drop stale frames; files deliver every frame
    fps: float

    def read(self) -> np.ndarray | None:
        """The next BGR frame, or ``None`` when a file has ended."""
        ...

    def close(self) -> None: ...


def reader_must_pace(source: FrameSource) -> bool:
    """Whether the reader must pace ``source.read()`` to ``source.fps`` itself."""
    return bool(getattr(source, "needs_pacing", False))


def open_video_capture(path: str | Path) -> tuple[cv2.VideoCapture, float, np.ndarray]:
    """Open a video file: ``(capture, fps, first frame)``, the capture just past frame 0.

    The rate is the file's when plausible (1..240 fps), else 25. Raises
    :class:`SourceError` for a missing, empty or undecodable file.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise SourceError(f"empty file: {path}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SourceError(f"not a readable video: {path}")
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    first = read_bgr(capture)
    if first is None:
        capture.release()
        raise SourceError(f"no frame could be decoded from {path} (corrupt or not a video)")
    return capture, (fps if 1.0 <= fps <= 240.0 else 25.0), first


def read_bgr(capture: cv2.VideoCapture) -> np.ndarray | None:
    """The capture's next frame as BGR ``uint8`` ``(H, W, 3)``, or ``None`` at the end."""
    ok, frame = capture.read()
    if not ok or frame is None or frame.size == 0:
        return None
    return _as_bgr(frame)


class VideoFileSource:
    """Every frame of a video file, in order."""

    is_live = False
    needs_pacing = False

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        self._capture, self.fps, first = open_video_capture(path)
        self.name = path.name
        self.frame_count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._pending: np.ndarray | None = first

    def read(self) -> np.ndarray | None:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        return read_bgr(self._capture)

    def close(self) -> None:
        self._capture.release()


class StillImageSource:
    """One image, repeated at ``fps`` (a live source: it never ends)."""

    is_live = True
    needs_pacing = True  # read() returns at once

    def __init__(self, path: str | Path, fps: float = 15.0) -> None:
        path = Path(path)
        data = np.fromfile(path, dtype=np.uint8) if path.is_file() else np.empty(0, np.uint8)
        frame = decode_quietly(data) if data.size else None
        if frame is None:
            raise SourceError(f"not a readable image: {path}")
        self.name = path.name
        self.fps = fps
        self._frame = frame

    def read(self) -> np.ndarray | None:
        return self._frame.copy()

    def close(self) -> None:
        pass


class CameraSource:
    """A webcam by index (a live source)."""

    is_live = True
    needs_pacing = False  # read() blocks until the camera's next frame

    def __init__(self, index: int, width: int = 640, height: int = 480) -> None:
        self.name = f"camera {index}"
        self.index = index
        self._size = (width, height)
        self._capture = self._open()
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.index)
        if not capture.isOpened():
            raise SourceError(f"camera {self.index} could not be opened")
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._size[1])
        return capture

    def read(self) -> np.ndarray | None:
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise SourceError(f"camera {self.index} stopped delivering frames")
        return _as_bgr(frame)

    def reopen(self) -> None:
        """Try to open the camera again after a failure (raises if it cannot)."""
        self._capture.release()
        self._capture = self._open()

    def close(self) -> None:
        self._capture.release()


@dataclass(frozen=True)
class ScreenRegion:
    left: int
    top: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise SourceError(f"screen region must have a positive size, got {self}")

    @property
    def geometry(self) -> str:
        """X11's ``WxH+X+Y`` notation, e.g. ``"640x480+0+0"`` or ``"1280x1024-1280+0"``."""
        return f"{self.width}x{self.height}{self.left:+d}{self.top:+d}"


def check_region(region: ScreenRegion, monitors: Sequence[Mapping[str, int]]) -> None:
    """Raise :class:`SourceError` unless ``region`` lies on the screens.

    ``monitors`` is ``mss``'s list: ``[0]`` is the box around every screen, then one
    entry per screen, each a dict with ``left``, ``top``, ``width`` and ``height``.
    """
    screens = [ScreenRegion(m["left"], m["top"], m["width"], m["height"]) for m in monitors]
    if not screens:
        return  # nothing to check against; a bad grab is still reported by read()
    box = screens[0]
    if (box.left <= region.left and box.top <= region.top
            and region.left + region.width <= box.left + box.width
            and region.top + region.height <= box.top + box.height):
        return
    if len(screens) > 2:
        where = (f"the screens ({box.geometry} in all: "
                 f"{', '.join(screen.geometry for screen in screens[1:])})")
    else:
        where = f"the screen ({box.geometry})"
    raise SourceError(f"screen region {region.geometry} does not fit on {where}; "
                      "give screen:X,Y,W,H inside it")


class ScreenSource:
    """A region of the screen, grabbed with ``mss`` (a live source)."""

    is_live = True
    needs_pacing = True  # a grab returns at once

    def __init__(self, region: ScreenRegion | None = None, fps: float = 15.0) -> None:
        try:
            import mss
        except ImportError:
            raise SourceError("screen capture needs the 'mss' package") from None
        try:
            self._grabber = mss.mss()
        except Exception as exc:  # no display, no permission: mss raises its own types
            raise SourceError(f"screen capture is not available here: {exc}") from None
        monitors = list(self._grabber.monitors)
        if region is None:
            monitor = monitors[1 if len(monitors) > 1 else 0]
            region = ScreenRegion(monitor["left"], monitor["top"], monitor["width"],
                                  monitor["height"])
        try:
            check_region(region, monitors)
        except SourceError:
            self._grabber.close()
            raise
        self.region = region
        self.name = f"screen {region.geometry}"
        self.fps = fps

    def read(self) -> np.ndarray | None:
        box = {"left": self.region.left, "top": self.region.top, "width": self.region.width,
               "height": self.region.height}
        try:
            shot = np.asarray(self._grabber.grab(box))
        except Exception as exc:
            raise SourceError(f"screen grab failed: {exc}") from None
        return np.ascontiguousarray(shot[:, :, :3])

    def close(self) -> None:
        self._grabber.close()


def open_source(spec: str, *, still_fps: float = 15.0, as_camera: bool = False) -> FrameSource:
    """Open a source from a user's words (see :func:`_open`); every failure, including
    OpenCV's and the file system's, is a :class:`SourceError`.

    With ``as_camera`` a video file plays as a live camera (real time, newest frame,
    looped: :class:`~chickensaviour.video.file_as_camera.FileAsCameraSource`); cameras,
    the screen and still images open as they would without it.

    Example: ``open_source("clip.mp4", as_camera=True)`` stands in for a 30 fps webcam.
    """
    try:
        return _open(spec, still_fps, as_camera)
    except SourceError:
        raise
    except (cv2.error, OSError, ValueError) as exc:
        raise SourceError(f"cannot open {spec!r}: {one_line(exc)}") from None


SourceKind = Literal["camera", "screen", "image", "video"]


def source_kind(spec: str) -> SourceKind:
    """What a user's words name: ``"0"`` a camera, ``"screen"`` or ``"screen:X,Y,W,H"``
    the screen, a path with an image suffix a still image, anything else a video file."""
    text = spec.strip()
    if re.fullmatch(r"\d{1,2}", text):
        return "camera"
    if text == "screen" or text.startswith("screen:"):
        return "screen"
    return "image" if Path(text).suffix.lower() in IMAGE_SUFFIXES else "video"


def _open(spec: str, still_fps: float, as_camera: bool) -> FrameSource:
    """Open a source from a user's words.

    ``"0"`` -> camera 0; ``"screen"`` or ``"screen:X,Y,W,H"`` -> the screen; a path with
    an image suffix -> that image, repeated; any other path -> a video file (played as a
    live camera when ``as_camera``).
    """
    text = spec.strip()
    kind = source_kind(text)
    if kind == "camera":
        return CameraSource(int(text))
    if kind == "screen":
        region = None
        if text.startswith("screen:"):
            numbers = text.split(":", 1)[1].split(",")
            if len(numbers) != 4 or not all(n.strip().lstrip("-").isdigit() for n in numbers):
                raise SourceError(f"screen region must be screen:X,Y,W,H, got {spec!r}")
            left, top, width, height = (int(n) for n in numbers)
            region = ScreenRegion(left, top, width, height)
        return ScreenSource(region)
    path = Path(text)
    if not path.exists():
        raise SourceError(f"source not found: {spec!r} (give a camera index, a file or 'screen')")
    if kind == "image":
        return StillImageSource(path, still_fps)
    if as_camera:
        # Imported here: file_as_camera builds on this module's helpers.
        from chickensaviour.video.file_as_camera import FileAsCameraSource

        return FileAsCameraSource(path)
    return VideoFileSource(path)


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame
