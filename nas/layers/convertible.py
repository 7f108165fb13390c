"""Which networks an ANN-to-SNN conversion can turn into spiking ones.

An ANN converts to a rate-coded SNN when every activation is a non-negative, piecewise-linear clip an IF
neuron's firing rate can approximate (ReLU or clip-floor QCFS), batch norm folds into the preceding linear
layer, and pooling is an average (or a strided convolution). The check walks any ``nn.Module`` and names the
first layer that breaks this, and why.
"""

from __future__ import annotations

from torch import nn

from nas.layers.neurons import QCFS, LIFNeuron
from nas.layers.temporal import ElasticConv2d, TimeBatchNorm2d
from search_spaces import NasError

__all__ = ["ConversionError", "check_conversion_friendly", "conversion_issues"]

_FRIENDLY = (
    nn.Conv2d,
    nn.Linear,
    nn.modules.batchnorm._BatchNorm,
    nn.ReLU,
    QCFS,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Flatten,
    nn.Dropout,
    nn.Identity,
    ElasticConv2d,
    TimeBatchNorm2d,
)

_REASONS = {
    "Hardswish": "h-swish is negative on (-3, 0) and multiplies its input by a ramp; an IF neuron's rate is "
    "non-negative and linear in its input",
    "SiLU": "SiLU (swish) is negative for negative inputs and not piecewise-linear",
    "GELU": "GELU is negative for negative inputs and not piecewise-linear",
    "Sigmoid": "a sigmoid gate multiplies two activations, which spikes cannot do without MACs",
    "Hardsigmoid": "a hard-sigmoid gate multiplies two activations, which spikes cannot do without MACs",
    "Softmax": "softmax needs exponentials and a division across neurons",
    "MultiheadAttention": "softmax attention multiplies activations and needs exponentials",
    "MaxPool2d": "max pooling of spike trains does not give the max of the rates; use average pooling or a strided "
    "convolution",
    "AdaptiveMaxPool2d": "max pooling of spike trains does not give the max of the rates; use average pooling",
    "SqueezeExcite": "squeeze-excite gates channels by a sigmoid of activations (a multiplication of activations)",
    "DynamicSqueezeExcite": "squeeze-excite gates channels by a sigmoid of activations (a multiplication of "
    "activations)",
    "LeakyReLU": "a negative slope needs negative spikes",
    "Tanh": "tanh is negative for negative inputs and not piecewise-linear",
}


class ConversionError(NasError):
    """A network that cannot be converted to an SNN; names the layer and why."""

    def __init__(self, message: str, *, layer: str | None = None):
        super().__init__(message)
        self.layer = layer


def conversion_issues(model: nn.Module) -> list[tuple[str, str, str]]:
    """Every layer that keeps ``model`` from converting: ``(name, type, reason)``, in module order."""
    issues = []
    for name, module in model.named_modules():
        kind = type(module).__name__
        if kind in _REASONS:
            issues.append((name or "<root>", kind, _REASONS[kind]))
            continue
        if list(module.children()) or isinstance(module, _FRIENDLY):
            continue
        if isinstance(module, LIFNeuron):
            issues.append((name, kind, "the network already spikes; conversion starts from an ANN"))
            continue
        issues.append((name or "<root>", kind, f"{kind} is not one of the conversion-friendly layers"))
    return [issue for issue in issues if not any(issue[0].startswith(f"{other[0]}.") for other in issues)]


def check_conversion_friendly(model: nn.Module) -> None:
    """Raise :class:`ConversionError` naming the first layer that does not convert (and how many more)."""
    issues = conversion_issues(model)
    if issues:
        name, kind, reason = issues[0]
        more = f" ({len(issues) - 1} more layer(s) with the same problem)" if len(issues) > 1 else ""
        raise ConversionError(
            f"layer {name!r} ({kind}) cannot be converted to spikes: {reason}. Conversion-friendly layers: "
            f"conv, linear, batch norm after conv, ReLU or QCFS, average pooling{more}",
            layer=name,
        )
