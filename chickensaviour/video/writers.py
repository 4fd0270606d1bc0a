"""Writing frame streams to GIF or H.264 MP4, all-or-nothing.

Frames go to a hidden temporary file beside the destination (registered with
:func:`chickensaviour.files.register_temporary`, so a signal handler can remove it).
:meth:`VideoWriter.close` finishes it, flushes it to disk, reopens it and counts its
frames, and renames it into place only when the count is right; any failure (a full
disk, an I/O error, Ctrl-C) removes it and leaves an existing file of the same name as
it was. :meth:`VideoWriter.abort` removes it.

MP4s are H.264 (``yuv420p``, even sizes, the index at the front so that browsers and
slide software play them while loading), written with PyAV's bundled FFmpeg. Where PyAV
or its H.264 encoder is missing, OpenCV writes MPEG-4 Part 2 instead and says so.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import IO, Protocol

import cv2
import numpy as np
from PIL import Image

from chickensaviour import files
from chickensaviour.errors import ChickenSaviourError, OperationCancelled, one_line
from chickensaviour.progress import StopFn, check_stop
from chickensaviour.video.codecs import count_frames, gif_frame_ms, h264_encoder

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".gif", ".mp4")
#: ``superfast`` keeps up with a live 1286x480 recording on 2 shared cores (about 60 fps
#: encoded, 13 kB a frame on the bundled clip); crf 23 is x264's default quality.
X264_OPTIONS = {"preset": "superfast", "crf": "23"}


def to_even_size(frame: np.ndarray) -> np.ndarray:
    """Pad an ``(H, W, 3)`` frame by repeating its last row/column to even H and W
    (H.264 in 4:2:0 needs them); frames already even are returned as they are."""
    height, width = frame.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return frame
    return np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


class _Encoder(Protocol):
    def add(self, frame: np.ndarray) -> None: ...
    def finish(self, should_stop: StopFn | None) -> None: ...
    def release(self) -> None: ...


class VideoWriter:
    """Collects BGR ``uint8`` frames of one size and writes a GIF or an H.264 MP4.

    Args:
        path: destination, ``.gif`` or ``.mp4``.
        fps: frames per second of the result, 0.5..120.

    ``close()`` = ``finalize()`` (finish, flush, reopen and count the frames) then
    ``publish()`` (rename into place). Every failure raises a one-line
    :class:`ChickenSaviourError` naming the file, after removing the temporary file;
    ``KeyboardInterrupt``/``SystemExit`` inside the writer remove it too. ``codec`` says
    what an MP4 holds (``"h264"``, or ``"mpeg4"`` from the OpenCV fallback).

    Not thread-safe: one thread owns a writer (see :class:`ui.recorder.Recorder`).

    Example::

        with VideoWriter("clip.mp4", fps=25) as writer:  # an exception aborts it
            for frame in frames:
                writer.write(frame)
        # leaving the block without an error closes (publishes) the file
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise ChickenSaviourError(f"output must end in .gif or .mp4, got {self.path.name!r}")
        if not 0.5 <= fps <= 120:
            raise ChickenSaviourError(f"fps must be in 0.5..120, got {fps}")
        files.check_creatable_file(self.path)
        files.ensure_writable_dir(self.path.parent)
        self.fps = fps
        self.suffix = suffix
        self.codec = "gif" if suffix == ".gif" else "h264" if h264_encoder() else "mpeg4"
        self.temp_path = files.make_temporary(self.path, suffix)
        with files.removed_on_failure(self.temp_path, self.path):
            # Encoders write through this handle, never by name: once the temporary file
            # is removed (abort, a signal handler) nothing can bring it back.
            self._file: IO[bytes] = self.temp_path.open("r+b")
        self.frame_size: tuple[int, int] | None = None
        self.count = 0
        self._encoder: _Encoder | None = None
        self._finalized = False
        self._closed = False

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def write(self, frame: np.ndarray) -> None:
        """Add one BGR ``uint8`` ``(H, W, 3)`` frame; every frame has the first one's size."""
        if self._closed or self._finalized:
            raise ChickenSaviourError("writer is closed")
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ChickenSaviourError(
                f"expected a BGR uint8 frame, got {frame.shape} {frame.dtype}")
        size = (frame.shape[1], frame.shape[0])
        if self.frame_size is not None and size != self.frame_size:
            raise ChickenSaviourError(f"frame size changed from {self.frame_size} to {size}")
        with self._removed_on_failure():
            if self._encoder is None:
                self._encoder = self._open_encoder(size)
                self.frame_size = size
            self._encoder.add(frame)
        self.count += 1

    def finalize(self, *, should_stop: StopFn | None = None) -> None:
        """Finish the temporary file and check it: flushed to disk, reopened, every frame
        there. Nothing is published yet. ``should_stop`` is polled while finishing; when
        it returns True the file is removed and ``OperationCancelled`` raised."""
        if self._closed:
            raise ChickenSaviourError("writer is closed")
        if self._finalized:
            return
        if self.count == 0 or self._encoder is None:
            self.abort()
            raise ChickenSaviourError("no frame was written")
        with self._removed_on_failure():
            check_stop(should_stop, "writing")
            self._encoder.finish(should_stop)
            self._encoder.release()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            check_stop(should_stop, "writing")
            found = count_frames(self.temp_path, self.suffix, gif_frame_ms(self.fps))
            if found != self.count:
                raise ChickenSaviourError(f"wrote {self.count} frames but {found} frames "
                                          "were read back")
        self._finalized = True

    def publish(self) -> Path:
        """Rename the finalized file into place; returns the destination."""
        if self._closed:
            return self.path
        if not self._finalized:
            raise ChickenSaviourError("publish() needs finalize() first")
        with self._removed_on_failure():
            files.publish(self.temp_path, self.path)
        self._closed = True
        width, height = self.frame_size or (0, 0)
        logger.info("wrote %d frames (%s, %dx%d, %g fps) to %s", self.count, self.codec,
                    width, height, self.fps, self.path)
        return self.path

    def close(self, *, should_stop: StopFn | None = None) -> Path:
        """Finish the file, check it and move it into place; returns the destination."""
        if self._closed:
            return self.path
        self.finalize(should_stop=should_stop)
        return self.publish()

    def abort(self) -> None:
        """Drop everything written so far; no file is left behind. Safe to call twice."""
        self._closed = True
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            encoder.release()
        with contextlib.suppress(OSError):
            self._file.close()
        files.discard_temporary(self.temp_path)

    # -- internals --------------------------------------------------------------------
    @contextlib.contextmanager
    def _removed_on_failure(self) -> Iterator[None]:
        """Any failure inside: remove the temporary file; errors become one line."""
        try:
            yield
        except ChickenSaviourError as exc:
            self.abort()
            if isinstance(exc, OperationCancelled) or str(self.path) in str(exc):
                raise
            raise ChickenSaviourError(f"cannot write {self.path}: {exc}") from None
        except Exception as exc:
            self.abort()
            raise ChickenSaviourError(f"cannot write {self.path}: {one_line(exc)}") from exc
        except BaseException:  # KeyboardInterrupt, SystemExit: clean up and let it go
            self.abort()
            raise

    def _open_encoder(self, size: tuple[int, int]) -> _Encoder:
        if self.codec == "gif":
            return _GifEncoder(self._file, self.fps)
        encoder = h264_encoder()
        if encoder is not None:
            return _PyAVEncoder(self._file, self.fps, size, encoder)
        logger.warning("PyAV with an H.264 encoder is not available (pip install av): "
                       "writing MPEG-4 Part 2 with OpenCV, which browsers may not play")
        return _OpenCVEncoder(self.temp_path, self.fps, size)


