"""Differentiable geometric transforms on float RGB ``(B, 3, H, W)`` images.

Pixel coordinates are ``(x, y)`` with the origin at the top-left *edge* of the image, so an
``H x W`` image spans ``[0, W] x [0, H]`` and pixel ``(i, j)`` has its centre at
``(j + 0.5, i + 0.5)``. Positive angles rotate counter-clockwise as displayed. Whole-image
ops keep the size and act about the image centre; every op returns exactly its input at its
identity setting (also per sample in a mixed batch), with the op's own gradients.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.geometry.transform import get_perspective_transform, warp_perspective
from torch import Tensor, nn

from chickensaviour.errors import ChickenSaviourError

PADDING_MODES = ("zeros", "border", "reflection")
#: Largest side of the square the coverage mask is sampled from (pixels).
MASK_LIMIT = 2048


def _check_images(images: Tensor, name: str = "images") -> None:
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ChickenSaviourError(f"{name} must be a (B, 3, H, W) tensor, got {shape}")
    if not images.is_floating_point():
        raise ChickenSaviourError(f"{name} must be floating point, got {images.dtype}")


def _per_sample(value: Tensor | float, images: Tensor, name: str) -> Tensor:
    """``value`` as a ``(B,)`` tensor in the images' dtype and device (floats broadcast)."""
    batch = images.shape[0]
    if not isinstance(value, Tensor):
        return images.new_full((batch,), float(value))
    if value.ndim > 1 or (value.ndim == 1 and value.shape[0] not in (1, batch)):
        raise ChickenSaviourError(
            f"{name} must be a float or a ({batch},) tensor, got {tuple(value.shape)}")
    return value.to(images.dtype).to(images.device).reshape(-1).expand(batch)


def _per_sample_points(value: Tensor, images: Tensor, points: int, name: str) -> Tensor:
    """``value`` of shape ``(B, points, 2)`` in the images' dtype and device."""
    if not isinstance(value, Tensor) or tuple(value.shape) != (images.shape[0], points, 2):
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ChickenSaviourError(
            f"{name} must have shape ({images.shape[0]}, {points}, 2), got {shape}")
    return value.to(images.dtype).to(images.device)


def _exact_identity(identity: Tensor, images: Tensor, out: Tensor) -> Tensor:
    """``images`` exactly where ``identity`` (B,) holds, ``out`` elsewhere.

    The identity samples take the *value* of ``images`` and the *gradient* of ``out`` (the op's
    own derivative at its identity setting): ``images.detach() + (out - out.detach())`` adds an
    exact zero.
    """
    if not bool(identity.any()):
        return out
    exact = images.detach() + (out - out.detach())
    return torch.where(identity.view(-1, 1, 1, 1), exact, out)


