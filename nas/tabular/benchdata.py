"""Where the published benchmark tables are: ``$NAS_BENCHDATA``, ``../shared/benchdata`` beside the project, or
beside the local repository a checkout was cloned from."""

from __future__ import annotations

import configparser
import os
from pathlib import Path

__all__ = ["benchdata_path", "default_benchdata"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def default_benchdata() -> Path:
    """The published benchmark tables: ``$NAS_BENCHDATA``, else ``../shared/benchdata`` beside the project, else
    beside the local repository this checkout was cloned from (a scratch clone in /tmp finds the same data)."""
    value = os.environ.get("NAS_BENCHDATA")
    if value:
        return Path(value)
    beside = PROJECT_ROOT.parent / "shared" / "benchdata"
    origin = _local_origin(PROJECT_ROOT)
    if not beside.is_dir() and origin is not None and (origin.parent / "shared" / "benchdata").is_dir():
        return origin.parent / "shared" / "benchdata"
    return beside


def _local_origin(root: Path) -> Path | None:
    """The folder ``root``'s git checkout was cloned from, when that is a local path (read, never run, git)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read(root / ".git" / "config")
        url = parser.get('remote "origin"', "url", fallback="")
    except configparser.Error:
        return None
    path = Path(url.removeprefix("file://")) if url and "://" not in url.removeprefix("file://") else None
    return path if path is not None and path.is_absolute() and path.is_dir() else None


def benchdata_path(*parts: str) -> str:
    """A file under :func:`default_benchdata`."""
    return str(default_benchdata().joinpath(*parts))
