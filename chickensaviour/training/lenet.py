"""LeNet-5 for 28x28 grey digits, and its wrapping behind the library's tensor contract.

The network takes normalised ``(B, 1, 28, 28)`` input (``MNIST_MEAN``/``MNIST_STD``);
:func:`wrap_lenet` makes an :class:`~chickensaviour.models.wrapper.ImageClassifier` of it
that takes float RGB ``(B, 3, H, W)`` in ``[0, 1]`` like every other model (grey inside).

Example: ``model = wrap_lenet(LeNet5(), digit_labels(), "lenet5"); model(images)``
"""

from __future__ import annotations

import torch
from torch import nn

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.labels import LabelSet
from chickensaviour.models.wrapper import ImageClassifier

MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
DIGIT_NAMES = tuple(str(digit) for digit in range(10))
DIGITS_KIND = "MNIST digits"
INPUT_SIZE = 28


def digit_labels() -> LabelSet:
    """The ten MNIST classes ``"0"`` .. ``"9"``."""
    return LabelSet(DIGIT_NAMES, kind=DIGITS_KIND)


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling.

    Shape:
        - input: ``(B, 1, 28, 28)``, normalised with ``MNIST_MEAN``/``MNIST_STD``.
        - output: ``(B, num_classes)`` logits.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        if num_classes < 2:
            raise ChickenSaviourError(f"num_classes must be >= 2, got {num_classes}")
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def wrap_lenet(net: nn.Module, labels: LabelSet, name: str,
               identity: str | None = None) -> ImageClassifier:
    """``net`` behind the tensor contract: RGB ``[0, 1]`` of any size in, logits out.

    The image is stretched (not cropped) to 28x28, turned to BT.601 grey and normalised
    with the MNIST mean and std.
    """
    return ImageClassifier(
        net, name=name, input_size=INPUT_SIZE, mean=MNIST_MEAN, std=MNIST_STD,
        crop_pct=1.0, fit="stretch", classes=labels, channels=1, identity=identity,
    )
