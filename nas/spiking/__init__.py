"""The spiking families' procedures: every ``T`` evaluated in one pass with spike-counted energy, and ANN-to-SNN
conversion of QCFS subnets. Importing this package registers their evaluation procedures."""

from __future__ import annotations

from nas.layers.convertible import ConversionError, check_conversion_friendly
from nas.spiking import procedures  # noqa: F401  (registers the evaluation procedures)
from nas.spiking.conversion import ConversionResult, convert_to_snn, evaluate_conversion
from nas.spiking.energy import SpikeCounts, ann_comparison, record_spikes
from nas.spiking.evaluation import TimestepResult, evaluate_timesteps, spiking_metrics

__all__ = [
    "ConversionError",
    "ConversionResult",
    "SpikeCounts",
    "TimestepResult",
    "ann_comparison",
    "check_conversion_friendly",
    "convert_to_snn",
    "evaluate_conversion",
    "evaluate_timesteps",
    "record_spikes",
    "spiking_metrics",
]