def _warp(images: Tensor, matrix: Tensor, identity: Tensor, padding_mode: str) -> Tensor:
    """Warp by the source->destination pixel-centre homography ``matrix`` (B, 3, 3)."""
    if padding_mode not in PADDING_MODES:
        raise ChickenSaviourError(
            f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    if bool(identity.all()) and not matrix.requires_grad:
        return images.clone()  # nothing to sample, no parameter gradient to keep
    out = warp_perspective(images, matrix, tuple(images.shape[-2:]), mode="bilinear",
                           padding_mode=padding_mode, align_corners=True)
    return _exact_identity(identity, images, out)


def _about_centre(images: Tensor, linear: Tensor, shift: Tensor) -> Tensor:
    """3x3 pixel-centre homography ``x -> c + linear (x - c) + shift`` (linear (B,2,2))."""
    height, width = images.shape[-2:]
    centre = images.new_tensor([(width - 1) / 2, (height - 1) / 2])
    offset = centre - linear @ centre + shift  # (B, 2)
    top = torch.cat([linear, offset.unsqueeze(-1)], dim=-1)
    bottom = images.new_tensor([0.0, 0.0, 1.0]).expand(images.shape[0], 1, 3)
    return torch.cat([top, bottom], dim=1)


def _edge_corners(width: float, height: float, like: Tensor) -> Tensor:
    """Pixel-edge corners TL, TR, BR, BL of a ``width x height`` image, as (1, 4, 2)."""
    return like.new_tensor([[[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]]])


def warp_patch(images: Tensor, patch: Tensor, corners: Tensor) -> tuple[Tensor, Tensor]:
    """Paste ``patch`` into ``images`` with its corners at ``corners`` (perspective, bilinear).

    Shapes: images (B, 3, H, W); patch (1 or B, 3, h, w); corners (B, 4, 2) destination pixel
    ``(x, y)`` of the patch's top-left, top-right, bottom-right and bottom-left corners (pixel
    edges: corners ``(0, 0), (w, 0), (w, h), (0, h)`` on a ``w x h`` image reproduce the patch).
    Returns ``(images * (1 - mask) + warped * mask, mask)``, mask (B, 1, H, W) in [0, 1] with
    anti-aliased edges. Differentiable w.r.t. images, patch and corners.

    Example: ``out, mask = warp_patch(frames, patch, square_corners(c, side, angle))``.
    """
    _check_images(images)
    _check_images(patch, "patch")
    batch = images.shape[0]
    if patch.shape[0] not in (1, batch):
        raise ChickenSaviourError(f"patch batch must be 1 or {batch}, got {patch.shape[0]}")
    corners = _per_sample_points(corners, images, 4, "corners")
    patch = patch.to(images.dtype).expand(batch, -1, -1, -1)
    h, w = patch.shape[-2:]
    # kornia works in pixel-centre coordinates: shift the edge-convention corners by half a pixel.
    source = (_edge_corners(w, h, corners) - 0.5).expand(batch, -1, -1)
    matrix = get_perspective_transform(source, corners - 0.5)
    size = tuple(images.shape[-2:])
    # The colour is sampled with border padding and the coverage separately, so edge pixels
    # are not darkened twice by composite = images * (1 - mask) + warped * mask.
    warped = _homography_sample(patch, matrix, size, "border", corners)
    # The coverage comes from a square of ones at (at least) the destination's resolution,
    # so its antialiased edge is about one destination pixel wide; sampled at the patch's
    # own resolution, an enlarged patch's edge would fade over one patch pixel (5 px for an
    # 8 px patch drawn 40 px wide).
    edges = (corners - corners.roll(1, dims=1)).norm(dim=-1).detach()
    side = int(min(MASK_LIMIT, max(h, w, math.ceil(float(edges.max())))))
    mask_source = (_edge_corners(side, side, corners) - 0.5).expand(batch, -1, -1)
    mask_matrix = get_perspective_transform(mask_source, corners - 0.5)
    ones = patch.new_ones(batch, 1, side, side)
    mask = _homography_sample(ones, mask_matrix, size, "zeros", corners)
    mask = mask.clamp(0.0, 1.0)
    return images * (1 - mask) + warped * mask, mask


def _homography_sample(source: Tensor, matrix: Tensor, size: tuple[int, ...], padding_mode: str,
                       corners: Tensor) -> Tensor:
    """``source`` (B, C, h, w) seen through the source->destination pixel-centre homography
    ``matrix`` (B, 3, 3) on a ``size`` destination, bilinear.

    Written out rather than kornia's ``warp_perspective``: with a strong tilt the
    homography's horizon can cross the destination, where the projective division by ~0
    gives infinite sampling coordinates and NaN pixels (and NaN gradients). Here points on
    the far side of the horizon, or at it, sample outside the source, and coordinates are
    bounded, so the warp stays finite everywhere.
    """
    batch, _, src_h, src_w = source.shape
    height, width = size[-2], size[-1]
    inverse = torch.linalg.inv(matrix)  # destination -> source
    # The side of the horizon the patch lies on: the sign of w at the quad's centre.
    centre = torch.cat([corners.mean(dim=1) - 0.5, corners.new_ones(batch, 1)], dim=1)
    sign = torch.sign((inverse[:, 2] * centre).sum(dim=1)).detach()
    inverse = inverse * torch.where(sign == 0, torch.ones_like(sign), sign).view(-1, 1, 1)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=source.dtype, device=source.device),
                            torch.arange(width, dtype=source.dtype, device=source.device),
                            indexing="ij")
    points = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).view(1, -1, 3)
    mapped = points @ inverse.transpose(1, 2)  # (B, H*W, 3)
    depth = mapped[..., 2]
    front = depth > 1e-6
    safe = torch.where(front, depth, torch.ones_like(depth))
    outside = -4.0  # normalised coordinate well outside the source
    gx = torch.where(front, 2 * mapped[..., 0] / safe / max(src_w - 1, 1) - 1,
                     torch.full_like(depth, outside)).clamp(-4.0, 4.0)
    gy = torch.where(front, 2 * mapped[..., 1] / safe / max(src_h - 1, 1) - 1,
                     torch.full_like(depth, outside)).clamp(-4.0, 4.0)
    grid = torch.stack([gx, gy], dim=-1).view(batch, height, width, 2)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode=padding_mode,
                         align_corners=True)


