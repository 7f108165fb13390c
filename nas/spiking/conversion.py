"""ANN-to-SNN conversion: turning a QCFS ANN subnet into an SNN of IF neurons, and scoring it.

Which layers convert is :mod:`nas.layers.convertible`'s check.

Conversion copies the weights and replaces every QCFS activation by an IF neuron: soft reset, membrane starting
at half the threshold, spikes carrying the threshold (the activation they stand for). Each threshold is either
the activation's learned clip ``lambda`` or set by *threshold balancing*: the given percentile of the
activation's input on calibration images (Rueckauer et al., 2017). The SNN of IF neurons is causal in time, so
one pass at the largest ``T`` yields every smaller ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nas.data import DataSplits
from nas.layers.convertible import ConversionError, check_conversion_friendly
from nas.supernet.families.spiking.network import SpikingResNet, forward_all_steps
from nas.training.evaluation import calibrate_bn, resize, score
from search_spaces import Arch, ConfigError

__all__ = ["ConversionResult", "convert_to_snn", "evaluate_conversion"]


@torch.no_grad()
def _activation_inputs(ann: SpikingResNet, images: Tensor) -> list[Tensor]:
    """The input of every QCFS activation on ``images``, in network order."""
    captured: list[Tensor] = []
    handles = [m.register_forward_hook(lambda _, args, __: captured.append(args[0].detach())) for m in ann.neurons()]
    try:
        ann.eval()(images)
    finally:
        for handle in handles:
            handle.remove()
    return captured


def convert_to_snn(
    ann: SpikingResNet,
    calibration: Tensor | None = None,
    thresholds: str = "learned",
    percentile: float = 99.9,
    timesteps: int = 32,
) -> SpikingResNet:
    """An SNN of IF neurons computing ``ann`` (a static QCFS subnet) by firing rates.

    Args:
        ann: a static subnet of a ``qcfs_resnet`` supernet (``supernet.extract(arch)``), BN calibrated.
        calibration: images at the arch's resolution, needed for ``thresholds="percentile"``.
        thresholds: ``learned`` (each QCFS clip ``lambda``) or ``percentile`` (threshold balancing).
        percentile: the percentile of each activation's positive inputs used by threshold balancing.
        timesteps: the default number of steps the SNN runs for.
    """
    check_conversion_friendly(ann)
    if ann.neuron_kind != "qcfs" or ann.static_arch is None:
        raise ConversionError("conversion needs a static QCFS subnet: supernet.extract(arch) of a qcfs_resnet")
    if thresholds not in ("learned", "percentile"):
        raise ConfigError(
            f"thresholds={thresholds!r} not in {{'learned', 'percentile'}}", field="thresholds", value=thresholds
        )
    if not 0 < percentile <= 100:
        raise ConfigError(f"percentile={percentile} must be in (0, 100]", field="percentile", value=percentile)
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ConfigError(f"timesteps={timesteps!r} must be an integer >= 1", field="timesteps", value=timesteps)
    snn = SpikingResNet(ann.space, ann.num_classes, 0.0, "if", ann.static_arch, surrogate=ann.surrogate)
    state = {k: v for k, v in ann.state_dict().items() if k in snn.state_dict()}
    snn.load_state_dict(state, strict=True)
    if thresholds == "learned":
        values = [float(m.threshold) for m in ann.neurons()]
    else:
        if calibration is None:
            raise ConfigError("threshold balancing needs calibration images", field="calibration")
        values = [_positive_percentile(x, percentile) for x in _activation_inputs(ann, calibration)]
    for neuron, value in zip(snn.neurons(), values):
        neuron.threshold = neuron.amplitude = max(value, 1e-3)
    snn.timesteps = timesteps
    return snn.eval()


def _positive_percentile(values: Tensor, percentile: float) -> float:
    positive = values[values > 0].flatten().float()
    if positive.numel() == 0:
        return 1.0
    if positive.numel() > 1_000_000:  # quantile's input limit; a strided sample keeps it exact enough
        positive = positive[:: positive.numel() // 1_000_000 + 1]
    return float(torch.quantile(positive, percentile / 100))


@dataclass(frozen=True)
class ConversionResult:
    """ANN accuracy, converted accuracy per ``T``, and the smallest ``T`` within the tolerance (if any)."""

    arch: Arch
    ann_accuracy: float
    ann_loss: float
    snn_accuracy: dict[int, float]
    tolerance: float
    recommended_timesteps: int | None
    thresholds: str

    def as_dict(self) -> dict[str, object]:
        return {
            "arch": self.arch.to_dict(),
            "ann_accuracy": self.ann_accuracy,
            "ann_loss": self.ann_loss,
            "snn_accuracy": {str(k): v for k, v in self.snn_accuracy.items()},
            "tolerance": self.tolerance,
            "recommended_timesteps": self.recommended_timesteps,
            "gap_at_recommended": (
                None
                if self.recommended_timesteps is None
                else self.ann_accuracy - self.snn_accuracy[self.recommended_timesteps]
            ),
            "thresholds": self.thresholds,
        }


@torch.no_grad()
def evaluate_conversion(
    supernet: SpikingResNet,
    arch: Arch,
    data: DataSplits,
    split: str = "test",
    timesteps: tuple[int, ...] = (1, 2, 4, 8, 16, 32),
    thresholds: str = "learned",
    tolerance: float = 0.01,
    calibration_images: int = 512,
    batch_size: int = 256,
) -> ConversionResult:
    """Calibrate and score the ANN subnet, convert it, score the SNN at every ``T`` (one pass at the largest) and
    recommend the smallest ``T`` whose accuracy is within ``tolerance`` of the ANN's."""
    if not timesteps or any(isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in timesteps):
        raise ConfigError(f"timesteps={timesteps!r} must be integers >= 1", field="timesteps", value=timesteps)
    resolution = int(arch["resolution"])
    ann = supernet.extract(arch)
    calibration = resize(data.train.images[:calibration_images], resolution)
    calibrate_bn(ann, calibration, batch_size)
    dataset = getattr(data, split)
    images, labels = resize(dataset.images, resolution), dataset.labels
    ann_result = score(ann, images, labels, batch_size)
    ann_accuracy = ann_result.accuracy
    snn = convert_to_snn(ann, calibration, thresholds, timesteps=max(timesteps))
    correct = torch.zeros(max(timesteps))
    for start in range(0, len(images), batch_size):
        scores = forward_all_steps(snn, images[start : start + batch_size])
        correct += (scores.argmax(2) == labels[start : start + batch_size]).sum(1)
    accuracy = {t: float(correct[t - 1]) / len(images) for t in sorted(timesteps)}
    recommended = next((t for t in sorted(timesteps) if accuracy[t] >= ann_accuracy - tolerance), None)
    return ConversionResult(arch, ann_accuracy, ann_result.loss, accuracy, tolerance, recommended, thresholds)
