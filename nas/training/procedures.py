"""How a subnet is scored: evaluation procedures by name, one chosen by each family (``Family.evaluation``).

A procedure is built once per supernet and data set and returns a scorer, ``arch -> {metric: value}``, giving at
least ``accuracy`` and ``loss`` on the settings' split after BN recalibration, plus the family's measured metrics.
The ``standard`` procedure is registered here; families that measure more register theirs beside their code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nas.data import DataSplits
from nas.supernet.base import Supernet
from nas.supernet.registry import family_of
from nas.training.evaluation import evaluate
from search_spaces import Arch, Registry

__all__ = ["PROCEDURES", "EvaluationSettings", "Scorer", "register_procedure", "scorer_for", "standard_scorer"]

Scorer = Callable[[Arch], dict[str, float]]


@dataclass(frozen=True)
class EvaluationSettings:
    """What a scorer measures: the split, the BN calibration size, the measured metrics asked for (a procedure
    may skip costly ones nobody asked for) and, for families that convert their ANN to spikes, the timesteps of
    the converted network."""

    split: str = "val"
    calibration_images: int = 512
    metrics: tuple[str, ...] = ()
    conversion_timesteps: int = 8


Procedure = Callable[[Supernet, DataSplits, EvaluationSettings], Scorer]
PROCEDURES: Registry[Procedure] = Registry("evaluation procedure")


def register_procedure(name: str) -> Callable[[Procedure], Procedure]:
    """Decorator registering a procedure under ``name``."""
    return PROCEDURES.register(name)


@register_procedure("standard")
def standard_scorer(supernet: Supernet, data: DataSplits, settings: EvaluationSettings) -> Scorer:
    """Accuracy and loss of each arch: extracted, BN recalibrated, scored."""

    def score(arch: Arch) -> dict[str, float]:
        result = evaluate(supernet, arch, data, settings.split, settings.calibration_images)
        return {"accuracy": result.accuracy, "loss": result.loss}

    return score


def scorer_for(supernet: Supernet, data: DataSplits, settings: EvaluationSettings) -> Scorer:
    """The scorer of ``supernet``'s family's procedure."""
    family = family_of(supernet.space)
    return PROCEDURES.get(family.evaluation if family is not None else "standard")(supernet, data, settings)
