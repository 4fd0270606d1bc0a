"""The TF.js -> PyTorch converter on small synthetic graphs (the real tarball is not in CI)."""

from __future__ import annotations

import base64
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SPEC = importlib.util.spec_from_file_location(
    "convert_nanodet", Path(__file__).parents[2] / "tools" / "convert_nanodet.py")
assert SPEC is not None and SPEC.loader is not None
convert_nanodet = importlib.util.module_from_spec(SPEC)
sys.modules["convert_nanodet"] = convert_nanodet  # dataclasses look their module up
SPEC.loader.exec_module(convert_nanodet)


def _s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def tiny_graph(alpha: float = 0.1, pad: int = 1) -> tuple[dict, bytes]:
    """input -> Pad -> Transpose -> Conv2D(3x3, 2->4) -> Add(bias) -> Transpose -> LeakyRelu."""
    kernel = np.arange(3 * 3 * 2 * 4, dtype=np.float16).reshape(3, 3, 2, 4) / 10
    bias = np.array([1, 2, 3, 4], dtype=np.float16)
    pads = np.array([[0, 0], [0, 0], [pad, pad], [pad, pad]], dtype=np.int32)
    weights = [
        {"name": "k", "shape": [3, 3, 2, 4], "dtype": "float32",
         "quantization": {"dtype": "float16", "original_dtype": "float32"}},
        {"name": "b", "shape": [4], "dtype": "float32",
         "quantization": {"dtype": "float16", "original_dtype": "float32"}},
        {"name": "pads", "shape": [4, 2], "dtype": "int32"},
    ]
    data = kernel.tobytes() + bias.tobytes() + pads.tobytes()
    conv_attr = {"data_format": _s("NHWC"), "padding": _s("VALID"),
                 "dilations": {"list": {"i": ["1", "1", "1", "1"]}},
                 "strides": {"list": {"i": ["1", "2", "2", "1"]}}}
    nodes = [
        {"name": "input", "op": "Placeholder"},
        {"name": "pad", "op": "Pad", "input": ["input", "pads"]},
        {"name": "t1", "op": "Transpose", "input": ["pad", "perm"]},
        {"name": "convolution", "op": "Conv2D", "input": ["t1", "k"], "attr": conv_attr},
        {"name": "add", "op": "Add", "input": ["convolution", "b"]},
        {"name": "t2", "op": "Transpose", "input": ["add", "perm"]},
        {"name": "act", "op": "LeakyRelu", "input": ["t2"], "attr": {"alpha": {"f": alpha}}},
    ]
    graph = {"modelTopology": {"node": nodes}, "weightsManifest": [{"weights": weights}]}
    return graph, data


def test_weights_are_decoded_from_float16_and_int32():
    graph, data = tiny_graph()
    arrays = convert_nanodet.decode_weights(graph["weightsManifest"], data)
    assert arrays["k"].dtype == np.float32 and arrays["k"].shape == (3, 3, 2, 4)
    assert arrays["k"][0, 0, 0, 1] == np.float32(np.float16(0.1))
    assert arrays["pads"].dtype == np.int32 and arrays["pads"][2].tolist() == [1, 1]
    with pytest.raises(convert_nanodet.GraphError, match="bytes"):
        convert_nanodet.decode_weights(graph["weightsManifest"], data + b"\0\0")


def test_convolutions_are_read_with_bias_stride_padding_and_activation():
    graph, data = tiny_graph()
    arrays = convert_nanodet.decode_weights(graph["weightsManifest"], data)
    (conv,) = convert_nanodet.graph_convolutions(graph, arrays)
    assert conv.kernel.shape == (4, 2, 3, 3)  # HWIO -> OIHW
    assert conv.kernel[1, 0, 0, 0] == arrays["k"][0, 0, 0, 1]
    assert (conv.stride, conv.padding, conv.leaky) == (2, 1, True)
    assert conv.bias.tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize(("alpha", "pad", "message"),
                         [(0.2, 1, "alpha"), (0.1, 2, "padding")])
def test_unexpected_graphs_are_refused(alpha: float, pad: int, message: str):
    graph, data = tiny_graph(alpha=alpha, pad=pad)
    arrays = convert_nanodet.decode_weights(graph["weightsManifest"], data)
    with pytest.raises(convert_nanodet.GraphError, match=message):
        convert_nanodet.graph_convolutions(graph, arrays)


def test_a_graph_that_is_not_nanodet_does_not_convert():
    graph, data = tiny_graph()
    arrays = convert_nanodet.decode_weights(graph["weightsManifest"], data)
    with pytest.raises(convert_nanodet.GraphError, match="convolutions"):
        convert_nanodet.convert(graph, arrays)
