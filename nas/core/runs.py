"""Run folders under ``runs/``: creation without clobbering, and the manifest that makes a run reproducible."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nas.core.files import atomic_write_json
from search_spaces import ConfigError

__all__ = ["RUNS_ROOT", "create_run_dir", "git_commit", "package_versions", "write_manifest"]

RUNS_ROOT = Path("runs")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_PACKAGES = (
    "torch",
    "torchvision",
    "timm",
    "optuna",
    "ray",
    "pandas",
    "numpy",
    "scikit-learn",
    "nas-platform",
)


def create_run_dir(
    name: str, root: str | os.PathLike[str] = RUNS_ROOT, exist_ok: bool = False, create: bool = True
) -> Path:
    """``root/name``, created. An existing folder is refused (its checkpoints are never overwritten) unless
    ``exist_ok``, which resuming uses. ``create=False`` only checks, so a command can validate everything else
    before it writes anything."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"run name {name!r} must be 1-100 letters, digits, '.', '_' or '-' (not starting with '.' or '-')",
            field="name",
            value=name,
        )
    run_dir = Path(root) / name
    if run_dir.exists() and not exist_ok:
        raise ConfigError(
            f"run folder {run_dir} already exists; pass --resume to continue it or choose another --name",
            field="name",
            value=name,
        )
    if not create:
        return run_dir
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create run folder {run_dir}: {exc.strerror or exc}", field="name") from None
    return run_dir


def package_versions(extra: Sequence[str] = ()) -> dict[str, str | None]:
    """Installed versions of the packages that decide a run's numbers, and of ``extra`` ones."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in (*_PACKAGES, *extra):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def git_commit() -> str | None:
    """The commit of the source tree this code runs from, if it is a git checkout."""
    source = Path(__file__).resolve().parent.parent
    try:
        result = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def write_manifest(run_dir: Path, config: dict[str, Any], **extra: Any) -> Path:
    """``manifest.json``: config, seed, versions, git commit, machine and command line."""
    manifest = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
        "config": config,
        "seed": config.get("seed"),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
        },
        **extra,
    }
    return atomic_write_json(run_dir / "manifest.json", manifest)
