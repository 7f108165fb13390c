"""Tables of architectures and their metrics: building them on a supernet, reading and writing them.

A table has one column per arch label (the space's vocabulary; absent blocks are empty) or OFA's ``ks``, ``e``,
``d``, ``r`` columns, plus metric columns. CSV, Parquet and JSON-lines are read and written by file suffix.
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from nas.core.files import atomic_write_bytes
from nas.data import DataSplits
from nas.training.evaluation import EvalCache, evaluate_splits
from search_spaces import Arch, ConfigError, DataError, NasError, SearchSpace, safe_json
from search_spaces.errors import short_repr

__all__ = ["build_accuracy_table", "metric_column", "read_arch_table", "write_table"]

_SUFFIXES = (".csv", ".parquet", ".jsonl")


def build_accuracy_table(
    supernet: nn.Module,
    data: DataSplits,
    count: int,
    seed: int = 0,
    splits: tuple[str, ...] = ("val", "test"),
    calibration_images: int = 512,
    cache: EvalCache | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Sample ``count`` distinct subnets, evaluate each on ``splits`` after BN recalibration, one row per subnet:
    arch labels, ``macs``, ``params``, ``<split>_accuracy`` and ``<split>_loss``."""
    space = supernet.space
    rng = random.Random(seed)
    archs: list[Arch] = []
    seen: set[Arch] = set()
    while len(archs) < count:
        arch = space.sample(rng)
        if arch not in seen:
            seen.add(arch)
            archs.append(arch)
    iterator: Any = archs
    if progress:
        from tqdm import tqdm

        iterator = tqdm(archs, desc="evaluate subnets", unit="arch")
    rows = []
    for arch in iterator:
        row: dict[str, Any] = {**arch.to_dict(), "macs": supernet.macs(arch), "params": supernet.params(arch)}
        for split, result in evaluate_splits(supernet, arch, data, splits, calibration_images, cache=cache).items():
            row[f"{split}_accuracy"] = result.accuracy
            row[f"{split}_loss"] = result.loss
        rows.append(row)
    return pd.DataFrame(rows)


def write_table(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write atomically as CSV, Parquet or JSON-lines (by suffix)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".csv":
        payload = table.to_csv(index=False).encode()
    elif suffix == ".jsonl":
        payload = table.to_json(orient="records", lines=True).encode()
    elif suffix == ".parquet":
        payload = table.to_parquet(index=False)
    else:
        raise ConfigError(f"table file {target} must end in {', '.join(_SUFFIXES)}", field="table", value=str(target))
    return atomic_write_bytes(target, payload)


def read_arch_table(path: str | os.PathLike[str], space: SearchSpace) -> tuple[list[Arch], pd.DataFrame]:
    """The archs (validated against ``space``) and the table; errors name the file, row and column."""
    source = Path(path)
    if not source.is_file():
        raise DataError(f"table {source} does not exist")
    suffix = source.suffix.lower()
    try:
        if suffix == ".csv":
            table = pd.read_csv(source)
        elif suffix == ".parquet":
            table = pd.read_parquet(source)
        elif suffix == ".jsonl":
            table = pd.read_json(source, lines=True)
        else:
            raise ConfigError(f"table {source} must end in {', '.join(_SUFFIXES)}", field="table", value=str(source))
    except NasError:
        raise
    except Exception as exc:  # pandas and pyarrow raise many types for malformed files
        raise DataError(f"cannot read table {source}: {str(exc).splitlines()[0][:200]}") from None
    if table.empty:
        raise DataError(f"table {source} has no rows")
    ofa = bool(space.ofa_keys) and all(column in table.columns for column in space.ofa_keys)
    labels = [label for label in space.labels() if label in table.columns]
    if not ofa and not labels:
        raise DataError(
            f"table {source} has no architecture columns: expected {space.name!r} labels such as "
            f"{', '.join(space.labels()[:3])} or OFA's ks/e/d/r; found {', '.join(map(str, table.columns[:8]))}"
        )
    archs = []
    for index, record in enumerate(table.to_dict("records")):
        try:
            if ofa:
                config = {key: _json_cell(record[key]) for key in space.ofa_keys}
                archs.append(space.from_ofa_config(config))
            else:
                archs.append(space.validate({k: _int_cell(record[k]) for k in labels if not _missing(record[k])}))
        except NasError as error:
            raise DataError(f"table {source}, row {index + 2 if suffix == '.csv' else index + 1}: {error}") from None
    duplicated = pd.Series([arch.key for arch in archs]).duplicated()
    if duplicated.any():
        first = int(duplicated.to_numpy().nonzero()[0][0])
        raise DataError(f"table {source}, row {first + 2 if suffix == '.csv' else first + 1}: duplicate architecture")
    return archs, table


def metric_column(table: pd.DataFrame, column: str, source: str) -> pd.Series:
    """A numeric metric column; names the file, the column and the first bad row otherwise."""
    if column not in table.columns:
        numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
        shown = ", ".join(map(str, numeric[:12])) + (f", ... ({len(numeric) - 12} more)" if len(numeric) > 12 else "")
        raise DataError(f"table {source} has no column {short_repr(column)}; numeric columns: {shown}")
    values = pd.to_numeric(table[column], errors="coerce")
    bad = values.isna() | ~values.apply(lambda v: math.isfinite(v) if not pd.isna(v) else False)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(
            f"table {source}, row {row + 2}, column {column!r}: {short_repr(_cell(table[column].iloc[row]))} is not "
            "a number"
        )
    return values.astype(float)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _int_cell(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if hasattr(value, "item"):  # numpy scalars
        return _int_cell(value.item())
    return value


def _cell(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (for messages)."""
    return value.item() if hasattr(value, "item") and getattr(value, "size", 1) == 1 else value


def _json_cell(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return safe_json.loads(value)
        except ValueError:
            return value
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
