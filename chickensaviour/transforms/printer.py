"""What an office printer on plain paper makes of a patch, and how printable a patch is.

Pure differentiable functions plus thin ``nn.Module`` wrappers (the kornia habit). Images
are float RGB ``(B, 3, H, W)``; nothing here clamps, so gradients pass everywhere.

References:
    Sharif, Bhagavatula, Bauer, Reiter (2016), "Accessorize to a Crime", CCS (the
    non-printability score). Thys, Van Ranst, Goedemé (2019), "Fooling automated
    surveillance cameras", CVPR-W (the min-distance variant used here).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.wrapper import LUMA_WEIGHTS

#: The default printer model: the middle of :class:`PrintCameraRanges`' default ranges
#: (paper white 0.85-0.97, black 0.03-0.12, ink saturation 0.7-1.0).
DEFAULT_PAPER_WHITE = 0.91
DEFAULT_BLACK_POINT = 0.075
DEFAULT_INK_SATURATION = 0.85
#: Grid levels per channel for :func:`printable_colours`: 4 -> K = 64 colours (Sharif et
#: al. printed and photographed 30; a 4-level grid is the smallest regular grid above that).
DEFAULT_GRID_LEVELS = 4


def check_images(images: Tensor, name: str = "images") -> None:
    """Raise ``ValueError`` unless ``images`` is a floating ``(B, 3, H, W)`` tensor."""
    if not isinstance(images, Tensor):
        raise ChickenSaviourError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ChickenSaviourError(f"{name} must be (B, 3, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ChickenSaviourError(f"{name} must be floating point, got {images.dtype}")


def per_sample(value: Tensor | float, batch: int, like: Tensor, name: str,
               trailing: tuple[int, ...] = ()) -> Tensor:
    """``value`` as a ``(batch, *trailing)`` tensor on ``like``'s device and dtype.

    Floats broadcast to every sample; tensors must already have the shape (a ``(1, ...)``
    tensor broadcasts too).
    """
    if not isinstance(value, Tensor):
        return torch.full((batch, *trailing), float(value), dtype=like.dtype, device=like.device)
    if value.shape == (1, *trailing) and batch != 1:
        value = value.expand(batch, *trailing)
    if tuple(value.shape) != (batch, *trailing):
        raise ChickenSaviourError(f"{name} must be a float or a {(batch, *trailing)} tensor, "
                                  f"got {tuple(value.shape)}")
    return value.to(device=like.device, dtype=like.dtype)


def store_parameter(module: nn.Module, name: str, value: Tensor | float) -> None:
    """Keep a fixed parameter on ``module``: tensors as buffers (``.to()`` moves them)."""
    if isinstance(value, Tensor):
        module.register_buffer(name, value.detach().clone())
    else:
        setattr(module, name, float(value))


def luminance(images: Tensor) -> Tensor:
    """BT.601 luma ``(B, 1, H, W)`` of gamma-encoded RGB ``(B, 3, H, W)``."""
    weights = images.new_tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def print_colours(patch: Tensor, paper_white: Tensor, black_point: Tensor,
                  ink_saturation: Tensor | float) -> Tensor:
    """The colours an office printer on plain paper makes of ``patch``.

    Inks on uncoated paper reach less saturated colours than a screen: each colour is
    pulled towards its luma by ``ink_saturation`` (1: as on screen, 0: grey), then the
    tonal range ``[0, 1]`` is mapped into ``[black_point, paper_white]`` (paper reflects
    less than full white, black ink more than nothing). With paper 1, black 0 and
    saturation 1 the result equals ``patch`` exactly.

    Args:
        patch: ``(B|1, 3, h, w)`` colours in [0, 1].
        paper_white: ``(B, 3)`` reflectance of bare paper per channel.
        black_point: ``(B, 3)`` reflectance of full black ink per channel.
        ink_saturation: ``(B,)`` tensor or float in [0, 1].

    Returns:
        ``(B, 3, h, w)``; a ``(1, ...)`` patch is broadcast to the batch of the parameters.

    Example:
        >>> printed = print_colours(patch, torch.full((4, 3), 0.9), torch.full((4, 3), 0.05), 0.8)
    """
    check_images(patch, "patch")
    if paper_white.ndim != 2 or paper_white.shape[1] != 3:
        raise ChickenSaviourError(f"paper_white must be (B, 3), got {tuple(paper_white.shape)}")
    batch = paper_white.shape[0]
    if patch.shape[0] not in (1, batch):
        raise ChickenSaviourError(
            f"patch batch {patch.shape[0]} must be 1 or match the parameters' {batch}")
    white = per_sample(paper_white, batch, patch, "paper_white", (3,))[:, :, None, None]
    black = per_sample(black_point, batch, patch, "black_point", (3,))[:, :, None, None]
    saturation = per_sample(ink_saturation, batch, patch, "ink_saturation")[:, None, None, None]
    # s * x + (1 - s) * luma, not luma + s * (x - luma): exact at s = 1.
    washed = saturation * patch + (1 - saturation) * luminance(patch)
    return black + (white - black) * washed


def printable_colours(levels: int = DEFAULT_GRID_LEVELS,
                      paper_white: float = DEFAULT_PAPER_WHITE,
                      black_point: float = DEFAULT_BLACK_POINT,
                      ink_saturation: float = DEFAULT_INK_SATURATION,
                      dtype: torch.dtype = torch.float32,
                      device: torch.device | str | None = None) -> Tensor:
    """The printable colour set ``(K, 3)``, ``K = levels ** 3``, of a printer model.

    Sharif et al. printed a palette and photographed it; we have no printer in the loop,
    so the set is the image of a regular RGB grid (``levels`` values per channel, 0..1)
    under :func:`print_colours` with the default printer (the middle of the default
    ranges). A patch built from these colours is one the simulated printer can produce.

    Example:
        >>> printable_colours().shape
        torch.Size([64, 3])
    """
    if levels < 2:
        raise ChickenSaviourError(f"levels must be at least 2, got {levels}")
    if not 0.0 <= black_point < paper_white <= 1.0:
        raise ChickenSaviourError(f"need 0 <= black_point < paper_white <= 1, got {black_point}, "
                                  f"{paper_white}")
    if not 0.0 <= ink_saturation <= 1.0:
        raise ChickenSaviourError(f"ink_saturation must be in [0, 1], got {ink_saturation}")
    axis = torch.linspace(0.0, 1.0, levels, dtype=dtype, device=device)
    grid = torch.cartesian_prod(axis, axis, axis)  # (K, 3)
    as_image = grid.T.reshape(1, 3, 1, -1)
    printed = print_colours(as_image, torch.full((1, 3), paper_white, dtype=dtype, device=device),
                            torch.full((1, 3), black_point, dtype=dtype, device=device),
                            ink_saturation)
    return printed.reshape(3, -1).T.contiguous()


def non_printability(patch: Tensor, colours: Tensor, eps: float = 1e-12) -> Tensor:
    """Sharif et al.'s non-printability score per sample, ``(B,)``.

    Sharif et al. score a pixel by the product over printable colours of its distances
    to them; with K = 64 distances below 1 that product underflows and its gradient is
    dominated by the nearest few colours anyway. We use the variant of Thys et al.
    (2019): the Euclidean RGB distance from each pixel to its nearest printable colour,
    averaged over pixels (a mean rather than their sum, so the score does not grow with
    the patch size). It is 0 exactly for a patch made only of printable colours, and its
    gradient at a pixel points away from the nearest colour (so descending it moves the
    pixel towards the set). The distance is ``sqrt(d^2 + eps) - sqrt(eps)``, which keeps
    the gradient finite (zero) on the set itself.

    Args:
        patch: ``(B|1, 3, h, w)``.
        colours: ``(K, 3)`` printable colours, e.g. :func:`printable_colours`.
    """
    check_images(patch, "patch")
    if colours.ndim != 2 or colours.shape[1] != 3 or colours.shape[0] == 0:
        raise ChickenSaviourError(f"colours must be (K, 3) with K >= 1, got {tuple(colours.shape)}")
    colours = colours.to(device=patch.device, dtype=patch.dtype)
    pixels = patch.flatten(2).transpose(1, 2)  # (B, N, 3)
    # Direct differences (not |x|^2 - 2xc + |c|^2) so a printable pixel gives exactly 0.
    # Channel by channel, so the largest intermediate is (B, N, K), not (B, N, K, 3).
    squared = ((pixels[:, :, 0, None] - colours[:, 0]).pow(2)
               + (pixels[:, :, 1, None] - colours[:, 1]).pow(2)
               + (pixels[:, :, 2, None] - colours[:, 2]).pow(2))  # (B, N, K)
    nearest = squared.min(dim=-1).values
    distance = (nearest + eps).sqrt() - eps ** 0.5
    return distance.mean(dim=1)


class PrintColours(nn.Module):
    """Module form of :func:`print_colours` with fixed printer settings.

    Shape:
        ``(B|1, 3, h, w)`` -> ``(B, 3, h, w)`` (``B`` from the settings).
    """

    paper_white: Tensor
    black_point: Tensor
    ink_saturation: Tensor | float

    def __init__(self, paper_white: Tensor, black_point: Tensor,
                 ink_saturation: Tensor | float) -> None:
        super().__init__()
        store_parameter(self, "paper_white", paper_white)
        store_parameter(self, "black_point", black_point)
        store_parameter(self, "ink_saturation", ink_saturation)

    def forward(self, patch: Tensor) -> Tensor:
        return print_colours(patch, self.paper_white, self.black_point, self.ink_saturation)


class NonPrintability(nn.Module):
    """Module form of :func:`non_printability`, the colours kept as a buffer.

    Shape:
        ``(B, 3, h, w)`` -> ``(B,)``.

    Example:
        >>> loss = NonPrintability()(patch).mean()
    """

    colours: Tensor

    def __init__(self, colours: Tensor | None = None) -> None:
        super().__init__()
        colours = printable_colours() if colours is None else colours
        if colours.ndim != 2 or colours.shape[1] != 3 or colours.shape[0] == 0:
            raise ChickenSaviourError(
                f"colours must be (K, 3) with K >= 1, got {tuple(colours.shape)}")
        self.register_buffer("colours", colours)

    def forward(self, patch: Tensor) -> Tensor:
        return non_printability(patch, self.colours)
