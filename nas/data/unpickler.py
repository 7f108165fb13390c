"""The restricted unpickler: the only place in the project that unpickles.

CIFAR-10's python format is a set of pickles. They are read with an unpickler that rebuilds numpy arrays, numpy
scalars and plain values (dicts, lists, bytes, numbers) only and refuses every other global, so a hostile file
cannot run code.
"""

from __future__ import annotations

import codecs
import functools
import importlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from search_spaces.errors import DataError

__all__ = ["read_pickle"]


def _numpy_attribute(submodule: str, attribute: str) -> Any:
    """``numpy._core.<submodule>.<attribute>`` (numpy 2), else ``numpy.core.<submodule>.<attribute>``."""
    for module_name in (f"numpy._core.{submodule}", f"numpy.core.{submodule}"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, attribute):
            return getattr(module, attribute)
    raise AttributeError(f"numpy has no {submodule}.{attribute}")


def _allowed_pickle_globals() -> dict[tuple[str, str], Callable[[], Any]]:
    """The only globals a CIFAR-10 pickle may name: what numpy needs to rebuild arrays and scalars."""
    allowed: dict[tuple[str, str], Callable[[], Any]] = {
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("_codecs", "encode"): lambda: codecs.encode,  # bytes in protocol 0-2 pickles written by Python 3
    }
    for package in ("numpy.core", "numpy._core"):  # numpy < 2 wrote numpy.core, numpy 2 writes numpy._core
        for submodule, attribute in (
            ("multiarray", "_reconstruct"),
            ("multiarray", "scalar"),
            ("numeric", "_frombuffer"),
        ):
            allowed[(f"{package}.{submodule}", attribute)] = functools.partial(_numpy_attribute, submodule, attribute)
    return allowed


_PICKLE_GLOBALS = _allowed_pickle_globals()


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and plain values and refuses every other global."""

    def __init__(self, file: BinaryIO, path: Path) -> None:
        """Read from ``file``; ``path`` only names the file in errors."""
        super().__init__(file, encoding="bytes")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        """Resolve an allow-listed numpy global; raise DataError for anything else."""
        resolver = _PICKLE_GLOBALS.get((module, name))
        if resolver is None:
            raise DataError(
                f"refusing to unpickle {module}.{name} from {self._path}: a CIFAR-10 file may only hold "
                "numpy arrays, lists, bytes and numbers"
            )
        return resolver()


def read_pickle(path: Path) -> Any:
    """Load one CIFAR-10 pickle with the restricted unpickler; any failure is a DataError naming the file."""
    try:
        with path.open("rb") as handle:
            return _ArrayUnpickler(handle, path).load()
    except DataError:
        raise
    except Exception as exc:  # pickle, numpy and I/O failures all mean the same: this file is unusable
        raise DataError(f"corrupt or unreadable CIFAR-10 file {path}: {type(exc).__name__}: {exc}") from None
