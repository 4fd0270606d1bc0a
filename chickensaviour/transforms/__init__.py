"""Pure differentiable image transforms, each with a thin ``nn.Module``.

All take float RGB ``(B, 3, H, W)`` images (nominally in [0, 1], never clamped here) and
per-sample parameters, and return exactly their input at their identity setting.

- :mod:`.geometry`: patch warping, corner helpers and whole-image rotate/scale/translate/
  perspective, roll, pad, resize.
- :mod:`.photometric`: brightness, contrast, colour matrix, gamma, blurs, noise.
- :mod:`.compression`: a differentiable JPEG approximation.
- :mod:`.printer`: what an office printer makes of colours; the printable colour set and
  the non-printability score (Sharif et al. 2016).
- :mod:`.camera`: white balance, colour response and tone curve, shadows, sensor noise.
- :mod:`.print_camera`: the print-and-camera simulation (documented ranges, random draws)
  that patches are trained through (expectation over transformation).
"""

from __future__ import annotations

from chickensaviour.transforms.camera import (
    CameraResponse,
    SensorNoise,
    Shadow,
    WhiteBalance,
    camera_response,
    sensor_noise,
    shadow,
    tone_curve,
    white_balance,
)
from chickensaviour.transforms.compression import Jpeg, jpeg
from chickensaviour.transforms.geometry import (
    Rotate,
    Scale,
    pad,
    perspective,
    resize,
    roll,
    rotate,
    scale,
    square_corners,
    tilt_corners,
    translate,
    warp_patch,
)
from chickensaviour.transforms.photometric import (
    Brightness,
    ColourMatrix,
    Contrast,
    Gamma,
    GaussianBlur,
    GaussianNoise,
    MotionBlur,
    brightness,
    colour_matrix,
    contrast,
    gamma,
    gaussian_blur,
    gaussian_noise,
    motion_blur,
)
from chickensaviour.transforms.print_camera import (
    PrintCameraRanges,
    PrintCameraSimulation,
    SimulationDraw,
)
from chickensaviour.transforms.printer import (
    NonPrintability,
    PrintColours,
    non_printability,
    print_colours,
    printable_colours,
)

__all__ = [
    "Brightness",
    "CameraResponse",
    "ColourMatrix",
    "Contrast",
    "Gamma",
    "GaussianBlur",
    "GaussianNoise",
    "Jpeg",
    "MotionBlur",
    "NonPrintability",
    "PrintCameraRanges",
    "PrintCameraSimulation",
    "PrintColours",
    "Rotate",
    "Scale",
    "SensorNoise",
    "Shadow",
    "SimulationDraw",
    "WhiteBalance",
    "brightness",
    "camera_response",
    "colour_matrix",
    "contrast",
    "gamma",
    "gaussian_blur",
    "gaussian_noise",
    "jpeg",
    "motion_blur",
    "non_printability",
    "pad",
    "perspective",
    "print_colours",
    "printable_colours",
    "resize",
    "roll",
    "rotate",
    "scale",
    "sensor_noise",
    "shadow",
    "square_corners",
    "tilt_corners",
    "tone_curve",
    "translate",
    "warp_patch",
    "white_balance",
]