def square_corners(centre: Tensor, side: Tensor, angle: Tensor) -> Tensor:
    """Corners TL, TR, BR, BL (B, 4, 2) of a square of ``side`` pixels at ``centre`` (B, 2),
    rotated by ``angle`` (B,) radians counter-clockwise as displayed.

    Example: ``square_corners(torch.tensor([[8.0, 8.0]]), torch.tensor([16.0]), torch.zeros(1))``.
    """
    if not isinstance(centre, Tensor) or centre.ndim != 2 or centre.shape[1] != 2:
        raise ChickenSaviourError(
            f"centre must have shape (B, 2), got {getattr(centre, 'shape', centre)}")
    batch = centre.shape[0]
    for name, value in (("side", side), ("angle", angle)):
        if not isinstance(value, Tensor) or tuple(value.shape) != (batch,):
            raise ChickenSaviourError(f"{name} must have shape ({batch},), got "
                                      f"{getattr(value, 'shape', value)}")
    if bool((side <= 0).any()):
        raise ChickenSaviourError("side must be positive")
    unit = centre.new_tensor([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Counter-clockwise as displayed with y down: (x, y) -> (x cos + y sin, -x sin + y cos).
    rotation = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)
    offsets = unit @ rotation.transpose(-1, -2) * side.view(-1, 1, 1)
    return centre.unsqueeze(1) + offsets


def tilt_corners(corners: Tensor, offsets: Tensor) -> Tensor:
    """Move each corner by ``offsets * side`` (a perspective tilt of a placed patch).

    Shapes: corners (B, 4, 2), offsets (B, 4, 2) fractions of the side, where the side is the
    mean of the quadrilateral's four edge lengths. Offsets 0 return ``corners`` exactly.
    Example: ``tilt_corners(corners, 0.1 * torch.randn(B, 4, 2))``.
    """
    if not isinstance(corners, Tensor) or corners.ndim != 3 or corners.shape[1:] != (4, 2):
        raise ChickenSaviourError(f"corners must have shape (B, 4, 2), got "
                                  f"{getattr(corners, 'shape', corners)}")
    if not isinstance(offsets, Tensor) or offsets.shape != corners.shape:
        raise ChickenSaviourError(f"offsets must have shape {tuple(corners.shape)}, got "
                                  f"{getattr(offsets, 'shape', offsets)}")
    edges = corners.roll(-1, dims=1) - corners
    side = edges.norm(dim=-1).mean(dim=1)
    return corners + offsets * side.view(-1, 1, 1)


def rotate(images: Tensor, angle: Tensor | float, *, padding_mode: str = "zeros") -> Tensor:
    """Rotate about the image centre by ``angle`` (B,) radians, counter-clockwise as displayed.

    Shape (B, 3, H, W) -> same. Example: ``rotate(x, torch.full((B,), math.pi / 2))``.
    """
    _check_images(images)
    angle = _per_sample(angle, images, "angle")
    cos, sin = torch.cos(angle), torch.sin(angle)
    linear = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)
    matrix = _about_centre(images, linear, torch.zeros_like(linear[:, 0]))
    return _warp(images, matrix, angle == 0, padding_mode)


