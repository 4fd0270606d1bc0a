"""Loading (folding) one model while another thread runs a different one (defect 6)."""

from __future__ import annotations

import torch
from torch import nn

from chickensaviour.models.loading import fold_batch_norms
from tests.threads import forwards_meanwhile


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()),
        nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    for module in net.modules():  # non-trivial running statistics
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    return net.eval()


def test_folding_keeps_the_function_and_the_layer_names() -> None:
    net = _net(0)
    x = torch.rand(2, 3, 16, 16)
    expected = net(x)
    names = {name for name, _ in net.named_modules()}
    assert fold_batch_norms(net) == 2
    assert torch.allclose(net(x), expected, atol=1e-5)
    assert {name for name, _ in net.named_modules()} == names
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def test_folding_one_model_does_not_disturb_another_thread() -> None:
    """torch.fx's tracer patches nn.Module.__call__ for the whole process while it runs,
    so a forward pass on another thread failed with "NameError: module is not installed
    as a submodule" when a model was loaded beside the live view."""
    with forwards_meanwhile(_net(1), torch.rand(1, 3, 16, 16)):
        for seed in range(200):
            fold_batch_norms(_net(seed))
