"""The search-space contract and its generic implementation over a list of decisions.

A space is an ordered list of :class:`Decision` s. A decision may be *gated* by an earlier one (block 3 of a stage
exists only when the stage's depth is at least 3); gated-off decisions are left out of an :class:`Arch`. From that
description alone the base class validates, samples, mutates, crosses over, encodes and suggests through an
Optuna trial, so a concrete space only declares its decisions (and any format conversions of its own).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from search_spaces.arch import Arch, Choice
from search_spaces.errors import InvalidArchError, describe_choices, short_repr

__all__ = ["Decision", "SearchSpace", "StagedSpace", "TrialLike"]

_META_KEYS = frozenset({"space"})


@dataclass(frozen=True)
class Decision:
    """One choice of a space: its label, the allowed values, and an optional gate ``(label, minimum)``."""

    label: str
    choices: tuple[Choice, ...]
    gate: tuple[str, int] | None = None

    def is_active(self, values: Mapping[str, Any]) -> bool:
        """Whether this decision exists given the values chosen before it."""
        if self.gate is None:
            return True
        gate_label, minimum = self.gate
        return int(values[gate_label]) >= minimum


class TrialLike(Protocol):
    """The part of ``optuna.trial.Trial`` a space needs (so this package never imports optuna)."""

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


def _same_type(value: Any, choice: Choice) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(choice, str):
        return isinstance(value, str)
    if isinstance(choice, int):
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, (int, float))


class SearchSpace(ABC):
    """A family of architectures. Holds no weights: only the choices and how to move among them.

    Subclasses define :attr:`name` and :meth:`decisions`; everything else has a generic implementation that a
    subclass may override for speed or for a richer encoding.
    """

    name: str

    @abstractmethod
    def decisions(self) -> tuple[Decision, ...]:
        """All decisions in order; a gate always refers to an earlier decision."""

    # ------------------------------------------------------------------ construction and validation
    def labels(self) -> tuple[str, ...]:
        """Every label an architecture of this space can have."""
        return tuple(d.label for d in self.decisions())

    def validate(self, values: Mapping[str, Any]) -> Arch:
        """Check a mapping of label -> value and return the canonical :class:`Arch`.

        Raises:
            InvalidArchError: naming the field, the bad value and the allowed values.
        """
        if not isinstance(values, Mapping):
            raise InvalidArchError(
                f"arch must be a JSON object, got {type(values).__name__}", field="arch", value=values
            )
        space_name = values.get("space", self.name)
        if space_name != self.name:
            raise InvalidArchError(
                f"space={short_repr(space_name)} but this is space {self.name!r}", field="space", value=space_name
            )
        by_label = {d.label: d for d in self.decisions()}
        unknown = [k for k in values if k not in by_label and k not in _META_KEYS]
        if unknown:
            raise InvalidArchError(
                f"unknown field {short_repr(unknown[0])} for space {self.name!r}; fields look like "
                f"{', '.join(list(by_label)[:4])}, ...",
                field=str(unknown[0]),
                value=values[unknown[0]],
                allowed=list(by_label),
            )
        chosen: dict[str, Choice] = {}
        for decision in self.decisions():
            present = decision.label in values
            active = decision.is_active(chosen)
            if not present:
                if active:
                    raise InvalidArchError(
                        f"missing field {decision.label!r} (one of {describe_choices(decision.choices)})",
                        field=decision.label,
                        allowed=decision.choices,
                    )
                continue
            value = self._check_value(decision, values[decision.label])
            if active:
                chosen[decision.label] = value
        return Arch(self.name, tuple(chosen.items()))

    def _check_value(self, decision: Decision, value: Any, field: str | None = None) -> Choice:
        field = field or decision.label
        if not _same_type(value, decision.choices[0]):
            raise InvalidArchError(
                f"{field}={short_repr(value)} has type {type(value).__name__}; expected one of "
                f"{describe_choices(decision.choices)}",
                field=field,
                value=value,
                allowed=decision.choices,
            )
        if isinstance(decision.choices[0], int) and isinstance(value, float):
            value = int(value)
        if value not in decision.choices:
            raise InvalidArchError(
                f"{field}={short_repr(value)} not in {describe_choices(decision.choices)}",
                field=field,
                value=value,
                allowed=decision.choices,
            )
        return value

    def from_genes(self, genes: Mapping[str, Choice]) -> Arch:
        """Canonical arch from a full assignment (every decision given); gated-off ones are dropped."""
        chosen: dict[str, Choice] = {}
        for decision in self.decisions():
            if decision.is_active(chosen):
                chosen[decision.label] = genes[decision.label]
        return Arch(self.name, tuple(chosen.items()))

    def genes(self, arch: Arch, rng: random.Random) -> dict[str, Choice]:
        """A full assignment from an arch, drawing the gated-off decisions at random."""
        return {d.label: arch[d.label] if d.label in arch else rng.choice(d.choices) for d in self.decisions()}

    # ------------------------------------------------------------------ moving through the space
    def sample(self, rng: random.Random) -> Arch:
        """A uniformly random choice per decision."""
        return self.from_genes({d.label: rng.choice(d.choices) for d in self.decisions()})

    def smallest(self) -> Arch:
        """The first (smallest) choice everywhere."""
        return self.from_genes({d.label: d.choices[0] for d in self.decisions()})

    def largest(self) -> Arch:
        """The last (largest) choice everywhere."""
        return self.from_genes({d.label: d.choices[-1] for d in self.decisions()})

    def mutate(self, arch: Arch, rng: random.Random, rate: float = 0.1) -> Arch:
        """Redraw each decision with probability ``rate`` (to a different value where there is one)."""
        genes = self.genes(arch, rng)
        for decision in self.decisions():
            if len(decision.choices) > 1 and rng.random() < rate:
                others = [c for c in decision.choices if c != genes[decision.label]]
                genes[decision.label] = rng.choice(others)
        return self.from_genes(genes)

    def crossover(self, first: Arch, second: Arch, rng: random.Random) -> Arch:
        """Uniform crossover: each decision from either parent with equal chance."""
        a, b = self.genes(first, rng), self.genes(second, rng)
        return self.from_genes({label: a[label] if rng.random() < 0.5 else b[label] for label in a})

    def suggest(self, trial: TrialLike) -> Arch:
        """Ask an Optuna trial for each active decision; parameter names are the arch labels."""
        chosen: dict[str, Choice] = {}
        for decision in self.decisions():
            if decision.is_active(chosen):
                chosen[decision.label] = trial.suggest_categorical(decision.label, list(decision.choices))
        return Arch(self.name, tuple(chosen.items()))

    # ------------------------------------------------------------------ once-for-all's config format
    ofa_keys: ClassVar[tuple[str, ...]] = ()
    """Keys of the space's once-for-all config format (``ks``, ``e``, ``d``, ``r``); empty: it has none."""

    def is_ofa_config(self, data: Mapping[str, Any]) -> bool:
        """Whether ``data`` is written in the space's once-for-all format rather than as labels."""
        return False

    def to_ofa_config(self, arch: Arch) -> dict[str, Any] | None:
        """``arch`` in the format once-for-all's own tools read; None for a space without one."""
        return None

    def from_ofa_config(self, config: Any, *, extra_keys: tuple[str, ...] = ()) -> Arch:
        """The arch of a once-for-all config; a space without that format refuses every config."""
        raise InvalidArchError(f"space {self.name!r} has no once-for-all config format", field="config", value=config)

    # ------------------------------------------------------------------ features
    def encode(self, arch: Arch) -> list[float]:
        """One-hot per decision (all zeros where the decision is gated off), concatenated in order."""
        features: list[float] = []
        for decision in self.decisions():
            value = arch.get(decision.label)
            features.extend(1.0 if value == choice else 0.0 for choice in decision.choices)
        return features

    def feature_names(self) -> list[str]:
        """Column names matching :meth:`encode`."""
        return [f"{d.label}={c}" for d in self.decisions() for c in d.choices]

    def count(self) -> int:
        """Number of distinct architectures: a gating decision contributes, per value, the product of the choices
        it switches on."""
        decisions = self.decisions()
        total = 1
        for decision in decisions:
            if decision.gate is not None:
                continue
            gated = [d for d in decisions if d.gate and d.gate[0] == decision.label]
            if not gated:
                total *= len(decision.choices)
                continue
            ways = 0
            for value in decision.choices:
                product = 1
                for child in gated:
                    product *= len(child.choices) if int(value) >= child.gate[1] else 1  # type: ignore[index]
                ways += product
            total *= ways
        return total

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, decisions={len(self.decisions())})"


