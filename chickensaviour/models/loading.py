"""How a freshly built classifier is prepared: the options of loading.

Folding batch norms, freezing parameters and the NHWC memory format are choices, made
once on a new model that no other thread has seen yet (``load_model`` builds a new
network every call), never applied to a model in use.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from chickensaviour.models.wrapper import ImageClassifier


@dataclass(frozen=True)
class LoadOptions:
    """What ``load_model`` does to the network after its weights are in.

    Args:
        fold_bn: fold eval-mode batch norms into the convolutions before them (1.2-1.3x
            faster on the CPU, same function); off keeps every layer for visualisations
            that hook into them.
        freeze: turn off ``requires_grad`` of every parameter (attacks need gradients of
            the input only); off for fine-tuning.
        channels_last: NHWC weights (faster with oneDNN and cuDNN); ``None`` means on for
            CPU and CUDA, off elsewhere (MPS).
    """

    fold_bn: bool = True
    freeze: bool = True
    channels_last: bool | None = None


def prepare(model: ImageClassifier, options: LoadOptions, device: torch.device) -> ImageClassifier:
    """Apply ``options`` to a new, unshared ``model`` and move it to ``device``."""
    model.eval()
    if options.fold_bn:
        fold_batch_norms(model.net)
    if options.freeze:
        for parameter in model.parameters():
            parameter.requires_grad_(False)
    nhwc = options.channels_last
    if nhwc is None:
        nhwc = device.type in ("cpu", "cuda")
    if nhwc:
        # Inputs follow the weights' format inside the convolutions; callers need not care.
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return model.to(device)


def fold_batch_norms(net: nn.Module) -> int:
    """Fold eval-mode batch norms into the convolutions before them, in place.

    The function computed (and its gradient with respect to the input) is unchanged up to
    float rounding, but forward and backward passes run 1.2-1.3x faster on the CPU
    (``benchmarks/bench_fold_bn.py``). Every ``Conv2d`` directly followed by a
    ``BatchNorm2d`` in an ``nn.Sequential`` (torchvision's conv-norm-activation blocks) is
    replaced by the folded convolution and the norm by an ``Identity``, so layer names
    stay those of the architecture. Plain module surgery, no torch.fx: fx's tracer patches
    ``nn.Module.__call__`` for the whole process while it runs, which broke forward
    passes of other models on other threads. Returns the number of norms folded.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for parent in list(net.modules()):
        if not isinstance(parent, nn.Sequential):
            continue
        children = list(parent.named_children())
        for (conv_name, conv), (norm_name, norm) in itertools.pairwise(children):
            if type(conv) is not nn.Conv2d or type(norm) is not nn.BatchNorm2d:
                continue
            if norm.training or not norm.track_running_stats or conv.training:
                continue
            setattr(parent, conv_name, fuse_conv_bn_eval(conv, norm))
            setattr(parent, norm_name, nn.Identity())
            folded += 1
    return folded
