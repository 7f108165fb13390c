"""The architecture type: an immutable, hashable, JSON-round-trippable assignment of choices.

Its labels (``resolution``, ``s2_depth``, ``s2_b1_kernel``, ...) are the one vocabulary of the platform: the same
strings are Optuna parameter names, keys of :meth:`Arch.to_dict` and DataFrame columns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Choice = int | float | str

__all__ = ["Arch", "Choice"]


@dataclass(frozen=True)
class Arch(Mapping[str, Choice]):
    """One architecture of a named search space.

    Build it through a space (``space.validate(...)``, ``space.sample(rng)``) or
    :func:`~search_spaces.parsing.arch_from_json`, which validate; the constructor itself trusts its input. Only
    the labels active for this architecture are stored (a stage of depth 2 has no ``_b3_`` labels), so equal
    networks compare and hash equal.
    """

    space: str
    values: tuple[tuple[str, Choice], ...]

    def __hash__(self) -> int:
        # Archs are dictionary keys and set members in every search; hash the nested tuples once.
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.space, self.values))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the cached hash: string hashes differ between processes."""
        return {"space": self.space, "values": self.values}

    def __getitem__(self, label: str) -> Choice:
        for key, value in self.values:
            if key == label:
                return value
        raise KeyError(label)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self.values)

    def __len__(self) -> int:
        return len(self.values)

    def to_dict(self) -> dict[str, Choice]:
        """The labels and their values, in the space's order (no space name)."""
        return dict(self.values)

    def to_json(self) -> str:
        """A JSON object with the space name under ``"space"`` and one key per label."""
        return json.dumps({"space": self.space, **self.to_dict()})

    @property
    def key(self) -> str:
        """A short stable digest of the architecture, for file names and cache keys."""
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:16]

    def __str__(self) -> str:
        return self.to_json()