class StagedSpace(SearchSpace):
    """A space of stages of blocks: per stage a depth, per block some choices; one label scheme for them all."""

    depths: tuple[int, ...]

    @property
    def max_depth(self) -> int:
        return max(self.depths)

    @staticmethod
    def depth_label(stage: int) -> str:
        """Label of a stage's depth; stages count from 1."""
        return f"s{stage}_depth"

    @staticmethod
    def block_label(stage: int, block: int, what: str) -> str:
        """Label of a block's choice ``what`` (``kernel``, ``expand``, ``width``); stages and blocks count from 1."""
        return f"s{stage}_b{block}_{what}"

    def stage_decisions(self, stages: int, block_choices: Sequence[tuple[str, tuple[Choice, ...]]]) -> list[Decision]:
        """Per stage its depth, then per block slot each ``(what, choices)``; slots past the smallest depth exist
        only when the stage is deep enough (gated by the depth)."""
        decisions = []
        min_depth = min(self.depths)
        for stage in range(1, stages + 1):
            depth_label = self.depth_label(stage)
            decisions.append(Decision(depth_label, self.depths))
            for block in range(1, self.max_depth + 1):
                gate = None if block <= min_depth else (depth_label, block)
                decisions += [Decision(self.block_label(stage, block, what), c, gate) for what, c in block_choices]
        return decisions
