"""Spiking networks: LIF/PLIF/IF neurons, the elastic spiking ResNet, its cost model, all-T evaluation and
ANN-to-SNN conversion."""

from __future__ import annotations

from nas.layers.neurons import QCFS, LIFNeuron
from nas.spiking.conversion import ConversionError, check_conversion_friendly, convert_to_snn, evaluate_conversion
from nas.spiking.evaluation import TimestepResult, evaluate_timesteps
from nas.supernet.families.spiking.costs import DEFAULT_COSTS, EnergyCosts, record_spikes
from nas.supernet.families.spiking.network import SpikingResNet, forward_all_steps

__all__ = [
    "DEFAULT_COSTS",
    "QCFS",
    "ConversionError",
    "EnergyCosts",
    "LIFNeuron",
    "SpikingResNet",
    "TimestepResult",
    "check_conversion_friendly",
    "convert_to_snn",
    "evaluate_conversion",
    "evaluate_timesteps",
    "forward_all_steps",
    "record_spikes",
]
