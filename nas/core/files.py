"""Safe checkpoint reading and writing (the atomic writers live in :mod:`search_spaces.atomic` and are
re-exported here)."""

from __future__ import annotations

import io
import os
import re
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
        raise CheckpointError(f"cannot load {what} {source}: {_load_failure(exc)}") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"{what} {source} holds a {type(payload).__name__}, expected a dict")
    return payload


def _load_failure(exc: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in one line: a pickled object (named), or corruption."""
    text = str(exc)
    named = re.search(r"GLOBAL ([\w.]+)", text)
    if named or "Unsupported global" in text:
        what = f" ({named.group(1)})" if named else ""
        return f"it holds pickled Python objects{what}, which are refused for safety (nothing in it was run)"
    if "weights_only" in text or "WeightsUnpickler" in text:
        return "it is corrupt or not a weights-only torch file (the safe loader cannot read it; nothing was run)"
    first = text.splitlines()[0][:200] if text else type(exc).__name__
    return f"it is corrupt or not a torch file ({first})"
