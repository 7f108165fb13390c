"""What a sampler is built from: one typed context, the same for every sampler (each uses what it needs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from search_spaces import Arch, SearchSpace

__all__ = ["ArchMatrix", "SamplerContext"]

ArchMatrix = Callable[[Sequence[Arch]], np.ndarray]
"""archs -> one row per arch (objective values, NaN where not known cheaply; or budget violations, <= 0 fine)."""


@dataclass(frozen=True)
class SamplerContext:
    """A search's facts a sampler may use.

    Attributes:
        seed: the sampler's seed.
        directions: ``"minimize"``/``"maximize"`` per objective, in the study's order.
        population: NSGA-II's and evolution's population; the predictor-guided tactic starts with half of it.
        space: the search space (needed by samplers that build archs themselves).
        known: exact values of the cheap objectives per arch.
        violations: relative violations of the cheap budgets per arch.
        pool: every arch of an enumerable space (a table), to draw candidates from.
    """

    seed: int
    directions: tuple[str, ...]
    population: int = 50
    space: SearchSpace | None = None
    known: ArchMatrix | None = None
    violations: ArchMatrix | None = None
    pool: Sequence[Arch] | None = None
