"""LeNet-5's shapes and its wrapping behind the RGB [0, 1] contract."""

from __future__ import annotations

import torch

from chickensaviour.training.lenet import (
    DIGIT_NAMES,
    MNIST_MEAN,
    MNIST_STD,
    LeNet5,
    digit_labels,
    wrap_lenet,
)


def test_lenet_shapes() -> None:
    torch.manual_seed(0)
    assert LeNet5()(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert LeNet5(num_classes=3)(torch.randn(1, 1, 28, 28)).shape == (1, 3)
    parameters = sum(p.numel() for p in LeNet5().parameters())
    assert parameters == 61706  # the classic LeNet-5 count


def test_digit_labels() -> None:
    labels = digit_labels()
    assert labels.names == DIGIT_NAMES == tuple("0123456789")
    assert labels.kind == "MNIST digits"


def test_wrapped_grey_rgb_classifies_like_the_digit() -> None:
    torch.manual_seed(0)
    net = LeNet5().eval()
    model = wrap_lenet(net, digit_labels(), "lenet5").eval()
    grey = torch.rand(4, 1, 28, 28)
    expected = net((grey - MNIST_MEAN[0]) / MNIST_STD[0])
    rgb = grey.expand(-1, 3, -1, -1)
    assert torch.allclose(model(rgb), expected, atol=1e-5)
    assert model.channels == 1 and model.input_size == 28 and model.fit == "stretch"
    assert model(torch.rand(1, 3, 56, 40)).shape == (1, 10)  # any size is stretched to 28
