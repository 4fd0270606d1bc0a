"""``NanoDetDetector``: COCO objects in a frame, differentiable up to the NMS.

Frames follow the library's tensor contract (RGB ``(B, 3, H, W)`` in ``[0, 1]``). The
detector letterboxes them (scale to fit, centred, black borders - NanoDet's own resize),
converts to BGR 0..255 and normalises with NanoDet's mean/std inside, runs
:class:`~chickensaviour.models.nanodet.net.NanoDet`, decodes the generalised-focal-loss box
distributions and maps boxes back to frame pixels. Everything before the NMS is
differentiable with respect to the frame, so attacks can use :meth:`class_scores`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms

from chickensaviour.device import pick_device
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.detections import Detections
from chickensaviour.models.nanodet.net import (
    BGR_MEAN,
    BGR_STD,
    INPUT_SIZE,
    NUM_CLASSES,
    REG_MAX,
    STRIDES,
    NanoDet,
    load_nanodet,
)
from chickensaviour.models.wrapper import check_images

PRE_NMS_PER_LEVEL = 1000  # NanoDet's test-time candidates per level
#: A forward-only stand-in for ``NanoDet.__call__`` on the normalised input (an ONNX
#: Runtime session exported from the same network): ``x -> (scores, box_logits)``.
RawForward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Letterbox:
    """How a frame was placed in the network input: resized to ``resized_*``, then
    padded by ``left``/``top`` (and the rest) to ``input_*``."""

    left: int
    top: int
    resized_width: int
    resized_height: int
    input_width: int
    input_height: int
    frame_width: int
    frame_height: int

    def _factors(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Per-axis scales of the rounded resize, so boxes map exactly, any aspect ratio.
        sx = self.resized_width / self.frame_width
        sy = self.resized_height / self.frame_height
        return (like.new_tensor([sx, sy, sx, sy]),
                like.new_tensor([self.left, self.top, self.left, self.top]))

    def to_frame(self, boxes: torch.Tensor) -> torch.Tensor:
        """Boxes ``(..., 4)`` in input pixels -> frame pixels, clipped to the frame."""
        scale, offset = self._factors(boxes)
        frame = (boxes - offset) / scale
        limit = boxes.new_tensor([self.frame_width, self.frame_height] * 2)
        return torch.minimum(frame.clamp(min=0), limit)

    def to_input(self, boxes: torch.Tensor) -> torch.Tensor:
        """Boxes ``(..., 4)`` in frame pixels -> network-input pixels."""
        scale, offset = self._factors(boxes)
        return boxes * scale + offset


def plan_letterbox(width: int, height: int, size: int = INPUT_SIZE, *,
                   square: bool = False) -> Letterbox:
    """Fit a ``width`` x ``height`` frame into ``size`` pixels on its longer side.

    ``square=True`` gives NanoDet's ``size`` x ``size`` input; otherwise the short side
    is only padded up to a multiple of 32 (a 4:3 frame runs at 416 x 320, 25 % faster).
    """
    if width < 1 or height < 1:
        raise ChickenSaviourError(f"frame must be at least 1x1, got {width}x{height}")
    if size < 32 or size % 32:
        raise ChickenSaviourError(f"detector input size must be a multiple of 32, got {size}")
    scale = min(size / width, size / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    input_w = size if square else 32 * math.ceil(new_w / 32)
    input_h = size if square else 32 * math.ceil(new_h / 32)
    return Letterbox((input_w - new_w) // 2, (input_h - new_h) // 2, new_w, new_h,
                     input_w, input_h, width, height)


def letterbox(frames: torch.Tensor, plan: Letterbox) -> torch.Tensor:
    """Resize (bilinear, like OpenCV's INTER_LINEAR) and pad frames as ``plan`` says."""
    if frames.shape[-2:] != (plan.frame_height, plan.frame_width):
        raise ChickenSaviourError(f"frames are {frames.shape[-1]}x{frames.shape[-2]}, the "
                                  f"letterbox is for {plan.frame_width}x{plan.frame_height}")
    resized = F.interpolate(frames, size=(plan.resized_height, plan.resized_width),
                            mode="bilinear", align_corners=False)
    right = plan.input_width - plan.resized_width - plan.left
    bottom = plan.input_height - plan.resized_height - plan.top
    return F.pad(resized, (plan.left, right, plan.top, bottom), value=0.0)


@lru_cache(maxsize=16)
def anchor_centres(input_width: int, input_height: int,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres ``(N, 2)`` in input pixels and each anchor's stride ``(N, 1)``."""
    centres, strides = [], []
    for stride in STRIDES:
        ys = (torch.arange(input_height // stride, device=device) + 0.5) * stride
        xs = (torch.arange(input_width // stride, device=device) + 0.5) * stride
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        centres.append(torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1))
        strides.append(torch.full((grid_x.numel(), 1), float(stride), device=device))
    return torch.cat(centres), torch.cat(strides)


def decode_boxes(box_logits: torch.Tensor, input_width: int, input_height: int) -> torch.Tensor:
    """GFL box logits ``(B, N, 44)`` -> boxes ``(B, N, 4)`` xyxy in input pixels."""
    centres, strides = anchor_centres(input_width, input_height, box_logits.device)
    bins = torch.arange(REG_MAX + 1, dtype=box_logits.dtype, device=box_logits.device)
    distribution = box_logits.unflatten(-1, (4, REG_MAX + 1)).softmax(dim=-1)
    distances = (distribution * bins).sum(dim=-1) * strides  # (B, N, 4): left top right bottom
    boxes = torch.cat([centres - distances[..., :2], centres + distances[..., 2:]], dim=-1)
    limit = boxes.new_tensor([input_width, input_height] * 2)
    return torch.minimum(boxes.clamp(min=0), limit)


class NanoDetDetector:
    """COCO object detector (NanoDet, 80 classes), a
    :class:`~chickensaviour.models.protocols.DifferentiableDetector`.

    Args:
        classes: COCO class indices to report (``None``: all 80).
        score_threshold: smallest class probability reported.
        iou_threshold: per-class NMS overlap.
        input_size: longer side of the network input (a multiple of 32; trained at 416).
        square: letterbox to ``input_size`` x ``input_size`` instead of the tightest
            multiple of 32.
        max_detections: most boxes returned per frame.
        fast_forward: runs the network for :meth:`detect_batch` (no gradients needed
            there): an inference engine exported from ``net``; ``None``: ``net`` itself.
            :meth:`forward` and :meth:`class_scores` always use ``net``.
    """

    def __init__(self, classes: Sequence[int] | None = None, *, score_threshold: float = 0.35,
                 iou_threshold: float = 0.6, input_size: int = INPUT_SIZE,
                 square: bool = False, max_detections: int = 100,
                 device: str | torch.device | None = None, net: NanoDet | None = None,
                 fast_forward: RawForward | None = None) -> None:
        if classes is not None:
            classes = tuple(int(c) for c in classes)
            bad = [c for c in classes if not 0 <= c < NUM_CLASSES]
            if bad or not classes:
                raise ChickenSaviourError(f"COCO classes must be 0..79 (at least one), "
                                          f"got {list(classes)}")
        if not 0.0 < score_threshold < 1.0 or not 0.0 < iou_threshold <= 1.0:
            raise ChickenSaviourError("score and IoU thresholds must be in (0, 1)")
        plan_letterbox(1, 1, input_size)  # validates the size
        self.classes = classes
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.input_size = input_size
        self.square = square
        self.max_detections = max_detections
        self.device = pick_device(device)
        self.net = net if net is not None else load_nanodet(self.device)
        self.fast_forward = fast_forward
        self._class_mask = None
        if classes is not None:
            self._class_mask = torch.zeros(NUM_CLASSES, device=self.device)
            self._class_mask[list(classes)] = 1.0
        self._mean = torch.tensor(BGR_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(BGR_STD, device=self.device).view(1, 3, 1, 1)

    def plan(self, width: int, height: int) -> Letterbox:
        return plan_letterbox(width, height, self.input_size, square=self.square)

    def normalize(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB ``[0, 1]`` network-sized input -> NanoDet's normalised BGR."""
        return (rgb.flip(1) * 255.0 - self._mean) / self._std

    def forward(self, frames: torch.Tensor, *, fast: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor, Letterbox]:
        """Per-anchor class probabilities ``(B, N, 80)``, boxes ``(B, N, 4)`` in frame
        pixels and the letterbox used; differentiable with respect to ``frames`` unless
        ``fast`` (then :attr:`fast_forward` runs the network when there is one)."""
        check_images(frames)
        plan = self.plan(frames.shape[-1], frames.shape[-2])
        x = self.normalize(letterbox(frames.to(self.device), plan))
        run = self.fast_forward if fast and self.fast_forward is not None else self.net
        scores, box_logits = run(x)
        boxes = plan.to_frame(decode_boxes(box_logits, plan.input_width, plan.input_height))
        return scores, boxes, plan

    def class_scores(self, frames: torch.Tensor, classes: Sequence[int]) -> torch.Tensor:
        """Probabilities ``(B, N)`` of the best of ``classes`` at every anchor,
        differentiable with respect to ``frames`` (boxes are not decoded)."""
        check_images(frames)
        bad = [c for c in classes if not 0 <= int(c) < NUM_CLASSES]
        if bad or not classes:
            raise ChickenSaviourError(f"COCO classes must be 0..79, got {list(classes)}")
        plan = self.plan(frames.shape[-1], frames.shape[-2])
        scores, _ = self.net(self.normalize(letterbox(frames.to(self.device), plan)))
        return scores[..., [int(c) for c in classes]].amax(dim=-1)

    def anchor_points(self, width: int, height: int) -> torch.Tensor:
        """Each anchor's cell centre ``(N, 2)`` in the pixels of a ``width`` x ``height``
        frame, in the order of :meth:`class_scores`."""
        plan = self.plan(width, height)
        centres, _ = anchor_centres(plan.input_width, plan.input_height, self.device)
        return plan.to_frame(centres.repeat(1, 2))[:, :2]

    def at_size(self, size: int, *, square: bool = True,
                threshold: float | None = None) -> NanoDetDetector:
        """The same network and classes letterboxing to ``size`` (a square by default:
        scenes of that size pass unchanged). A new detector; this one is untouched."""
        return NanoDetDetector(self.classes, iou_threshold=self.iou_threshold,
                               score_threshold=(self.score_threshold if threshold is None
                                                else threshold),
                               input_size=size, square=square, max_detections=self.max_detections,
                               device=self.device, net=self.net, fast_forward=self.fast_forward)

    @torch.no_grad()
    def detect_batch(self, frames: torch.Tensor) -> list[Detections]:
        """Detections for each frame of a batch, boxes in frame pixels."""
        scores, boxes, plan = self.forward(frames, fast=True)
        level_sizes = [(plan.input_width // s) * (plan.input_height // s) for s in STRIDES]
        return [self._select(s, b, level_sizes) for s, b in zip(scores, boxes, strict=True)]

    def detect(self, frame: torch.Tensor) -> Detections:
        """The :class:`Detector` protocol: one frame ``(1, 3, H, W)``."""
        return self.detect_batch(frame)[0]

    def _select(self, scores: torch.Tensor, boxes: torch.Tensor,
                level_sizes: list[int]) -> Detections:
        if self._class_mask is not None:
            scores = scores * self._class_mask
        candidates = []
        start = 0
        for size in level_sizes:  # NanoDet keeps the best 1000 anchors of each level
            best = scores[start : start + size].amax(dim=1)
            candidates.append(best.topk(min(PRE_NMS_PER_LEVEL, size)).indices + start)
            start += size
        anchors = torch.cat(candidates)
        anchor_idx, class_idx = (scores[anchors] > self.score_threshold).nonzero(as_tuple=True)
        anchor_idx = anchors[anchor_idx]
        if anchor_idx.numel() == 0:
            return Detections.empty()
        chosen_boxes = boxes[anchor_idx]
        chosen_scores = scores[anchor_idx, class_idx]
        wide = (chosen_boxes[:, 2] > chosen_boxes[:, 0]) & (chosen_boxes[:, 3] > chosen_boxes[:, 1])
        chosen_boxes, chosen_scores, class_idx = (chosen_boxes[wide], chosen_scores[wide],
                                                  class_idx[wide])
        keep = batched_nms(chosen_boxes.float(), chosen_scores.float(), class_idx,
                           self.iou_threshold)[: self.max_detections]
        return Detections(chosen_boxes[keep].cpu().numpy(),
                          chosen_scores[keep].cpu().numpy().clip(0, 1),
                          class_idx[keep].cpu().numpy().astype(np.int64))
