"""Reading supernet files: a torch file (loaded with ``weights_only=True``) holding the weights and what is needed
to rebuild the network (format version, space name, number of classes and constructor options; written by
:meth:`~nas.supernet.base.Supernet.save`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from nas.core.files import load_torch_file
from nas.supernet.base import FORMAT, FORMAT_VERSION, Supernet
from nas.supernet.registry import create_supernet, list_supernets
from search_spaces import CheckpointError, NasError
from search_spaces.errors import short_repr

__all__ = ["load_supernet", "save_supernet", "supernet_from_payload"]

MAX_CLASSES = 100_000


def save_supernet(supernet: Supernet, path: str | os.PathLike[str]) -> Path:
    """Write the supernet atomically to ``path`` (the same as ``supernet.save(path)``)."""
    return supernet.save(path)


def supernet_from_payload(payload: dict[str, Any], source: str = "checkpoint") -> Supernet:
    """Rebuild a supernet from :meth:`Supernet.payload`'s dict, checking format, version, name and shapes."""
    if payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{source} is not a supernet file (format={payload.get('format')!r}, expected {FORMAT!r})"
        )
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{source} has format_version={version!r}; this version reads {FORMAT_VERSION}")
    name = payload.get("supernet")
    if name not in list_supernets():
        raise CheckpointError(f"{source} is for supernet {name!r}; known supernets: {', '.join(list_supernets())}")
    options = payload.get("options", {})
    num_classes = payload.get("num_classes")
    if not isinstance(options, dict) or type(num_classes) is not int:
        raise CheckpointError(
            f"{source} has num_classes={short_repr(num_classes)} and options={short_repr(options)}; expected an "
            "integer and a mapping"
        )
    if not 1 <= num_classes <= MAX_CLASSES:  # checked before building: a huge head would exhaust memory
        raise CheckpointError(f"{source} has num_classes={num_classes}; allowed: 1..{MAX_CLASSES}")
    try:
        supernet = create_supernet(name, num_classes=num_classes, **options)
        supernet.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, RuntimeError, TypeError, ValueError, NasError) as exc:
        first = " ".join(str(exc).split())[:300]
        raise CheckpointError(f"{source} does not match supernet {name!r}: {first}") from None
    for key, tensor in supernet.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{source} holds non-finite weights (NaN or inf) in {key}; it is corrupt")
    return supernet


def load_supernet(path: str | os.PathLike[str]) -> Supernet:
    """Load a supernet written by :func:`save_supernet` (or the supernet inside a training checkpoint).

    Raises:
        CheckpointError: missing, corrupt or unsafe file, unknown format or version, or weights that do not fit.
    """
    payload = load_torch_file(path, "supernet")
    if "supernet_payload" in payload:  # a training checkpoint wraps the supernet
        payload = payload["supernet_payload"]
    return supernet_from_payload(payload, source=str(path))
