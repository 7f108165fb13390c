"""All-or-nothing output folders: an export is written into a temporary sibling folder and renamed into place
only once it is complete and verified, so a failure leaves nothing at the destination (and, with ``overwrite``,
the previous folder intact)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from search_spaces import ConfigError, NasError
from search_spaces.atomic import recover_folder, replace_folder

__all__ = ["check_destination", "staged_folder"]


def check_destination(target: str | os.PathLike[str], overwrite: bool) -> Path:
    """``target`` as a path, refusing one that exists unless ``overwrite`` (and any non-folder in its place)."""
    path = Path(target)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise ConfigError(
                f"output folder {path} already exists; pass --overwrite to replace it", field="out", value=str(path)
            )
        if not path.is_dir() or path.is_symlink():
            raise ConfigError(f"{path} exists and is not a folder; not replacing it", field="out", value=str(path))
    return path


@contextlib.contextmanager
def staged_folder(target: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; when the block succeeds, flush its files and rename it
    to ``target`` (replacing an existing folder only then, with ``overwrite``). On any error it is removed."""
    recover_folder(target)
    path = check_destination(target, overwrite)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
        staging.chmod(0o755)
    except OSError as exc:
        raise NasError(f"cannot create a folder beside {path}: {exc.strerror or exc}") from None
    try:
        yield staging
        _flush(staging)
        _replace(staging, check_destination(path, overwrite))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _flush(folder: Path) -> None:
    """Make every file readable by all (temporary files are created private), fsync it, then the folders, so the
    rename publishes complete files."""
    for root, folders, files in os.walk(folder):
        for name in folders:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            path = os.path.join(root, name)
            os.chmod(path, 0o644)
            with open(path, "rb") as stream:
                os.fsync(stream.fileno())
    for root, _, _ in os.walk(folder, topdown=False):
        descriptor = os.open(root, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _replace(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is moved aside first and deleted after (a kill
    between the two renames is undone by :func:`search_spaces.atomic.recover_folder` on the next read or write)."""
    try:
        replace_folder(staging, target)
    except OSError as exc:
        raise NasError(f"cannot move the export into {target}: {exc.strerror or exc}") from None
