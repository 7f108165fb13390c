"""The NAS-Bench-201 cell space (Dong & Yang, 2020): a 4-node cell whose 6 edges each hold one of 5 operations.

Node ``j`` sums ``op(node i)`` over its incoming edges ``i < j``; node 0 is the cell input, node 3 its output. The
benchmark writes a cell as ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (node 1's edge, then node 2's, then node 3's);
:func:`parse_arch_str` and :func:`format_arch_str` convert between that string and an :class:`Arch`. Isomorphic
cells are kept apart, as the benchmark's 15,625 rows are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from search_spaces.arch import Arch
from search_spaces.base import Decision, SearchSpace
from search_spaces.errors import InvalidArchError, describe_choices, short_repr
from search_spaces.registry import ARCH_FORMATS, register_space

__all__ = ["EDGES", "OPS", "Nb201Space", "format_arch_str", "live_edges", "parse_arch_str"]

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # (from, to), string order
_NODE = re.compile(r"^\|(.+)\|$")


def _label(edge: tuple[int, int]) -> str:
    return f"edge_{edge[1]}_{edge[0]}"


@dataclass(frozen=True, repr=False)
class Nb201Space(SearchSpace):
    """Six decisions ``edge_<to>_<from>``, each one of :data:`OPS`."""

    name: str = "nb201"

    def decisions(self) -> tuple[Decision, ...]:
        return _DECISIONS

    def encode(self, arch: Arch) -> list[float]:
        """One-hot per edge, then per op: how many edges hold it, and how many of those lie on a live path
        (input to output with no ``none`` on it) — the second count is what the cell actually computes."""
        ops = [str(arch[_label(edge)]) for edge in EDGES]
        live = live_edges(arch)
        features = [1.0 if op == choice else 0.0 for op in ops for choice in OPS]
        features += [float(ops.count(choice)) for choice in OPS]
        features += [float(sum(1 for op, on in zip(ops, live) if on and op == choice)) for choice in OPS]
        return features

    def feature_names(self) -> list[str]:
        return [
            *super().feature_names(),
            *(f"count_{op}" for op in OPS),
            *(f"live_{op}" for op in OPS),
        ]


_DECISIONS = tuple(Decision(_label(edge), OPS) for edge in EDGES)
register_space("nb201")(Nb201Space)


def live_edges(arch: Arch) -> list[bool]:
    """Per edge (in :data:`EDGES` order): whether it lies on a path from input to output with no ``none`` op."""
    ops = {edge: str(arch[_label(edge)]) for edge in EDGES}
    reached = {0}
    for node in (1, 2, 3):
        if any(ops[(i, node)] != "none" and i in reached for i in range(node)):
            reached.add(node)
    reaches_out = {3}
    for node in (2, 1, 0):
        if any(ops[(node, j)] != "none" and j in reaches_out for j in range(node + 1, 4)):
            reaches_out.add(node)
    return [ops[(i, j)] != "none" and i in reached and j in reaches_out for i, j in EDGES]


def parse_arch_str(text: str, space: SearchSpace | None = None) -> Arch:
    """The :class:`Arch` of ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.

    Raises:
        InvalidArchError: naming the part of the string that is wrong and what is allowed there.
    """
    space = space or Nb201Space()
    if not isinstance(text, str):
        raise InvalidArchError(f"arch_str must be a string, got {type(text).__name__}", field="arch_str", value=text)
    nodes = text.strip().split("+")
    if len(nodes) != 3:
        raise InvalidArchError(
            f"arch_str {short_repr(text)} has {len(nodes)} '+'-separated nodes; expected 3 like "
            "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|",
            field="arch_str",
            value=text,
        )
    values: dict[str, str] = {}
    for node, part in enumerate(nodes, start=1):
        match = _NODE.match(part)
        tokens = match.group(1).split("|") if match else []
        if len(tokens) != node:
            raise InvalidArchError(
                f"arch_str {short_repr(text)}: node {node} is {short_repr(part)}; expected {node} '|op~i|' inputs",
                field="arch_str",
                value=text,
            )
        for source, token in enumerate(tokens):
            op, _, index = token.partition("~")
            if index != str(source) or op not in OPS:
                raise InvalidArchError(
                    f"arch_str {short_repr(text)}: {short_repr(token)} should be op~{source} with op one of "
                    f"{describe_choices(OPS)}",
                    field="arch_str",
                    value=token,
                    allowed=OPS,
                )
            values[_label((source, node))] = op
    return space.validate(values)


def format_arch_str(arch: Arch) -> str:
    """The benchmark's string for an NB201 arch (inverse of :func:`parse_arch_str`)."""
    nodes = []
    for node in (1, 2, 3):
        nodes.append("|" + "|".join(f"{arch[_label((i, node))]}~{i}" for i in range(node)) + "|")
    return "+".join(nodes)


ARCH_FORMATS.add("nb201", parse_arch_str)