def scale(images: Tensor, factor: Tensor | float, *, padding_mode: str = "zeros") -> Tensor:
    """Zoom about the image centre by ``factor`` (B,) > 0 (2 = twice as large), same size.

    Example: ``scale(x, torch.tensor([0.8, 1.25]))``.
    """
    _check_images(images)
    factor = _per_sample(factor, images, "factor")
    if bool((factor <= 0).any()):
        raise ChickenSaviourError("scale factor must be positive")
    eye = torch.eye(2, dtype=images.dtype, device=images.device)
    linear = factor.view(-1, 1, 1) * eye
    matrix = _about_centre(images, linear, torch.zeros_like(linear[:, 0]))
    return _warp(images, matrix, factor == 1, padding_mode)


def translate(images: Tensor, shift: Tensor, *, padding_mode: str = "zeros") -> Tensor:
    """Move the content by ``shift`` (B, 2) pixels ``(dx, dy)`` (positive: right, down).

    Example: ``translate(x, torch.tensor([[2.0, -1.5]]))``.
    """
    _check_images(images)
    if not isinstance(shift, Tensor) or tuple(shift.shape) != (images.shape[0], 2):
        raise ChickenSaviourError(f"shift must have shape ({images.shape[0]}, 2), got "
                                  f"{getattr(shift, 'shape', shift)}")
    shift = shift.to(images.dtype).to(images.device)
    eye = torch.eye(2, dtype=images.dtype, device=images.device).expand(images.shape[0], 2, 2)
    matrix = _about_centre(images, eye, shift)
    return _warp(images, matrix, (shift == 0).all(dim=1), padding_mode)


def perspective(images: Tensor, offsets: Tensor, *, padding_mode: str = "zeros") -> Tensor:
    """Move the image corners TL, TR, BR, BL by ``offsets`` (B, 4, 2), fractions of (W, H).

    Example: ``perspective(x, torch.tensor([[[0.1, 0.0], [0.0, 0.0], [0.0, 0.0], [0.1, 0.0]]]))``
    narrows the left side.
    """
    _check_images(images)
    offsets = _per_sample_points(offsets, images, 4, "offsets")
    height, width = images.shape[-2:]
    source = _edge_corners(width, height, offsets).expand(images.shape[0], -1, -1)
    target = source + offsets * offsets.new_tensor([width, height])
    matrix = get_perspective_transform(source - 0.5, target - 0.5)
    return _warp(images, matrix, (offsets == 0).flatten(1).all(dim=1), padding_mode)


def roll(images: Tensor, dx: int, dy: int) -> Tensor:
    """Shift by whole pixels, wrapping around (positive: right, down). Exact."""
    _check_images(images)
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in (dx, dy)):
        raise ChickenSaviourError(f"dx and dy must be ints, got {dx!r}, {dy!r}")
    return torch.roll(images, shifts=(dy, dx), dims=(-2, -1))


def pad(images: Tensor, pixels: int, value: float = 0.5) -> Tensor:
    """Add a constant border of ``pixels`` >= 0 on every side: (B, 3, H+2p, W+2p) out."""
    _check_images(images)
    if not isinstance(pixels, int) or isinstance(pixels, bool) or pixels < 0:
        raise ChickenSaviourError(f"pixels must be an int >= 0, got {pixels!r}")
    return F.pad(images, (pixels,) * 4, value=float(value))


def resize(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize to ``size = (height, width)``; the same size returns ``images`` exactly."""
    _check_images(images)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ChickenSaviourError(f"size must be two positive ints (height, width), got {size!r}")
    if tuple(size) == tuple(images.shape[-2:]):
        return images.clone()
    return F.interpolate(images, size=tuple(size), mode="bilinear", align_corners=False)


class Rotate(nn.Module):
    """Module form of :func:`rotate` with a fixed angle in radians."""

    def __init__(self, angle: float, *, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.angle, self.padding_mode = angle, padding_mode

    def forward(self, images: Tensor) -> Tensor:
        return rotate(images, self.angle, padding_mode=self.padding_mode)


class Scale(nn.Module):
    """Module form of :func:`scale` with a fixed factor."""

    def __init__(self, factor: float, *, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.factor, self.padding_mode = factor, padding_mode

    def forward(self, images: Tensor) -> Tensor:
        return scale(images, self.factor, padding_mode=self.padding_mode)
