"""The spiking ResNet families: ``spiking`` (LIF neurons; elastic T, threshold and tau besides the structure) and
``qcfs``, its conversion-friendly ANN twin with QCFS activations. One network class serves both."""

from __future__ import annotations

from nas.supernet.families.spiking.costs import CONVERSION_METRICS, SPIKING_METRICS, SpikingCosts
from nas.supernet.families.spiking.network import SpikingResNet
from nas.supernet.registry import Family, register_family

__all__ = ["QCFS_FAMILY", "SPIKING_FAMILY", "SpikingCosts", "SpikingResNet"]

_NO_EXPORT = "a spiking or QCFS subnet is a plain torch module: supernet.extract(arch) (see README, Spiking networks)"
_NO_TIMM = (
    "timm has no spiking or QCFS layers (LIF neurons unrolled over time steps, quantized clip-floor-shift "
    "activations), so these networks have no native timm form; a subnet is a plain torch module: "
    "supernet.extract(arch)"
)

SPIKING_FAMILY = register_family(
    Family(
        name="spiking",
        spaces=("spiking_resnet",),
        supernet=SpikingResNet,
        costs=SpikingCosts,
        export_note=_NO_EXPORT,
        timm_note=_NO_TIMM,
        metrics=SPIKING_METRICS,
        measured_metrics=("energy", "synops", "firing_rate"),
        evaluation="timesteps",
        spiking=True,
    )
)

QCFS_FAMILY = register_family(
    Family(
        name="qcfs",
        spaces=("qcfs_resnet",),
        supernet=SpikingResNet,
        costs=SpikingCosts,
        export_note=_NO_EXPORT,
        timm_note=_NO_TIMM,
        metrics=CONVERSION_METRICS,
        measured_metrics=("converted_accuracy",),
        evaluation="conversion",
    )
)