class _GifEncoder:
    """Quantizes each frame as it comes; the file is written at the end (PIL cannot append)."""

    def __init__(self, handle: IO[bytes], fps: float) -> None:
        self._handle = handle
        self._frame_ms = gif_frame_ms(fps)
        self._frames: list[Image.Image] = []

    def add(self, frame: np.ndarray) -> None:
        # An adaptive palette per frame keeps photos looking like photos in GIF. The
        # octree keeps small saturated details (eyes, the block) that median cut greys
        # out, and is about 20x faster (6 vs 110 ms for a 960x480 frame).
        rgb = Image.fromarray(np.ascontiguousarray(frame[:, :, ::-1]))
        self._frames.append(rgb.quantize(colors=255, method=Image.Quantize.FASTOCTREE,
                                         dither=Image.Dither.NONE))

    def finish(self, should_stop: StopFn | None) -> None:
        first, *rest = self._frames

        def polled() -> Iterator[Image.Image]:  # PIL walks these first: a place to stop
            for frame in rest:
                check_stop(should_stop, "writing")
                yield frame

        first.save(self._handle, format="GIF", save_all=True, append_images=polled(),
                   duration=self._frame_ms, loop=0, optimize=False, disposal=1)

    def release(self) -> None:
        self._frames = []


class _PyAVEncoder:
    """H.264 in MP4 through PyAV; frames are encoded as they come."""

    def __init__(self, handle: IO[bytes], fps: float, size: tuple[int, int],
                 encoder: str) -> None:
        import av

        self._av = av
        rate = Fraction(fps).limit_denominator(1001)
        self._sink = _Sink(handle)
        self._container = av.open(self._sink, mode="w", format="mp4",
                                  options={"movflags": "+faststart"})
        try:
            stream = self._container.add_stream(encoder, rate=rate)
            stream.width, stream.height = size[0] + size[0] % 2, size[1] + size[1] % 2
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = 1 / rate
            # FFmpeg converts BGR with BT.601 in limited range; saying so keeps players
            # from assuming BT.709 for HD sizes and shifting the colours.
            with contextlib.suppress(AttributeError, TypeError, ValueError):
                context = stream.codec_context
                context.colorspace = context.color_primaries = context.color_trc = 6
                context.color_range = 1  # smpte170m (BT.601), limited ("tv") range
            if encoder == "libx264":
                stream.options = dict(X264_OPTIONS)
            else:  # openh264 has no constant-quality mode: about 0.1 bit a pixel
                stream.bit_rate = max(200_000, int(size[0] * size[1] * fps * 0.1))
        except BaseException:
            self.release()
            raise
        self._stream = stream
        self._next_pts = 0

    def add(self, frame: np.ndarray) -> None:
        picture = self._av.VideoFrame.from_ndarray(
            np.ascontiguousarray(to_even_size(frame)), format="bgr24")
        picture.pts = self._next_pts
        self._next_pts += 1
        self._container.mux(self._stream.encode(picture))

    def finish(self, should_stop: StopFn | None) -> None:
        self._container.mux(self._stream.encode(None))  # the frames still in the encoder
        check_stop(should_stop, "writing")
        self._container.close()  # writes the index and moves it to the front

    def release(self) -> None:
        self._sink.broken = True  # finished or failed: closing must not write again
        with contextlib.suppress(Exception):
            self._container.close()


