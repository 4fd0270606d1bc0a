"""The one place where images cross between OpenCV/numpy and the tensor contract.

Frames and files are BGR ``uint8`` arrays of shape ``(H, W, 3)``; everything else in
the library is float RGB ``(B, 3, H, W)`` in ``[0, 1]``.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from chickensaviour.errors import ChickenSaviourError, ImageReadError, one_line

#: Images with more pixels than this (150 MP, e.g. 15000x10000) are refused before
#: decoding: decoding alone would take 0.45 GB and every float copy 1.8 GB. (Pillow, which
#: reads the header, refuses above 179 MP itself.)
MAX_IMAGE_PIXELS = 150_000_000

#: File suffixes we can encode; the suffix picks the codec.
WRITABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
#: Largest side each format can store (OpenCV refuses larger ones without a reason).
_ENCODE_SIDE_LIMITS = {".webp": 16383, ".jpg": 65535, ".jpeg": 65535}


def bgr_to_tensor(frame: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """Convert a BGR ``uint8`` frame ``(H, W, 3)`` to float RGB ``(1, 3, H, W)`` in ``[0, 1]``."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise ChickenSaviourError("expected a uint8 numpy frame")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ChickenSaviourError(f"expected a frame of shape (H, W, 3), got {frame.shape}")
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # 3x faster than a numpy flip + copy
    tensor = torch.from_numpy(rgb).to(device=device).permute(2, 0, 1).unsqueeze(0)
    return tensor.float().div_(255.0)


def tensor_to_bgr(images: torch.Tensor) -> np.ndarray:
    """Convert float RGB ``(1, 3, H, W)`` or ``(3, H, W)`` in ``[0, 1]`` to a BGR ``uint8`` frame.

    Values are rounded to the nearest 8-bit level (the same rounding as :func:`quantize`).
    """
    if images.ndim == 4:
        if images.shape[0] != 1:
            raise ChickenSaviourError(f"expected a single image, got a batch of {images.shape[0]}")
        images = images[0]
    if images.ndim != 3 or images.shape[0] != 3:
        raise ChickenSaviourError(f"expected an RGB tensor (3, H, W), got {tuple(images.shape)}")
    # Per channel in numpy, then one interleaving merge: 4x faster at 640x480 than
    # rounding in torch and copying a flipped, permuted view (6.0 -> 1.6 ms on 2 cores).
    planes = images.detach().cpu().numpy()
    return cv2.merge([np.rint(np.clip(planes[c], 0.0, 1.0) * 255.0).astype(np.uint8)
                      for c in (2, 1, 0)])


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Round to the 8-bit grid ``k / 255`` (what saving as PNG does), keeping float dtype."""
    return images.clamp(0.0, 1.0).mul(255.0).round().div(255.0)


def read_image(path: str | Path, device: torch.device | str | None = None) -> torch.Tensor:
    """Read an image file as float RGB ``(1, 3, H, W)`` in ``[0, 1]``.

    Grey images become three identical channels; an alpha channel is dropped.
    Raises :class:`ImageReadError` for missing, unreadable or non-image files, and for
    images over :data:`MAX_IMAGE_PIXELS`.
    """
    return bgr_to_tensor(read_frame(path), device=device)


def read_frame(path: str | Path) -> np.ndarray:
    """Read an image file as a BGR ``uint8`` frame ``(H, W, 3)`` (see :func:`read_image`).

    The size in the file's header is checked before decoding, so a photo over
    :data:`MAX_IMAGE_PIXELS` is refused in one line instead of exhausting memory.
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"image not found: {path}")
    if not path.is_file():
        raise ImageReadError(f"not a file: {path}")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data.size == 0:
        raise ImageReadError(f"empty file: {path}")
    _check_pixel_count(path, data)
    try:
        frame = decode_quietly(data)
    except cv2.error as exc:  # e.g. a header claiming more pixels than OpenCV allows
        raise ImageReadError(f"cannot decode {path}: {one_line(exc)}") from None
    if frame is None or frame.size == 0:
        raise ImageReadError(f"not a readable image (corrupt or unsupported format): {path}")
    return frame


