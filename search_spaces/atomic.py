"""Atomic file writing, shared by every package: a temporary file beside the destination, renamed over it.

An interrupted write never leaves a truncated file, and a failed write never destroys the previous version.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from search_spaces.errors import NasError

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_text", "recover_folder", "replace_folder"]


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
            os.fchmod(stream.fileno(), _file_mode(target))  # mkstemp makes it private; keep a plain write's mode
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise NasError(f"cannot write {target}: {exc.strerror or exc}") from None
    _sync_folder(target.parent)
    return target


def _sync_folder(folder: Path) -> None:
    """fsync a folder so a rename in it survives a power loss too (best effort: not every OS allows it)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _file_mode(target: Path) -> int:
    """The mode of the file being replaced, or what a new file gets under the process's umask."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        pass
    try:
        status = Path("/proc/self/status").read_text()
        umask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:")), 8)
    except (OSError, StopIteration, ValueError):
        umask = 0o022
    return 0o666 & ~umask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Atomically write indented JSON."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _retired_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.retired")


def replace_folder(staging: Path, target: Path) -> Path:
    """Rename the complete folder ``staging`` to ``target``, replacing an existing ``target``.

    A folder cannot be swapped in one rename, so the previous one is first renamed to ``.<name>.retired``; if the
    process dies between the two renames, :func:`recover_folder` (run by readers and by the next replace) puts it
    back. A failed rename restores it at once. Raises ``OSError``.
    """
    target, retired = Path(target), _retired_name(Path(target))
    recover_folder(target)
    if retired.exists():  # a whole target exists, so this is garbage of an earlier interrupted replace
        shutil.rmtree(retired, ignore_errors=True)
    if target.exists():
        os.replace(target, retired)
    try:
        os.replace(staging, target)
    except OSError:
        recover_folder(target)
        raise
    shutil.rmtree(retired, ignore_errors=True)
    return target


def recover_folder(target: str | os.PathLike[str]) -> None:
    """Undo a :func:`replace_folder` interrupted between its renames: if ``target`` is missing and its retired
    copy exists, rename the copy back. Harmless when there is nothing to recover or no permission to."""
    target = Path(target)
    retired = _retired_name(target)
    if not target.exists() and retired.is_dir():
        with contextlib.suppress(OSError):
            os.replace(retired, target)
