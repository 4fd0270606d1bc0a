"""Where is the protected class? Class activation maps (Zhou et al., CVPR 2016) as boxes.

``CamLocaliser`` runs the classifier fully convolutionally over the whole frame, weights
the last feature maps by the protected classes' rows of the final linear layer, and turns
the strong part of that map into boxes, for any label set the hunter has (a model card's
own classes too). NanoDet and the localiser both offer
:class:`~chickensaviour.models.protocols.Detector`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.models.detections import Detections
from chickensaviour.models.wrapper import ImageClassifier, check_images


def feature_head(net: nn.Module) -> tuple[Callable[[torch.Tensor], torch.Tensor], nn.Linear]:
    """The spatial-feature extractor and final linear layer of a supported classifier."""
    classifier = getattr(net, "classifier", None)
    head = classifier if isinstance(classifier, nn.Linear) else getattr(net, "fc", None)
    if hasattr(net, "forward_features") and isinstance(head, nn.Linear):  # timm, Keras ResNet
        return net.forward_features, head
    features = getattr(net, "features", None)
    if isinstance(features, nn.Module) and isinstance(classifier, nn.Sequential):
        linear = [m for m in classifier if isinstance(m, nn.Linear)]  # torchvision MobileNet
        if len(linear) == 1:
            return features, linear[0]
    fc = getattr(net, "fc", None)
    if isinstance(fc, nn.Linear) and hasattr(net, "layer4"):  # torchvision ResNet
        def resnet_features(x: torch.Tensor) -> torch.Tensor:
            x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
            return net.layer4(net.layer3(net.layer2(net.layer1(x))))

        return resnet_features, fc
    raise ChickenSaviourError(
        f"class activation maps are not supported for {type(net).__name__}; use "
        "the zoo's models, torchvision MobileNets and ResNets, timm models, and model cards "
        "of those (an ONNX model has no head the maps can be read from); in the app, draw "
        "the boxes by hand"
    )


class CamLocaliser:
    """Boxes around the protected classes from the classifier's class activation map.

    Args:
        model: the hunter (its network must have a global-pool + linear head).
        protected: ImageNet class indices to look for.
        short_side: the frame's shorter side is resized to this before the pass.
        min_probability: frame-level probability of the protected classes (summed) below
            which nothing is reported.
        threshold: fraction of the map's maximum that counts as "the object".
        min_area: smallest box, as a fraction of the frame area.
    """

    def __init__(self, model: ImageClassifier, protected: Sequence[int], *,
                 short_side: int = 288, min_probability: float = 0.15, threshold: float = 0.35,
                 min_area: float = 0.01) -> None:
        if not protected:
            raise ChickenSaviourError("at least one protected class is needed")
        if not 0.0 < threshold < 1.0:
            raise ChickenSaviourError(f"threshold must be in (0, 1), got {threshold}")
        if short_side < 64:
            raise ChickenSaviourError(f"short_side must be >= 64, got {short_side}")
        self.model = model
        self.features, self.head = feature_head(model.net)
        self.protected = torch.as_tensor(list(protected), dtype=torch.long)
        self.short_side = short_side
        self.min_probability = min_probability
        self.threshold = threshold
        self.min_area = min_area

    @torch.no_grad()
    def activation_map(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The protected classes' CAM ``(h, w)`` (ReLU'd, max 1) and a probability map.

        The probability map is the classifier applied at every cell to features averaged
        over a 3 x 3 neighbourhood: the summed softmax probability of the protected
        classes there. Unlike the whole-frame probability it stays high for an object that
        fills only part of a busy frame.
        """
        cam, probability, _ = self._maps(frame)
        return cam, probability

    @torch.no_grad()
    def _maps(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """:meth:`activation_map`, plus the protected class that drives the map."""
        check_images(frame)
        height, width = frame.shape[-2:]
        scale = self.short_side / min(height, width)
        size = (max(32, round(height * scale)), max(32, round(width * scale)))
        x = F.interpolate(frame.to(self.model.device), size=size, mode="bilinear",
                          align_corners=False, antialias=True)
        x = self.model.normalize(x)
        maps = self.features(x)  # (1, C, h, w)
        protected = self.protected.to(maps.device)
        local = F.avg_pool2d(maps, 3, stride=1, padding=1, count_include_pad=False)
        logits = torch.einsum("kc,bchw->bkhw", self.head.weight, local)
        logits = logits + self.head.bias.view(1, -1, 1, 1)
        probability = logits.softmax(dim=1)[0, protected].sum(dim=0)
        # The protected class that is most likely anywhere drives the activation map.
        best = int(logits.softmax(dim=1)[0, protected].amax(dim=(1, 2)).argmax())
        weights = self.head.weight[protected[best]]
        cam = torch.einsum("c,chw->hw", weights, maps[0]).relu()
        peak = float(cam.max())
        cam = cam / peak if peak > 0 else cam
        return cam.float().cpu(), probability.float().cpu(), int(protected[best])

    def detect(self, frame: torch.Tensor) -> Detections:
        """Boxes (frame pixels) of the protected classes; empty when none is seen."""
        cam, probability, fired = self._maps(frame)
        if float(probability.max()) < self.min_probability:
            return Detections.empty()
        height, width = frame.shape[-2:]
        found = boxes_from_map(cam.numpy(), width, height, self.threshold, self.min_area,
                               probability.numpy(), fired)
        return found[found.confidence >= self.min_probability]


def boxes_from_map(heatmap: np.ndarray, width: int, height: int, threshold: float,
                   min_area: float, confidence: np.ndarray | float,
                   class_id: int) -> Detections:
    """Connected regions of ``heatmap >= threshold`` as boxes in a ``width`` x ``height`` frame.

    The map's cells are mapped to the frame with their full extent, so a region of one
    cell becomes a box one cell wide. A box's confidence is the largest value of
    ``confidence`` (a map of the same shape, or one number) inside its region.
    """
    if heatmap.ndim != 2:
        raise ChickenSaviourError(f"expected a 2-D map, got shape {heatmap.shape}")
    scores_map = np.broadcast_to(np.asarray(confidence, dtype=np.float32), heatmap.shape)
    labels, count = ndimage.label(heatmap >= threshold)
    if count == 0:
        return Detections.empty()
    cell_w, cell_h = width / heatmap.shape[1], height / heatmap.shape[0]
    boxes, scores = [], []
    for number, region in enumerate(ndimage.find_objects(labels), start=1):
        if region is None:
            continue
        rows, cols = region
        box = [cols.start * cell_w, rows.start * cell_h, cols.stop * cell_w, rows.stop * cell_h]
        if (box[2] - box[0]) * (box[3] - box[1]) < min_area * width * height:
            continue
        boxes.append(box)
        scores.append(float(scores_map[region][labels[region] == number].max()))
    if not boxes:
        return Detections.empty()
    return Detections(np.array(boxes), np.clip(np.array(scores), 0, 1),
                      np.full(len(boxes), class_id))
