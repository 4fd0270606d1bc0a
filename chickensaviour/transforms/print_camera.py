"""A random print-and-camera simulation for patches that survive the physical world.

Expectation over transformation (Athalye et al. 2018) needs a distribution of the ways a
printed patch can end up in a photo; RP2 (Eykholt et al. 2018) and the adversarial patch
(Brown et al. 2017) use the same idea. :class:`PrintCameraRanges` says how wide each
effect may be, :meth:`PrintCameraSimulation.sample` draws one setting per sample (a
:class:`SimulationDraw`), :meth:`~PrintCameraSimulation.print_patch` turns the digital
patch into the printed sheet, the trainer places the sheet in the scene with the draw's
geometry (``square_corners``, ``tilt_corners``, ``warp_patch``), and
:meth:`~PrintCameraSimulation.capture` films the scene with a cheap webcam.

Example:
    >>> simulation = PrintCameraSimulation(PrintCameraRanges())
    >>> draw = simulation.sample(8, torch.Generator().manual_seed(0))
    >>> sheet = simulation.print_patch(patch, draw)            # (8, 3, h, w)
    >>> photo = simulation.capture(scene_with(sheet), draw, generator)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.transforms.camera import camera_response, sensor_noise, shadow
from chickensaviour.transforms.compression import jpeg
from chickensaviour.transforms.geometry import perspective, square_corners, tilt_corners
from chickensaviour.transforms.photometric import (
    brightness,
    contrast,
    gaussian_blur,
    motion_blur,
)
from chickensaviour.transforms.printer import check_images, print_colours

Range = tuple[float, float]
#: Which way each frame corner (TL, TR, BR, BL) moves when the view zooms in.
_ZOOM_CORNERS = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])


def _check_range(name: str, value: Range, low: float, high: float) -> None:
    if len(value) != 2:
        raise ChickenSaviourError(f"{name} must be a (low, high) pair, got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ChickenSaviourError(f"{name} must be finite, got {value!r}")
    if lo > hi:
        raise ChickenSaviourError(f"{name} is inverted: low {lo} > high {hi}")
    if lo < low or hi > high:
        raise ChickenSaviourError(f"{name} must lie within [{low}, {high}], got {value!r}")


@dataclass(frozen=True)
class PrintCameraRanges:
    """The range of every random effect; each sample draws uniformly inside them.

    Pixel sizes (blur) are for a ``reference_size``-pixel image and scale with the
    captured image's shorter side. :meth:`none` is the purely digital setting (every
    range at its identity), :meth:`full` the defaults below.
    """

    # Printer. Plain office paper reflects ~85-97% (ISO brightness 90-100 copy paper
    # under a webcam's exposure); black toner/ink on uncoated paper has optical density
    # ~0.9-1.5, i.e. reflects 10^-1.5..10^-0.9 = 0.03-0.12.
    paper_white: Range = (0.85, 0.97)
    paper_tint: float = 0.02  # per-channel +- deviation of the paper (optical brighteners)
    black_point: Range = (0.03, 0.12)
    # Uncoated-paper CMYK (e.g. FOGRA29) covers roughly 60-70% of sRGB: saturated screen
    # colours print 0-30% closer to grey.
    ink_saturation: Range = (0.7, 1.0)
    # Light on the sheet: a soft shadow edge (a hand, a head, a window frame) removing
    # up to 35% of the light; offset in half-sheets from the centre.
    shadow_strength: Range = (0.0, 0.35)
    shadow_offset: Range = (-1.0, 1.0)
    # Scene lighting. Brightness +-0.15 is EOT's physical-world additive lighten/darken
    # range (Athalye et al. 2018); contrast narrower than their multiplicative 0.5-2
    # because white balance and gamma below add their own changes.
    brightness: Range = (-0.15, 0.15)
    contrast: Range = (0.75, 1.25)
    # Camera. Auto white balance of cheap webcams misses by a few hundred kelvin under
    # mixed light, +-15% per channel; colour-correction matrices differ between sensors
    # by a few per cent off the diagonal (rows keep summing to 1, so grey stays grey);
    # tone curves between gamma 1.8 and 2.6 against sRGB's 2.2 give ratios 0.8-1.25.
    white_balance: Range = (0.85, 1.15)
    colour_mixing: float = 0.08  # max |off-diagonal| of the colour matrix
    gamma: Range = (0.8, 1.25)
    # Optics at 224 px: defocus up to sigma 1.5 px (autofocus hunting, a sheet held
    # close), motion blur up to 5 px (a hand-held sheet over one 1/30 s exposure).
    defocus_sigma: Range = (0.0, 1.5)
    motion_length: Range = (0.0, 5.0)
    # Sensor: shot-noise std at full scale and read-noise std; a webcam in office light
    # shows 1-4% noise at mid-grey (EOT's Gaussian std up to 0.1 is harsher).
    shot_noise: Range = (0.0, 0.04)
    read_noise: Range = (0.0, 0.015)
    # Compression: webcam MJPEG / video-call frames sit around quality 40-95.
    jpeg_quality: Range = (40.0, 95.0)
    jpeg_probability: float = 0.5
    # Geometry of the sheet in the scene: rotation +-20 deg (EOT 2D uses +-22.5), corner
    # offsets up to 0.12 of the side (perspective tilt of roughly +-25 deg, as in RP2's
    # viewing angles), scale +-15%.
    rotation_degrees: Range = (-20.0, 20.0)
    tilt: float = 0.12
    scale: Range = (0.85, 1.15)
    # The camera's viewpoint on the whole scene (object and sheet together): each frame
    # corner moves up to 0.05 of the frame (a few degrees of camera tilt) and the view
    # zooms in by up to 15 % (the camera a little closer). Scenes whose boxes must stay
    # where they are (a detector's ground truth) use :meth:`PrintCameraRanges.fixed_view`.
    view_tilt: float = 0.05
    view_zoom: Range = (1.0, 1.15)
    reference_size: int = 224

    def __post_init__(self) -> None:
        _check_range("paper_white", self.paper_white, 0.0, 1.0)
        _check_range("black_point", self.black_point, 0.0, 1.0)
        if self.black_point[1] >= self.paper_white[0]:
            raise ChickenSaviourError("black_point must lie below paper_white, got "
                                      f"{self.black_point!r} and {self.paper_white!r}")
        _check_range("ink_saturation", self.ink_saturation, 0.0, 1.0)
        _check_range("shadow_strength", self.shadow_strength, 0.0, 1.0)
        _check_range("shadow_offset", self.shadow_offset, -2.0, 2.0)
        _check_range("brightness", self.brightness, -1.0, 1.0)
        _check_range("contrast", self.contrast, 0.0, 10.0)
        _check_range("white_balance", self.white_balance, 0.0, 10.0)
        _check_range("gamma", self.gamma, 0.05, 20.0)
        _check_range("defocus_sigma", self.defocus_sigma, 0.0, 50.0)
        _check_range("motion_length", self.motion_length, 0.0, 100.0)
        _check_range("shot_noise", self.shot_noise, 0.0, 1.0)
        _check_range("read_noise", self.read_noise, 0.0, 1.0)
        _check_range("jpeg_quality", self.jpeg_quality, 1.0, 100.0)
        _check_range("rotation_degrees", self.rotation_degrees, -180.0, 180.0)
        _check_range("scale", self.scale, 1e-3, 100.0)
        _check_range("view_zoom", self.view_zoom, 1.0, 4.0)
        if self.scale[0] <= 0:
            raise ChickenSaviourError(f"scale must be > 0, got {self.scale!r}")
        for name, value, high in (("paper_tint", self.paper_tint, 0.5),
                                  ("colour_mixing", self.colour_mixing, 0.5),
                                  ("jpeg_probability", self.jpeg_probability, 1.0),
                                  ("tilt", self.tilt, 0.5),
                                  ("view_tilt", self.view_tilt, 0.25)):
            if not 0.0 <= value <= high:
                raise ChickenSaviourError(f"{name} must be in [0, {high}], got {value!r}")
        if self.reference_size < 1:
            raise ChickenSaviourError(f"reference_size must be >= 1, got {self.reference_size}")

    @classmethod
    def none(cls) -> PrintCameraRanges:
        """Every range at its identity: the purely digital setting."""
        return cls(paper_white=(1.0, 1.0), paper_tint=0.0, black_point=(0.0, 0.0),
                   ink_saturation=(1.0, 1.0), shadow_strength=(0.0, 0.0),
                   brightness=(0.0, 0.0), contrast=(1.0, 1.0), white_balance=(1.0, 1.0),
                   colour_mixing=0.0, gamma=(1.0, 1.0), defocus_sigma=(0.0, 0.0),
                   motion_length=(0.0, 0.0), shot_noise=(0.0, 0.0), read_noise=(0.0, 0.0),
                   jpeg_probability=0.0, rotation_degrees=(0.0, 0.0), tilt=0.0,
                   scale=(1.0, 1.0), view_tilt=0.0, view_zoom=(1.0, 1.0))

    def fixed_view(self) -> PrintCameraRanges:
        """The same ranges with the camera's whole-view warp off (the scene's boxes stay
        put: hide patches are judged against the objects' boxes)."""
        return replace(self, view_tilt=0.0, view_zoom=(1.0, 1.0))

    @classmethod
    def full(cls) -> PrintCameraRanges:
        """The documented defaults."""
        return cls()


