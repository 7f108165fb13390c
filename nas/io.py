"""Atomic file writing and safe checkpoint reading.

Every artefact is written to a temporary file beside its destination and renamed over it, so an interrupted
write never leaves a truncated file and a failed write never destroys the previous version.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from search_spaces import CheckpointError, NasError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "load_torch_file",
    "save_torch_file",
]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file and rename; create parent folders."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise NasError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise NasError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Atomically write indented JSON."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


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
