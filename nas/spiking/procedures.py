"""The evaluation procedures of the spiking families: every ``T`` of an arch in one pass (with energy, SynOps and
firing rate), and the QCFS twin's accuracy after ANN-to-SNN conversion."""

from __future__ import annotations

from nas.data import DataSplits
from nas.spiking.conversion import evaluate_conversion
from nas.spiking.evaluation import evaluate_timesteps, spiking_metrics
from nas.supernet.base import Supernet
from nas.supernet.families.spiking.costs import DEFAULT_COSTS
from nas.training.procedures import EvaluationSettings, Scorer, register_procedure, standard_scorer
from search_spaces import Arch

__all__ = ["conversion_scorer", "timesteps_scorer"]


@register_procedure("timesteps")
def timesteps_scorer(supernet: Supernet, data: DataSplits, settings: EvaluationSettings) -> Scorer:
    """Every ``T`` of an arch evaluated in one pass and remembered, so its siblings at other ``T`` cost nothing."""
    space = supernet.space
    known: dict[Arch, dict[str, float]] = {}

    def score(arch: Arch) -> dict[str, float]:
        if arch not in known:
            results, counts = evaluate_timesteps(supernet, arch, data, settings.split, settings.calibration_images)
            for steps, result in results.items():
                sibling = space.with_timesteps(arch, steps)
                known[sibling] = spiking_metrics(supernet, sibling, result, counts, DEFAULT_COSTS)
        return dict(known[arch])

    return score


@register_procedure("conversion")
def conversion_scorer(supernet: Supernet, data: DataSplits, settings: EvaluationSettings) -> Scorer:
    """When ``converted_accuracy`` is asked for, the subnet's accuracy as an SNN after conversion at the settings'
    timesteps too (its ANN scored on the way: one extraction and calibration for both); else the standard scorer."""
    steps = settings.conversion_timesteps
    if "converted_accuracy" not in settings.metrics:
        return standard_scorer(supernet, data, settings)

    def score(arch: Arch) -> dict[str, float]:
        converted = evaluate_conversion(
            supernet, arch, data, settings.split, (steps,), calibration_images=settings.calibration_images
        )
        return {
            "accuracy": converted.ann_accuracy,
            "loss": converted.ann_loss,
            "converted_accuracy": converted.snn_accuracy[steps],
        }

    return score