class _Sink:
    """The temporary file as FFmpeg sees it. After the first failed write or seek it
    drops all further I/O: FFmpeg retries (a seek, the trailer on close) would fail
    again, and PyAV prints a traceback to stderr when a second error meets the first."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        # Moving the index to the front, FFmpeg reopens the file by this name to read it.
        self.name = str(handle.name)
        self.broken = False

    def write(self, data: bytes) -> int:
        if self.broken:
            return len(data)
        try:
            return self._handle.write(data)
        except OSError:
            self.broken = True
            raise

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if self.broken:
            return 0
        try:
            return self._handle.seek(offset, whence)
        except OSError:
            self.broken = True
            raise

    def tell(self) -> int:
        return 0 if self.broken else self._handle.tell()


class _OpenCVEncoder:
    """The fallback: MPEG-4 Part 2 through OpenCV, which writes by file name."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self._writer: cv2.VideoWriter | None = cv2.VideoWriter(
            str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
        if not self._writer.isOpened():
            raise ChickenSaviourError("OpenCV cannot write MP4 files on this system")

    def add(self, frame: np.ndarray) -> None:
        assert self._writer is not None
        self._writer.write(frame)  # silent on errors: close() counts the frames back

    def finish(self, should_stop: StopFn | None) -> None:
        self.release()

    def release(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
