"""What a predictor's training rows covered, and how far a feature row lies outside it.

The domain is the range of every feature column over the training rows. On a space's encoding that is exactly
what a user means by "what it was trained on": a one-hot column that was never 1 is a resolution or a block choice
no training architecture had, and the range of the MACs and parameter columns is the cost range it saw. A model
predicts outside it by extrapolation only, which tree and network models do badly (a predictor fitted on 224-px
subnets alone rates tiny low-resolution subnets as well as large ones).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Domain"]

_ONE_HOT = re.compile(r"^(?P<label>.+)=(?P<value>.+)$")
_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class Domain:
    """Per feature column the lowest and highest training value."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, features: np.ndarray) -> Domain:
        """The domain of a training matrix."""
        x = np.asarray(features, dtype=np.float64)
        return cls(x.min(axis=0), x.max(axis=0))

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Per row, how far it lies outside: the sum over columns of the excess beyond the range, relative to the
        range's width (1 for a column that did not vary); 0 inside."""
        x = np.asarray(features, dtype=np.float64)
        width = np.where(self.high - self.low > 0, self.high - self.low, 1.0)
        slack = _TOLERANCE * np.maximum(1.0, np.maximum(np.abs(self.low), np.abs(self.high)))
        below = np.maximum(self.low - slack - x, 0.0)
        above = np.maximum(x - self.high - slack, 0.0)
        return ((below + above) / width).sum(axis=1)

    def contains(self, features: np.ndarray) -> np.ndarray:
        """Per row, whether every column lies within the training range."""
        return self.distance(features) == 0.0

    def describe(self, names: Sequence[str] | None) -> dict[str, Any]:
        """For people: per decision label the values seen (from ``label=value`` one-hot columns), per other column
        its ``[low, high]``."""
        if names is None:
            return {f"column_{i}": [float(a), float(b)] for i, (a, b) in enumerate(zip(self.low, self.high))}
        seen: dict[str, Any] = {}
        for name, low, high in zip(names, self.low, self.high):
            match = _ONE_HOT.match(name)
            if match and low >= 0 and high <= 1:
                values = seen.setdefault(match["label"], [])
                if high > 0:
                    values.append(_number(match["value"]))
            else:
                seen[name] = [float(low), float(high)]
        return seen

    def to_json(self) -> dict[str, list[float]]:
        return {"low": self.low.tolist(), "high": self.high.tolist()}

    @classmethod
    def from_json(cls, data: Any, columns: int | None) -> Domain:
        """Checked: two lists of finite numbers, of ``columns`` entries each where that is known, ``low <= high``.

        Raises:
            ValueError: naming what is wrong.
        """
        if not isinstance(data, dict) or set(data) != {"low", "high"}:
            raise ValueError("domain must be an object with the lists 'low' and 'high'")
        arrays = []
        for key in ("low", "high"):
            values = data[key]
            if not isinstance(values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
            ):
                raise ValueError(f"domain {key} must be a list of numbers")
            arrays.append(np.asarray(values, dtype=np.float64))
        low, high = arrays
        if len(low) != len(high) or (columns is not None and len(low) != columns):
            raise ValueError(f"domain low/high must hold {columns or len(low)} entries each")
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low <= high)):
            raise ValueError("domain low/high must be finite with low <= high")
        return cls(low, high)


def _number(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else value
