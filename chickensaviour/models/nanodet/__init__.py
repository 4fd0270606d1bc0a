"""NanoDet-Plus-m (COCO, 80 classes): the network and the differentiable detector around it."""

from __future__ import annotations
