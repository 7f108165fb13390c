"""Safe checkpoint reading and writing (the atomic writers live in :mod:`search_spaces.atomic` and are
re-exported here)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from search_spaces import CheckpointError
from search_spaces.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "load_torch_file",
    "save_torch_file",
]


def save_torch_file(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """``torch.save`` a dict of tensors and plain values, atomically."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_torch_file(path: str | os.PathLike[str], what: str = "checkpoint") -> dict[str, Any]:
    """Load a file written by :func:`save_torch_file` with ``weights_only=True`` (no arbitrary objects).

    Raises:
        CheckpointError: the file is missing, truncated, not a torch file, or holds a pickled object.
    """
    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"{what} {source} does not exist")
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            reason = "it holds pickled Python objects, which are refused for safety"
        else:
            reason = f"it is corrupt or not a torch file ({text[:200]})"
        raise CheckpointError(f"cannot load {what} {source}: {reason}") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"{what} {source} holds a {type(payload).__name__}, expected a dict")
    return payload