def _check_pixel_count(path: Path, data: np.ndarray) -> None:
    """Refuse an image over :data:`MAX_IMAGE_PIXELS` from its header (Pillow reads no
    pixels); formats Pillow does not know are left to OpenCV."""
    from PIL import Image

    limit = f"images up to {MAX_IMAGE_PIXELS / 1e6:.0f} MP can be read; shrink it first"
    try:
        with warnings.catch_warnings():  # Pillow's own "decompression bomb" warning
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data.tobytes())) as picture:
                width, height = picture.size
    except Image.DecompressionBombError:  # Pillow's own, higher limit
        raise ImageReadError(f"{path} is more than {MAX_IMAGE_PIXELS / 1e6:.0f} MP: "
                             f"{limit}") from None
    except Exception:  # unknown format, broken header: OpenCV decides
        return
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageReadError(f"{path} is {width}x{height} pixels ({width * height / 1e6:.0f} "
                             f"MP): {limit}")


def shrink_to_pixels(frame: np.ndarray, max_pixels: int) -> np.ndarray:
    """``frame`` itself if it has at most ``max_pixels`` pixels, else a copy shrunk (area
    averaging, same aspect ratio) to fit; the commands that work at full resolution use
    it to keep memory bounded."""
    height, width = frame.shape[:2]
    if height * width <= max_pixels:
        return frame
    scale = math.sqrt(max_pixels / (height * width))
    size = (max(1, math.floor(width * scale)), max(1, math.floor(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def decode_quietly(data: np.ndarray) -> np.ndarray | None:
    """``cv2.imdecode`` without libpng/libjpeg warnings on stderr (errors still raise)."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        with _stderr_silenced():
            return cv2.imdecode(data, cv2.IMREAD_COLOR)
    finally:
        cv2.utils.logging.setLogLevel(previous)


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null (C libraries print there directly)."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def decode_image(data: bytes) -> torch.Tensor:
    """The bytes of an image file -> float RGB ``(1, 3, H, W)`` (what a reader of it sees)."""
    frame = decode_quietly(np.frombuffer(data, dtype=np.uint8))
    if frame is None:
        raise ImageReadError("not a readable image")
    return bgr_to_tensor(frame)


def encode_image(images: torch.Tensor, suffix: str = ".png") -> bytes:
    """Encode one float RGB image to the bytes of a file with the given suffix."""
    return encode_bgr(tensor_to_bgr(images), suffix)


def encode_bgr(frame: np.ndarray, suffix: str = ".png") -> bytes:
    """Encode a BGR ``uint8`` frame ``(H, W, 3)`` (or grey ``(H, W)``, BGRA ``(H, W, 4)``)
    to the bytes of a file with the given suffix.

    Every failure is one :class:`ChickenSaviourError` line: a bad frame, a suffix that is
    not an image format, a size the format cannot hold (WebP 16383, JPEG 65535 pixels).
    """
    suffix = suffix.lower()
    if suffix not in WRITABLE_SUFFIXES:
        raise ChickenSaviourError(
            f"cannot write images with suffix {suffix!r}; use one of {', '.join(WRITABLE_SUFFIXES)}"
        )
    if (not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.size == 0
            or frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] not in (1, 3, 4))):
        shape = getattr(frame, "shape", None)
        raise ChickenSaviourError(
            f"cannot encode an image of shape {shape} and type {getattr(frame, 'dtype', None)}; "
            "expected BGR uint8 (H, W, 3)")
    height, width = frame.shape[:2]
    limit = _ENCODE_SIDE_LIMITS.get(suffix)
    if limit is not None and max(height, width) > limit:
        raise ChickenSaviourError(f"cannot write a {width}x{height} image as {suffix}: the "
                                  f"format allows at most {limit} pixels a side; use .png")
    params: list[int] = []
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    try:
        ok, buffer = cv2.imencode(suffix, frame, params)
    except cv2.error as exc:
        raise ChickenSaviourError(
            f"cannot encode a {width}x{height} image as {suffix}: {one_line(exc)}") from None
    if not ok or buffer.size == 0:
        raise ChickenSaviourError(f"OpenCV could not encode a {width}x{height} image as {suffix}")
    return buffer.tobytes()