@dataclass(frozen=True)
class SimulationDraw:
    """One print-and-camera setting per sample; every field has batch size ``B``.

    Geometry (for the trainer's placement): ``rotation`` (B,) radians, ``tilt`` (B, 4, 2)
    corner offsets as fractions of the patch side, ``scale`` (B,) side multiplier.
    Blur sizes are pixels at the ranges' ``reference_size``.
    """

    paper_white: Tensor  # (B, 3)
    black_point: Tensor  # (B, 3)
    ink_saturation: Tensor  # (B,)
    shadow_strength: Tensor  # (B,)
    shadow_angle: Tensor  # (B,) radians
    shadow_offset: Tensor  # (B,)
    brightness: Tensor  # (B,)
    contrast: Tensor  # (B,)
    white_balance: Tensor  # (B, 3)
    colour_matrix: Tensor  # (B, 3, 3)
    gamma: Tensor  # (B,)
    defocus_sigma: Tensor  # (B,) px at reference_size
    motion_length: Tensor  # (B,) px at reference_size
    motion_angle: Tensor  # (B,) radians
    shot_noise: Tensor  # (B,)
    read_noise: Tensor  # (B,)
    jpeg_quality: Tensor  # (B,)
    jpeg_applied: Tensor  # (B,) bool
    rotation: Tensor  # (B,) radians
    tilt: Tensor  # (B, 4, 2) fractions of the side
    scale: Tensor  # (B,)
    view: Tensor  # (B, 4, 2) frame corner offsets, fractions of (W, H): tilt and zoom
    reference_size: int = 224

    def __post_init__(self) -> None:
        batch = self.paper_white.shape[0]
        trailing = {"paper_white": (3,), "black_point": (3,), "white_balance": (3,),
                    "colour_matrix": (3, 3), "tilt": (4, 2), "view": (4, 2)}
        for field in fields(self):
            if field.name == "reference_size":
                continue
            value = getattr(self, field.name)
            expected = (batch, *trailing.get(field.name, ()))
            if not isinstance(value, Tensor) or tuple(value.shape) != expected:
                shape = tuple(value.shape) if isinstance(value, Tensor) else type(value)
                raise ChickenSaviourError(f"{field.name} must be a {expected} tensor, got {shape}")

    @property
    def batch(self) -> int:
        return self.paper_white.shape[0]

    def corners(self, centre: Tensor, side: Tensor | float) -> Tensor:
        """Where the sheet's corners TL, TR, BR, BL land, ``(B, 4, 2)`` pixels.

        A square of ``side * scale`` pixels at ``centre`` ``(B, 2)``, rotated by
        ``rotation`` and tilted by ``tilt``; feed it to ``warp_patch``.
        """
        if centre.ndim != 2 or centre.shape != (self.batch, 2):
            raise ChickenSaviourError(
                f"centre must be ({self.batch}, 2), got {tuple(centre.shape)}")
        side_ = side if isinstance(side, Tensor) else centre.new_full((self.batch,), float(side))
        placed = square_corners(centre, side_ * self.scale.to(centre), self.rotation.to(centre))
        return tilt_corners(placed, self.tilt.to(placed))


