"""The one place where images cross between OpenCV/numpy and the tensor contract.

Frames and files are BGR ``uint8`` arrays of shape ``(H, W, 3)``; everything else in
the library is float RGB ``(B, 3, H, W)`` in ``[0, 1]``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from chickensaviour.errors import ChickenSaviourError, ImageReadError, one_line

#: File suffixes we can encode; the suffix picks the codec.
WRITABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def bgr_to_tensor(frame: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """Convert a BGR ``uint8`` frame ``(H, W, 3)`` to float RGB ``(1, 3, H, W)`` in ``[0, 1]``."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise ChickenSaviourError("expected a uint8 numpy frame")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ChickenSaviourError(f"expected a frame of shape (H, W, 3), got {frame.shape}")
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
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
    levels = quantize(images.detach()).mul(255.0).round().clamp(0, 255).to(torch.uint8)
    rgb = levels.permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(rgb[:, :, ::-1])


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Round to the 8-bit grid ``k / 255`` (what saving as PNG does), keeping float dtype."""
    return images.clamp(0.0, 1.0).mul(255.0).round().div(255.0)


def read_image(path: str | Path, device: torch.device | str | None = None) -> torch.Tensor:
    """Read an image file as float RGB ``(1, 3, H, W)`` in ``[0, 1]``.

    Grey images become three identical channels; an alpha channel is dropped.
    Raises :class:`ImageReadError` for missing, unreadable or non-image files.
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
    try:
        frame = decode_quietly(data)
    except cv2.error as exc:  # e.g. a header claiming more pixels than OpenCV allows
        raise ImageReadError(f"cannot decode {path}: {one_line(exc)}") from None
    if frame is None or frame.size == 0:
        raise ImageReadError(f"not a readable image (corrupt or unsupported format): {path}")
    return bgr_to_tensor(frame, device=device)


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
    """Encode a BGR ``uint8`` frame to the bytes of a file with the given suffix."""
    suffix = suffix.lower()
    if suffix not in WRITABLE_SUFFIXES:
        raise ChickenSaviourError(
            f"cannot write images with suffix {suffix!r}; use one of {', '.join(WRITABLE_SUFFIXES)}"
        )
    params: list[int] = []
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    ok, buffer = cv2.imencode(suffix, frame, params)
    if not ok:
        raise ChickenSaviourError(f"OpenCV could not encode an image as {suffix}")
    return buffer.tobytes()
