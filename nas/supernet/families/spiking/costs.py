"""The cost model of spiking subnets: synaptic operations, energy, membrane memory and the bit budget.

A layer that receives spikes does one accumulate (AC) per input spike and outgoing synapse; a layer that
receives real values (the first layer under direct encoding) does dense multiply-accumulates (MAC) at every step.
Two ways to count ACs:

- the *rate model*: firing rate of the layer's input x its synapses (input-output connections inside the map,
  so taps that fall on zero padding do not count), summed over steps; firing rates come from any batch of data
  (the search uses the validation images it scores anyway);
- the *exact count*: the number of (input spike, synapse) pairs, convolving the actual spike maps with a
  kernel of ones (it differs from the rate model where spikes are denser at the border than inside).

Energy = MACs x E_MAC + ACs x E_AC. Default per-op energies are Horowitz's 45 nm figures (ISSCC 2014): a 32-bit
float add 0.9 pJ (an AC), a 32-bit float multiply 3.7 pJ plus add (a MAC, 4.6 pJ), an 8-bit integer multiply
0.2 pJ plus add 0.03 pJ (an INT8 MAC, 0.23 pJ). Memory traffic is not counted, for the SNN or the ANN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from nas.supernet.costs import CostModel, Metric
from nas.supernet.families.spiking.network import static_params
from nas.supernet.families.spiking.shapes import feature_map, layer_shapes
from search_spaces import Arch, ConfigError, SpikingResNetSpace

__all__ = [
    "CONVERSION_METRICS",
    "DEFAULT_COSTS",
    "SPIKING_METRICS",
    "EnergyCosts",
    "SpikingCosts",
    "membrane_bytes",
]


@dataclass(frozen=True)
class EnergyCosts:
    """Energy per operation in picojoules (defaults: 45 nm, Horowitz 2014)."""

    ac_pj: float = 0.9
    mac_pj: float = 4.6
    int8_mac_pj: float = 0.23

    def __post_init__(self) -> None:
        for name in ("ac_pj", "mac_pj", "int8_mac_pj"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name}={value!r} must be a positive number of pJ", field=name, value=value)


DEFAULT_COSTS = EnergyCosts()


def membrane_bytes(space: SpikingResNetSpace, arch: Arch, num_classes: int, bytes_per_value: int = 4) -> int:
    """Membrane-potential state per image: one value per neuron, kept across all ``T`` steps."""
    return sum(layer.neurons for layer in layer_shapes(space, arch, num_classes)) * bytes_per_value


SPIKING_METRICS = (
    Metric("timesteps", "minimize", "steps", "cheap", "spiking: timesteps T of the arch"),
    Metric("membrane_memory", "minimize", "bytes", "cheap", "spiking: membrane-potential state per image, fp32"),
    Metric("energy", "minimize", "pJ", "measured", "spiking: energy per image (MACs x 4.6 pJ + ACs x 0.9 pJ)"),
    Metric("synops", "minimize", "ACs", "measured", "spiking: synaptic operations per image"),
    Metric("firing_rate", "minimize", "fraction", "measured", "spiking: mean input spikes per neuron and step"),
)
CONVERSION_METRICS = (
    Metric(
        "converted_accuracy",
        "maximize",
        "fraction",
        "measured",
        "QCFS ANN: validation accuracy after ANN-to-SNN conversion at --convert-timesteps",
    ),
)


class SpikingCosts(CostModel):
    """MACs (of one step of the dense network), parameters, timesteps and membrane memory of spiking ResNet archs
    (and of their QCFS twins, which have one step)."""

    space: SpikingResNetSpace

    def macs(self, arch: Arch) -> int:
        return sum(layer.macs for layer in layer_shapes(self.space, arch, self.num_classes))

    def params(self, arch: Arch) -> int:
        return static_params(self.space, arch, self.num_classes)

    def forward_macs(self, arch: Arch) -> int:
        """MACs of one forward pass of the extracted subnet at batch 1, as ``FlopCounterMode`` counts them.

        :meth:`macs` is one step of the dense network with the classifier counted at every position of the last
        map; the network runs ``T`` steps (1 for the QCFS twin) and applies its classifier after pooling over
        space, so its forward pass costs ``T x`` (the synaptic layers + channels x classes).
        """
        layers = layer_shapes(self.space, arch, self.num_classes)
        channels, _ = feature_map(self.space, arch)
        per_step = sum(layer.macs for layer in layers if layer.name != "classifier") + channels * self.num_classes
        return self.space.timesteps_of(arch) * per_step

    def metrics(self, train_batch: int = 32) -> dict[str, Callable[[Arch], float]]:
        return {
            **super().metrics(train_batch),
            "timesteps": self.space.timesteps_of,
            "membrane_memory": lambda arch: membrane_bytes(self.space, arch, self.num_classes),
        }

    def bound(self, metric: str) -> float | None:
        """Energy and SynOps can be no larger than the largest arch's dense MACs at the most steps."""
        if metric not in ("energy", "synops"):
            return None
        dense = self.macs(self.space.largest()) * self.space.max_timesteps
        return dense * (DEFAULT_COSTS.mac_pj if metric == "energy" else 1.0)
