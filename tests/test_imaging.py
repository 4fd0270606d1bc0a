from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from chickensaviour.errors import ChickenSaviourError, ImageReadError
from chickensaviour.imaging import (
    MAX_IMAGE_PIXELS,
    bgr_to_tensor,
    encode_image,
    quantize,
    read_frame,
    read_image,
    shrink_to_pixels,
    tensor_to_bgr,
)


def test_bgr_uint8_round_trip_is_exact_and_channels_are_swapped() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    tensor = bgr_to_tensor(frame)
    assert tensor.shape == (1, 3, 5, 7) and tensor.dtype == torch.float32
    assert float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0
    assert torch.allclose(tensor[0, 0], torch.from_numpy(frame[:, :, 2]).float() / 255)
    np.testing.assert_array_equal(tensor_to_bgr(tensor), frame)


def test_tensor_to_bgr_lands_on_the_quantize_grid_for_any_values() -> None:
    """The 8-bit frame shown and saved is exactly the frame the hunter judged
    (``quantize``), out-of-range and non-contiguous tensors included."""
    values = torch.rand(1, 3, 6, 9, generator=torch.Generator().manual_seed(1)) * 1.4 - 0.2
    frame = tensor_to_bgr(values.transpose(2, 3).transpose(2, 3))
    expected = (quantize(values)[0] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(frame, expected[:, :, ::-1])
    assert frame.flags.c_contiguous and frame.dtype == np.uint8


def test_quantize_rounds_to_8_bit_levels() -> None:
    values = torch.tensor([0.0, 0.5 / 255 - 1e-4, 1.6 / 255, 1.2, -0.3])
    assert torch.allclose(quantize(values) * 255, torch.tensor([0.0, 0.0, 2.0, 255.0, 0.0]))


def test_read_image_reads_png_and_grey(tmp_path: Path) -> None:
    grey = np.full((4, 6), 200, dtype=np.uint8)
    import cv2

    cv2.imwrite(str(tmp_path / "g.png"), grey)
    image = read_image(tmp_path / "g.png")
    assert image.shape == (1, 3, 4, 6)
    assert torch.allclose(image, torch.full_like(image, 200 / 255))


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), (b"", "empty file"), (b"\x89PNG\r\n\x1a\nbroken", "not a readable"),
     (b"hello, I am text", "not a readable")],
)
def test_read_image_rejects_bad_files(tmp_path: Path, content: bytes | None,
                                      message: str) -> None:
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match=message):
        read_image(path)


def test_read_image_rejects_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="not a file"):
        read_image(tmp_path)


def test_encode_rejects_unknown_suffix_and_batches() -> None:
    with pytest.raises(ChickenSaviourError, match="suffix"):
        encode_image(torch.zeros(1, 3, 2, 2), ".gifx")
    with pytest.raises(ChickenSaviourError, match="single image"):
        encode_image(torch.zeros(2, 3, 2, 2))


def _png_header(width: int, height: int) -> bytes:
    """The start of a PNG that claims ``width`` x ``height`` RGB pixels (no real data)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize(("width", "height", "message"), [
    (13_000, 12_000, r"13000x12000 pixels \(156 MP\): images up to 150 MP"),
    (20_000, 20_000, r"more than 150 MP: images up to 150 MP"),
])
def test_an_image_too_large_to_decode_is_refused_from_its_header(
        tmp_path: Path, width: int, height: int, message: str) -> None:
    """Such a claim would need 0.5-1.2 GB to decode; it is refused before decoding."""
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header(width, height))
    assert width * height > MAX_IMAGE_PIXELS
    with pytest.raises(ImageReadError, match=message):
        read_frame(path)


def test_shrink_to_pixels_keeps_the_aspect_and_small_frames() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    assert shrink_to_pixels(frame, 300 * 400) is frame
    small = shrink_to_pixels(frame, 10_000)
    height, width = small.shape[:2]
    assert height * width <= 10_000 and small.dtype == np.uint8
    assert abs(width / height - 4 / 3) < 0.03 and width >= 110