def _uniform(generator: torch.Generator | None, shape: tuple[int, ...], value: Range,
             dtype: torch.dtype) -> Tensor:
    device = generator.device if generator is not None else None
    u = torch.rand(shape, generator=generator, dtype=dtype, device=device)
    return value[0] + (value[1] - value[0]) * u  # exactly value[0] when the range is a point


class PrintCameraSimulation:
    """Draws print-and-camera settings and applies them; stateless apart from its ranges.

    Owner: none needed (immutable); randomness comes only from the generator passed in,
    so a seeded generator makes every draw and every noise pattern reproducible.
    """

    def __init__(self, ranges: PrintCameraRanges | None = None) -> None:
        self.ranges = PrintCameraRanges() if ranges is None else ranges

    def __repr__(self) -> str:
        return f"PrintCameraSimulation({self.ranges!r})"

    def sample(self, batch: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None,
               dtype: torch.dtype = torch.float32) -> SimulationDraw:
        """``batch`` independent settings, drawn on the generator's device, moved to ``device``."""
        if batch < 1:
            raise ChickenSaviourError(f"batch must be >= 1, got {batch}")
        r = self.ranges

        def draw(value: Range, *trailing: int) -> Tensor:
            return _uniform(generator, (batch, *trailing), value, dtype)

        full_circle = (-math.pi, math.pi)
        white = draw(r.paper_white, 1) + draw((-r.paper_tint, r.paper_tint), 3)
        off_diagonal = draw((-r.colour_mixing, r.colour_mixing), 3, 3)
        off_diagonal = off_diagonal * (1 - torch.eye(3, dtype=dtype, device=white.device))
        diagonal = 1 - off_diagonal.sum(dim=2)  # rows sum to 1: grey stays grey
        values = {
            "paper_white": white.clamp(*r.paper_white),
            "black_point": draw(r.black_point, 1).expand(batch, 3).contiguous(),
            "ink_saturation": draw(r.ink_saturation),
            "shadow_strength": draw(r.shadow_strength),
            "shadow_angle": draw(full_circle),
            "shadow_offset": draw(r.shadow_offset),
            "brightness": draw(r.brightness),
            "contrast": draw(r.contrast),
            "white_balance": draw(r.white_balance, 3),
            "colour_matrix": off_diagonal + torch.diag_embed(diagonal),
            "gamma": draw(r.gamma),
            "defocus_sigma": draw(r.defocus_sigma),
            "motion_length": draw(r.motion_length),
            "motion_angle": draw((0.0, math.pi)),
            "shot_noise": draw(r.shot_noise),
            "read_noise": draw(r.read_noise),
            "jpeg_quality": draw(r.jpeg_quality).round(),
            "jpeg_applied": draw((0.0, 1.0)) < r.jpeg_probability,
            "rotation": draw(r.rotation_degrees) * (math.pi / 180),
            "tilt": draw((-r.tilt, r.tilt), 4, 2),
            "scale": draw(r.scale),
            "view": draw((-r.view_tilt, r.view_tilt), 4, 2)
            + (draw(r.view_zoom) - 1).view(batch, 1, 1) / 2 * _ZOOM_CORNERS.to(dtype),
        }
        moved = {name: value.to(device) if device is not None else value
                 for name, value in values.items()}
        return SimulationDraw(**moved, reference_size=r.reference_size)

    def print_patch(self, patch: Tensor, draw: SimulationDraw) -> Tensor:
        """The printed sheet ``(B, 3, h, w)`` of a ``(1|B, 3, h, w)`` patch: printer, shadow."""
        check_images(patch, "patch")
        if patch.shape[0] not in (1, draw.batch):
            raise ChickenSaviourError(f"patch batch {patch.shape[0]} must be 1 or {draw.batch}")
        sheet = print_colours(patch, draw.paper_white, draw.black_point, draw.ink_saturation)
        if bool((draw.shadow_strength != 0).any()):
            sheet = shadow(sheet, draw.shadow_strength, draw.shadow_angle, draw.shadow_offset)
        return sheet

    def capture(self, images: Tensor, draw: SimulationDraw,
                generator: torch.Generator | None = None) -> Tensor:
        """What a cheap webcam records of scenes ``(B, 3, H, W)``, clamped to [0, 1].

        In the order light meets the camera: the viewpoint (a perspective warp and zoom
        of the whole scene), lighting (brightness, contrast), optics
        (defocus, motion blur), sensor (noise, saturation at [0, 1]), processing (white
        balance, colour matrix and tone curve), JPEG where drawn. Ops whose drawn
        parameters are all at their identity are skipped, so :meth:`PrintCameraRanges.none`
        returns ``images`` unchanged for images in [0, 1].
        """
        check_images(images)
        if images.shape[0] != draw.batch:
            raise ChickenSaviourError(
                f"images batch {images.shape[0]} must match the draw's {draw.batch}")
        x = images
        if bool((draw.view != 0).any()):  # the viewpoint: object and sheet move together
            x = perspective(x, draw.view.to(x), padding_mode="border")
        if bool((draw.brightness != 0).any()):
            x = brightness(x, draw.brightness.to(x))
        if bool((draw.contrast != 1).any()):
            x = contrast(x, draw.contrast.to(x))
        pixels = min(x.shape[-2:]) / draw.reference_size  # blur sizes scale with the image
        if bool((draw.defocus_sigma != 0).any()):
            x = gaussian_blur(x, draw.defocus_sigma.to(x) * pixels)
        if bool((draw.motion_length != 0).any()):
            x = motion_blur(x, draw.motion_length.to(x) * pixels, draw.motion_angle.to(x))
        if bool(((draw.shot_noise != 0) | (draw.read_noise != 0)).any()):
            x = sensor_noise(x, draw.shot_noise, draw.read_noise, generator)
        x = x.clamp(0.0, 1.0)  # the sensor saturates
        identity = torch.eye(3, dtype=draw.colour_matrix.dtype, device=draw.colour_matrix.device)
        balanced = bool((draw.white_balance != 1).any())
        if balanced or bool((draw.colour_matrix != identity).any() or (draw.gamma != 1).any()):
            # White balance is a diagonal matrix applied first: fold it into the colour matrix
            # (matrix @ diag(gains)), one pass over the images instead of two.
            matrix = draw.colour_matrix
            if balanced:
                matrix = matrix * draw.white_balance[:, None, :]
            x = camera_response(x, matrix, draw.gamma)
        x = x.clamp(0.0, 1.0)  # JPEG's input range; JPEG's output stays in it
        if bool(draw.jpeg_applied.all()):
            x = jpeg(x, draw.jpeg_quality.to(x))
        elif bool(draw.jpeg_applied.any()):
            index = draw.jpeg_applied.nonzero().squeeze(1).to(x.device)
            compressed = jpeg(x[index], draw.jpeg_quality.to(x)[index])
            x = x.index_put((index,), compressed)
        return x
