"""The CPPN encoding: a small network paints the image from each pixel's coordinates.

A compositional pattern-producing network (Stanley 2007) reads, for every pixel, its
``x`` and ``y`` in ``[-1, 1]``, its distance ``d`` to the centre and a bias of 1, and
passes them through nodes with sine, Gaussian, sigmoid, identity and absolute-value
activations to one output per channel. Because the same function is evaluated
everywhere, its images are regular: symmetries, repetitions, gradients (Nguyen et al.
2015, Fig. 5 and 7). Genomes start small (inputs wired to outputs, a few hidden nodes)
and grow as in NEAT: mutations split a connection with a new node, add a connection,
perturb weights, change an activation or toggle a connection. Crossover is not used
(the fooling runs did not need it).

Every node has a ``depth``: 0 for inputs, 1 for outputs, strictly between for hidden
nodes, and connections only go from a smaller depth to a larger one, so a genome is
acyclic by construction and renders in depth order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.fooling.encodings import check_channels, check_size

ACTIVATIONS = ("sine", "gaussian", "sigmoid", "identity", "abs")
INPUT_NAMES = ("x", "y", "d", "bias")
NODE_KINDS = ("input", "hidden", "output")


@dataclass(frozen=True)
class CppnNode:
    """One node: ``kind`` input/hidden/output, its activation and depth in ``[0, 1]``."""

    id: int
    kind: str
    activation: str
    depth: float


@dataclass(frozen=True)
class CppnConnection:
    """A weighted edge ``source -> target``; a disabled one is kept but not used."""

    source: int
    target: int
    weight: float
    enabled: bool = True


@dataclass(frozen=True)
class CppnGenome:
    """Nodes (inputs first, then outputs, then hidden ones) and connections; immutable."""

    nodes: tuple[CppnNode, ...]
    connections: tuple[CppnConnection, ...]

    @property
    def hidden_count(self) -> int:
        return sum(node.kind == "hidden" for node in self.nodes)

    def validate(self, channels: int, weight_limit: float = math.inf) -> None:
        """Raise :class:`ChickenSaviourError` unless the genome is well formed: the four
        inputs and ``channels`` outputs, unique ids, known activations, depths in order,
        connections between existing nodes, forward only, no duplicates, finite weights."""
        def fail(message: str) -> None:
            raise ChickenSaviourError(f"invalid CPPN genome: {message}")

        ids = [node.id for node in self.nodes]
        if len(set(ids)) != len(ids):
            fail("duplicate node ids")
        kinds = [node.kind for node in self.nodes]
        if kinds[:len(INPUT_NAMES)] != ["input"] * len(INPUT_NAMES) or kinds.count("input") != 4:
            fail("the first four nodes must be the inputs x, y, d, bias")
        if kinds.count("output") != channels:
            fail(f"expected {channels} output node(s), got {kinds.count('output')}")
        by_id = {node.id: node for node in self.nodes}
        for node in self.nodes:
            if node.kind not in NODE_KINDS or node.activation not in ACTIVATIONS:
                fail(f"node {node.id}: unknown kind or activation")
            expected = {"input": (0.0, 0.0), "output": (1.0, 1.0)}.get(node.kind)
            if expected is not None and node.depth != expected[0]:
                fail(f"node {node.id}: an {node.kind} has depth {expected[0]}")
            if node.kind == "hidden" and not 0.0 < node.depth < 1.0:
                fail(f"node {node.id}: a hidden node's depth is in (0, 1)")
        pairs = set()
        for edge in self.connections:
            if edge.source not in by_id or edge.target not in by_id:
                fail(f"connection {edge.source}->{edge.target} names a missing node")
            if by_id[edge.source].depth >= by_id[edge.target].depth:
                fail(f"connection {edge.source}->{edge.target} does not go forward")
            if (edge.source, edge.target) in pairs:
                fail(f"duplicate connection {edge.source}->{edge.target}")
            pairs.add((edge.source, edge.target))
            if not math.isfinite(edge.weight) or abs(edge.weight) > weight_limit:
                fail(f"connection {edge.source}->{edge.target} has weight {edge.weight}")


@dataclass(frozen=True)
class CppnSettings:
    """Mutation rates (per mutation call) and limits of the CPPN encoding."""

    add_node: float = 0.12
    add_connection: float = 0.2
    toggle_connection: float = 0.03
    change_activation: float = 0.08
    perturb_weight: float = 0.5  # each connection's chance of a Gaussian nudge
    weight_sigma: float = 1.0
    # Each child draws its own step: sigma times a log-uniform factor in [1/spread,
    # spread], so one population holds both fine tuning and big jumps (1: fixed sigma).
    sigma_spread: float = 3.0
    new_weight_sigma: float = 2.0
    weight_limit: float = 12.0
    max_nodes: int = 48
    initial_hidden: int = 3  # hidden nodes added to each new genome (0 to this many)

    def __post_init__(self) -> None:
        for name in ("add_node", "add_connection", "toggle_connection", "change_activation",
                     "perturb_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ChickenSaviourError(f"{name} must be a probability in [0, 1]")
        if min(self.weight_sigma, self.new_weight_sigma, self.weight_limit) <= 0:
            raise ChickenSaviourError("weight sigmas and limit must be > 0")
        if self.sigma_spread < 1.0:
            raise ChickenSaviourError("sigma_spread must be >= 1")
        if self.max_nodes < 8 or self.initial_hidden < 0:
            raise ChickenSaviourError("max_nodes must be >= 8 and initial_hidden >= 0")


class CppnEncoding:
    """CPPN genomes rendered at any size; 1 output (grey) or 3 (RGB).

    Example::

        encoding = CppnEncoding(channels=3)
        images = encoding.render(encoding.random(8, np.random.default_rng(0)), 224)
    """

    name = "cppn"

    def __init__(self, channels: int = 3, settings: CppnSettings | None = None) -> None:
        self.channels = check_channels(channels)
        self.settings = settings or CppnSettings()

    # -- making genomes -----------------------------------------------------------
    def minimal(self, rng: np.random.Generator) -> CppnGenome:
        """Inputs fully connected to the outputs with random weights, no hidden node."""
        inputs = [CppnNode(i, "input", "identity", 0.0) for i in range(len(INPUT_NAMES))]
        outputs = [CppnNode(len(INPUT_NAMES) + c, "output", str(rng.choice(ACTIVATIONS)), 1.0)
                   for c in range(self.channels)]
        connections = [CppnConnection(i.id, o.id, self._new_weight(rng))
                       for o in outputs for i in inputs]
        return CppnGenome(tuple(inputs + outputs), tuple(connections))

    def random(self, count: int, rng: np.random.Generator) -> list[CppnGenome]:
        genomes = []
        for _ in range(count):
            genome = self.minimal(rng)
            for _ in range(int(rng.integers(0, self.settings.initial_hidden + 1))):
                genome = self._add_node(genome, rng)
                genome = self._add_connection(genome, rng)
            genomes.append(genome)
        return genomes

    def mutate(self, genome: CppnGenome, rng: np.random.Generator,
               generation: int = 0) -> CppnGenome:
        """A mutated copy (NEAT-style structural and weight mutations; never a no-op)."""
        s = self.settings
        mutated = genome
        if rng.random() < s.add_node and len(mutated.nodes) < s.max_nodes:
            mutated = self._add_node(mutated, rng)
        if rng.random() < s.add_connection:
            mutated = self._add_connection(mutated, rng)
        if rng.random() < s.toggle_connection:
            mutated = self._toggle_connection(mutated, rng)
        if rng.random() < s.change_activation:
            mutated = self._change_activation(mutated, rng)
        mutated = self._perturb_weights(mutated, rng, force=mutated is genome)
        return mutated

    def _new_weight(self, rng: np.random.Generator) -> float:
        limit = self.settings.weight_limit
        return float(np.clip(rng.normal(0.0, self.settings.new_weight_sigma), -limit, limit))

    def _next_id(self, genome: CppnGenome) -> int:
        return max(node.id for node in genome.nodes) + 1

    def _add_node(self, genome: CppnGenome, rng: np.random.Generator) -> CppnGenome:
        enabled = [i for i, edge in enumerate(genome.connections) if edge.enabled]
        if not enabled:
            return genome
        index = int(rng.choice(enabled))
        edge = genome.connections[index]
        depths = {node.id: node.depth for node in genome.nodes}
        low, high = depths[edge.source], depths[edge.target]
        depth = float(low + (high - low) * rng.uniform(0.25, 0.75))
        if not low < depth < high:  # the gap is too small to split: leave it
            return genome
        activation = str(rng.choice(ACTIVATIONS))
        node = CppnNode(self._next_id(genome), "hidden", activation, depth)
        connections = list(genome.connections)
        connections[index] = replace(edge, enabled=False)
        connections += [CppnConnection(edge.source, node.id, 1.0),
                        CppnConnection(node.id, edge.target, edge.weight)]
        return CppnGenome((*genome.nodes, node), tuple(connections))

    def _add_connection(self, genome: CppnGenome, rng: np.random.Generator) -> CppnGenome:
        existing = {(e.source, e.target): i for i, e in enumerate(genome.connections)}
        for _ in range(20):
            source, target = rng.choice(len(genome.nodes), size=2, replace=False)
            a, b = genome.nodes[int(source)], genome.nodes[int(target)]
            if a.depth == b.depth:
                continue
            if a.depth > b.depth:
                a, b = b, a
            index = existing.get((a.id, b.id))
            connections = list(genome.connections)
            if index is None:
                connections.append(CppnConnection(a.id, b.id, self._new_weight(rng)))
            elif not connections[index].enabled:
                connections[index] = replace(connections[index], enabled=True)
            else:
                continue
            return CppnGenome(genome.nodes, tuple(connections))
        return genome

    def _toggle_connection(self, genome: CppnGenome, rng: np.random.Generator) -> CppnGenome:
        if not genome.connections:
            return genome
        index = int(rng.integers(len(genome.connections)))
        connections = list(genome.connections)
        connections[index] = replace(connections[index], enabled=not connections[index].enabled)
        return CppnGenome(genome.nodes, tuple(connections))

    def _change_activation(self, genome: CppnGenome, rng: np.random.Generator) -> CppnGenome:
        candidates = [i for i, node in enumerate(genome.nodes) if node.kind != "input"]
        index = int(rng.choice(candidates))
        nodes = list(genome.nodes)
        others = [a for a in ACTIVATIONS if a != nodes[index].activation]
        nodes[index] = replace(nodes[index], activation=str(rng.choice(others)))
        return CppnGenome(tuple(nodes), genome.connections)

    def _perturb_weights(self, genome: CppnGenome, rng: np.random.Generator, *,
                         force: bool) -> CppnGenome:
        s = self.settings
        count = len(genome.connections)
        if count == 0:
            return genome
        chosen = rng.random(count) < s.perturb_weight
        if force and not chosen.any():
            chosen[int(rng.integers(count))] = True
        if not chosen.any():
            return genome
        factor = np.exp(rng.uniform(-np.log(s.sigma_spread), np.log(s.sigma_spread)))
        nudges = rng.normal(0.0, s.weight_sigma * factor, size=count)
        connections = tuple(
            replace(edge, weight=float(np.clip(edge.weight + nudge, -s.weight_limit,
                                               s.weight_limit))) if pick else edge
            for edge, nudge, pick in zip(genome.connections, nudges, chosen, strict=True))
        return CppnGenome(genome.nodes, connections)

    # -- rendering -----------------------------------------------------------------
    def render(self, genomes: Sequence[CppnGenome], size: int) -> torch.Tensor:
        check_size(size)
        images = np.empty((len(genomes), self.channels, size, size), dtype=np.float32)
        for index, genome in enumerate(genomes):
            images[index] = render_one(genome, size, self.channels)
        return torch.from_numpy(images)


def render_one(genome: CppnGenome, size: int, channels: int) -> np.ndarray:
    """One genome as a float32 ``(channels, size, size)`` image in ``[0, 1]``.

    Outputs map ``[-1, 1]`` linearly to ``[0, 1]`` and clip beyond, so an identity or
    absolute-value output makes hard-edged shapes and a sine output smooth bands.
    """
    values: dict[int, np.ndarray] = dict(zip(range(len(INPUT_NAMES)), _inputs(size),
                                             strict=True))
    incoming: dict[int, list[CppnConnection]] = {}
    for edge in genome.connections:
        if edge.enabled:
            incoming.setdefault(edge.target, []).append(edge)
    zero = np.zeros(size * size, dtype=np.float32)
    outputs = []
    for node in sorted(genome.nodes, key=lambda n: (n.depth, n.id)):
        if node.kind == "input":
            continue
        total = zero
        for edge in incoming.get(node.id, ()):
            total = total + np.float32(edge.weight) * values[edge.source]
        values[node.id] = activate(node.activation, total)
        if node.kind == "output":
            outputs.append((node.id, values[node.id]))
    if len(outputs) != channels:
        raise ChickenSaviourError(f"CPPN genome has {len(outputs)} outputs, expected {channels}")
    outputs.sort()
    image = np.stack([value for _, value in outputs]).reshape(channels, size, size)
    return np.clip(image * 0.5 + 0.5, 0.0, 1.0, out=image)


def activate(name: str, z: np.ndarray) -> np.ndarray:
    """The node activations, elementwise on float32 arrays."""
    if name == "sine":
        return np.sin(z)
    if name == "gaussian":
        return np.exp(-np.square(z))
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))
    if name == "identity":
        return z
    if name == "abs":
        return np.abs(z)
    raise ChickenSaviourError(f"unknown activation {name!r}; one of {', '.join(ACTIVATIONS)}")


@lru_cache(maxsize=8)
def _inputs(size: int) -> tuple[np.ndarray, ...]:
    """x, y in [-1, 1], the distance to the centre and a bias, flattened (read-only)."""
    axis = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    y, x = np.meshgrid(axis, axis, indexing="ij")
    d = np.sqrt(x * x + y * y)
    arrays = tuple(a.reshape(-1) for a in (x, y, d, np.ones_like(x)))
    for array in arrays:
        array.setflags(write=False)
    return arrays
