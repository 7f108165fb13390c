"""Export of selected subnets for deployment: static networks in PyTorch (safetensors), TorchScript,
``torch.export`` and ONNX formats, each verified against the supernet and described by a model card.

>>> from nas.export import export_subnet, load_subnet
>>> card = export_subnet("runs/exp1/supernet.pt", "smallest", "exports/smallest")  # doctest: +SKIP
>>> model = load_subnet("exports/smallest")  # doctest: +SKIP
"""

from __future__ import annotations

from nas.export.errors import ExportError, ParityError
from nas.export.exporter import ExportOptions, SubnetExporter, export_front, export_subnet, export_subnets
from nas.export.formats import FORMATS, load_subnet
from nas.export.sources import ArchChoice, front_choices, resolve_arch

__all__ = [
    "FORMATS",
    "ArchChoice",
    "ExportError",
    "ExportOptions",
    "ParityError",
    "SubnetExporter",
    "export_front",
    "export_subnet",
    "export_subnets",
    "front_choices",
    "load_subnet",
    "resolve_arch",
]
