"""Tables of architectures and their metrics, the one reader and writer: CSV, JSON lines or Parquet, by suffix.

:func:`read_arch_table` reads the architectures one of three ways: as the labels of a given space (or its
once-for-all config columns, e.g. a table ``nas predictor dataset`` wrote, or one column of once-for-all specs such
as DyNAS-T's ``Sub-network``: JSON or a Python dict literal), as one column of architecture strings a named parser
reads (``arch_format="nb201"``), or as named columns that are the choices themselves (a
:class:`ColumnSpace` is built from their distinct values: a table-backed benchmark space, where evaluation is a
lookup). Every problem names the file, the row (its line in a CSV or JSON-lines file, counting a CSV's header
line; the 1-based row of a Parquet file) and the column: a missing column, an empty file, a non-numeric or
missing metric, an unreadable architecture, a duplicate architecture (unless ``duplicates="mean"`` averages the
metrics of repeated architectures: repeated evaluations of one subnet).
"""

from __future__ import annotations

import ast
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from search_spaces import safe_json
from search_spaces.arch import Arch, Choice
from search_spaces.atomic import atomic_write_bytes
from search_spaces.base import Decision, SearchSpace
from search_spaces.errors import ConfigError, DataError, InvalidArchError, NasError, UnknownNameError, short_repr
from search_spaces.registry import ARCH_FORMATS, get_space

__all__ = [
    "ARCH_FORMATS",
    "TABLE_SUFFIXES",
    "ArchTable",
    "ColumnSpace",
    "read_arch_table",
    "read_frame",
    "rows_csv",
    "write_table",
]

TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")
DUPLICATE_POLICIES = ("error", "mean")


@dataclass(frozen=True, repr=False, eq=False)
class ColumnSpace(SearchSpace):
    """A space declared by columns: one decision per column, its choices the column's sorted distinct values."""

    name: str
    columns: tuple[tuple[str, tuple[Choice, ...]], ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_decisions", tuple(Decision(label, choices) for label, choices in self.columns))

    def decisions(self) -> tuple[Decision, ...]:
        return self._decisions  # type: ignore[attr-defined]

    def encode(self, arch: Arch) -> list[float]:
        """One-hot per column, then the value itself of each numeric column (so a model can tell that a width
        it has not seen lies between two it has)."""
        return [*super().encode(arch), *(float(arch[label]) for label in self._numeric_labels())]

    def feature_names(self) -> list[str]:
        return [*super().feature_names(), *self._numeric_labels()]

    def _numeric_labels(self) -> list[str]:
        return [label for label, choices in self.columns if not isinstance(choices[0], str)]


class ArchTable:
    """The rows of a table as (arch, metrics) with O(1) lookup by arch.

    Attributes:
        space: the space the archs belong to.
        archs: one arch per row, in file order.
        metrics: column name -> float array aligned with ``archs``.
        source: the file(s) it was read from, for messages.
        merged: rows that repeated an earlier row's architecture and were averaged into it.
    """

    def __init__(
        self, space: SearchSpace, archs: list[Arch], metrics: dict[str, np.ndarray], source: str, merged: int = 0
    ):
        self.space, self.archs, self.metrics, self.source = space, archs, metrics, source
        self.merged = merged
        self._rows = {arch: row for row, arch in enumerate(archs)}

    def __len__(self) -> int:
        return len(self.archs)

    def __contains__(self, arch: object) -> bool:
        return arch in self._rows

    def row(self, arch: Arch) -> int:
        """The row of ``arch``; raises :class:`InvalidArchError` for an arch the table does not hold."""
        try:
            return self._rows[arch]
        except KeyError:
            raise InvalidArchError(f"{self.source} has no row for arch {arch.to_json()}", field="arch") from None

    def column(self, name: str) -> np.ndarray:
        """A metric column; unknown names list the table's metric columns."""
        if name not in self.metrics:
            raise UnknownNameError(f"metric column of {self.source}", name, self.metrics)
        return self.metrics[name]

    def values(self, archs: Sequence[Arch], name: str) -> np.ndarray:
        """``name`` for each of ``archs``."""
        column = self.column(name)
        return np.array([column[self.row(arch)] for arch in archs], dtype=np.float64)

    def stack(self, other: ArchTable) -> ArchTable:
        """The rows of both tables (same space, same metric columns), repeated architectures averaged."""
        if other.space.name != self.space.name or set(other.metrics) != set(self.metrics):
            raise DataError(
                f"cannot stack {other.source} onto {self.source}: space {other.space.name!r} with columns "
                f"{sorted(other.metrics)} vs space {self.space.name!r} with {sorted(self.metrics)}"
            )
        metrics = {name: np.concatenate([values, other.metrics[name]]) for name, values in self.metrics.items()}
        archs, averaged, merged = _average_repeats([*self.archs, *other.archs], metrics)
        return ArchTable(
            self.space, archs, averaged, f"{self.source} + {other.source}", self.merged + other.merged + merged
        )

    def join(self, other: ArchTable) -> ArchTable:
        """This table's rows with the metric columns of ``other`` added (every arch must be in both)."""
        missing = [arch for arch in self.archs if arch not in other]
        if missing:
            raise DataError(
                f"{other.source} has no row for {len(missing)} archs of {self.source}, e.g. {missing[0].to_json()}"
            )
        order = np.array([other.row(arch) for arch in self.archs])
        added = {name: values[order] for name, values in other.metrics.items() if name not in self.metrics}
        return ArchTable(self.space, self.archs, {**self.metrics, **added}, f"{self.source} + {other.source}")


def read_frame(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A pandas DataFrame from a CSV, JSONL or Parquet file; a missing, unreadable or empty file is a
    :class:`DataError` naming it."""
    file = Path(path)
    if file.suffix.lower() not in TABLE_SUFFIXES:
        raise DataError(f"{file}: unknown table format {file.suffix!r}; use one of {', '.join(TABLE_SUFFIXES)}")
    if not file.is_file():
        raise DataError(f"table {file} does not exist")
    try:
        if file.suffix.lower() == ".csv":
            frame = pd.read_csv(file)
        elif file.suffix.lower() == ".jsonl":
            frame = pd.read_json(file, lines=True)
        else:
            frame = pd.read_parquet(file)
    except pd.errors.EmptyDataError:
        raise DataError(f"table {file} is empty") from None
    except Exception as exc:  # parsers raise many types; the message says which file and why
        raise DataError(f"cannot read table {file}: {str(exc).splitlines()[0][:200]}") from None
    if len(frame) == 0:
        raise DataError(f"table {file} has a header but no rows")
    return frame


def write_table(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``table`` atomically as CSV, Parquet or JSON lines (by suffix)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".csv":
        payload = table.to_csv(index=False).encode()
    elif suffix == ".jsonl":
        payload = table.to_json(orient="records", lines=True).encode()
    elif suffix == ".parquet":
        payload = table.to_parquet(index=False)
    else:
        raise ConfigError(
            f"table file {target} must end in {', '.join(TABLE_SUFFIXES)}", field="table", value=str(target)
        )
    return atomic_write_bytes(target, payload)


def rows_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """CSV text of result rows: ``columns`` (default: every key, in first-seen order), empty cells for None."""
    return pd.DataFrame(list(rows), columns=list(columns) if columns else None).to_csv(index=False)


def read_arch_table(
    path: str | os.PathLike[str],
    arch_columns: Sequence[str] = (),
    metric_columns: Sequence[str] = (),
    arch_format: str | None = None,
    name: str | None = None,
    *,
    space: SearchSpace | None = None,
    duplicates: str = "error",
) -> ArchTable:
    """Read an architecture table.

    Args:
        path: a ``.csv``, ``.jsonl`` or ``.parquet`` file.
        arch_columns: the columns that make up an architecture (one column when ``arch_format`` is given); not
            used with ``space``.
        metric_columns: numeric columns to keep; each must be present and a finite number in every row.
        arch_format: a key of :data:`ARCH_FORMATS` to parse the single arch column with.
        name: the space name of a :class:`ColumnSpace` (default: the file's stem).
        space: read the archs as this space's labels (absent blocks empty), its once-for-all config columns, or
            one column of once-for-all specs (``arch_columns`` names it; else a column whose first cell is one).
        duplicates: ``"error"`` (a repeated architecture is a DataError) or ``"mean"`` (its rows' metrics are
            averaged into its first row; :attr:`ArchTable.merged` counts the rows folded away).
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise ConfigError(
            f"duplicates={short_repr(duplicates)}", field="duplicates", value=duplicates, allowed=DUPLICATE_POLICIES
        )
    file = Path(path)
    frame = read_frame(file)
    lines = _line_numbers(file, len(frame))
    for column in [*arch_columns, *metric_columns]:
        if column not in frame.columns:
            raise DataError(f"table {file} has no column {short_repr(column)}; it has {_names(frame.columns)}")
    if space is not None:
        if len(arch_columns) > 1:
            raise DataError(f"{file}: with a space, at most one (spec) architecture column; got {list(arch_columns)}")
        spec_column = arch_columns[0] if arch_columns else _find_spec_column(frame, space)
        if spec_column is not None:
            archs = _spec_archs(file, frame[spec_column].tolist(), spec_column, space, lines)
            columns = [spec_column]
        else:
            archs = _space_archs(file, frame, space, lines)
            columns = []  # an arch spans many label columns: a duplicate names the row only
    else:
        columns = list(arch_columns)
        if not columns:
            raise DataError(f"{file}: at least one architecture column is needed")
        if arch_format is not None:
            if len(columns) != 1:
                raise DataError(f"{file}: arch format {arch_format!r} reads one column, got {columns}")
            parse = ARCH_FORMATS.get(arch_format)
            archs = _parse_archs(file, frame[columns[0]].tolist(), columns[0], parse, lines)
        else:
            space, archs = _column_archs(file, frame, columns, name or file.stem, lines)
        space = space or get_space(archs[0].space)
    metrics = {column: _numeric(file, frame[column], column, lines) for column in metric_columns}
    if duplicates == "mean":
        archs, metrics, merged = _average_repeats(archs, metrics)
        return ArchTable(space, archs, metrics, str(file), merged)
    _check_unique(file, archs, columns, lines)
    return ArchTable(space, archs, metrics, str(file))


def _average_repeats(
    archs: list[Arch], metrics: dict[str, np.ndarray]
) -> tuple[list[Arch], dict[str, np.ndarray], int]:
    """One row per distinct arch (first-seen order), each metric the mean over its rows; and how many rows went."""
    first: dict[Arch, int] = {}
    groups = np.array([first.setdefault(arch, len(first)) for arch in archs])
    counts = np.bincount(groups)
    averaged = {name: np.bincount(groups, weights=values) / counts for name, values in metrics.items()}
    return list(first), averaged, len(archs) - len(first)


def _find_spec_column(frame: pd.DataFrame, space: SearchSpace) -> str | None:
    """The first column whose first cell is a once-for-all spec of ``space`` (a dict holding its spec keys)."""
    if not space.ofa_keys or all(key in frame.columns for key in space.ofa_keys):
        return None
    for column in frame.columns:
        cell = frame[column].iloc[0]
        if isinstance(cell, str) and cell.lstrip().startswith("{"):
            try:
                spec = _spec_cell(cell)
            except ValueError:
                continue
            if isinstance(spec, dict) and space.is_ofa_config(spec):
                return str(column)
    return None


def _spec_cell(value: Any) -> Any:
    """A spec cell: JSON, else a Python literal (DyNAS-T writes ``{'wid': None, ...}``; ``ast.literal_eval``
    evaluates literals only, never code).

    Raises:
        ValueError: neither.
    """
    if not isinstance(value, str):
        return _json_cell(value)
    try:
        return safe_json.loads(value)
    except ValueError:
        pass
    if len(value) > 100_000:
        raise ValueError("cell too long for a spec")
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError("neither JSON nor a Python literal") from None


def _spec_archs(file: Path, cells: list[Any], column: str, space: SearchSpace, lines: np.ndarray) -> list[Arch]:
    archs = []
    for line, cell in zip(lines, cells):
        try:
            spec = _spec_cell(cell)
        except ValueError as error:
            raise DataError(
                f"{file}, row {line}, column {column!r}: {short_repr(cell)} is not a once-for-all spec ({error})"
            ) from None
        try:
            archs.append(space.from_ofa_config(spec))
        except NasError as error:
            raise DataError(f"{file}, row {line}, column {column!r}: {error}") from None
    return archs


def _line_numbers(file: Path, rows: int) -> np.ndarray:
    """The number a message gives each row: its line in a CSV (after the header) or JSON-lines file, else 1-based."""
    first = 2 if file.suffix.lower() == ".csv" else 1
    return np.arange(first, first + rows)


def _space_archs(file: Path, frame: pd.DataFrame, space: SearchSpace, lines: np.ndarray) -> list[Arch]:
    ofa = bool(space.ofa_keys) and all(column in frame.columns for column in space.ofa_keys)
    labels = [label for label in space.labels() if label in frame.columns]
    if not ofa and not labels:
        raise DataError(
            f"table {file} has no architecture columns: expected {space.name!r} labels such as "
            f"{', '.join(space.labels()[:3])}"
            + (f" or the once-for-all columns {'/'.join(space.ofa_keys)}" if space.ofa_keys else "")
            + f"; found {_names(frame.columns, 8)}"
        )
    archs = []
    for line, record in zip(lines, frame.to_dict("records")):
        try:
            if ofa:
                archs.append(space.from_ofa_config({key: _json_cell(record[key]) for key in space.ofa_keys}))
            else:
                archs.append(space.validate({k: _int_cell(record[k]) for k in labels if not _missing(record[k])}))
        except NasError as error:
            raise DataError(f"table {file}, row {line}: {error}") from None
    return archs


def _parse_archs(
    file: Path, texts: list[Any], column: str, parse: Callable[[Any], Arch], lines: np.ndarray
) -> list[Arch]:
    archs = []
    for line, text in zip(lines, texts):
        try:
            archs.append(parse(text))
        except InvalidArchError as error:
            raise DataError(f"{file}, row {line}, column {column!r}: {error}") from None
    return archs


def _column_archs(
    file: Path, frame: pd.DataFrame, columns: list[str], name: str, lines: np.ndarray
) -> tuple[SearchSpace, list[Arch]]:
    declared = []
    for column in columns:
        values = frame[column]
        missing = np.flatnonzero(values.isna().to_numpy())
        if missing.size:
            raise DataError(f"{file}, row {lines[missing[0]]}, column {column!r}: empty architecture value")
        items = [_plain(file, line, column, v) for line, v in zip(lines, values.tolist())]
        if len({type(v) for v in items}) > 1:
            raise DataError(f"{file}, column {column!r}: mixes numbers and text; an arch column holds one kind")
        declared.append((column, tuple(sorted(set(items)))))
    space = ColumnSpace(name=name, columns=tuple(declared))
    rows = zip(*(frame[c].tolist() for c in columns))
    archs = [
        Arch(name, tuple((c, _plain(file, line, c, v)) for c, v in zip(columns, values)))
        for line, values in zip(lines, rows)
    ]
    return space, archs


def _plain(file: Path, row: int, column: str, value: Any) -> Choice:
    """numpy scalars to Python ones; whole floats to int, so a column of 3.0, 5.0 reads as 3, 5. Anything but a
    number or a string (a list cell of a Parquet or JSONL file, say) is a DataError naming the cell."""
    value = _scalar(value)
    if not isinstance(value, (int, float, str)):  # bool is an int: a yes/no choice is fine
        raise DataError(
            f"{file}, row {row}, column {column!r}: {short_repr(value)} is not a number or a string; an architecture "
            "column holds one choice per cell"
        )
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _check_unique(file: Path, archs: list[Arch], columns: list[str], lines: np.ndarray) -> None:
    first: dict[Arch, int] = {}
    for line, arch in zip(lines, archs):
        if arch in first:
            where = f", column {', '.join(map(repr, columns))}" if columns else ""
            raise DataError(f"{file}, row {line}{where}: duplicate architecture (same as row {first[arch]})")
        first[arch] = int(line)


def _numeric(file: Path, values: pd.Series, column: str, lines: np.ndarray) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(numbers))
    if bad.size:
        raw = values.iloc[bad[0]]
        what = "empty" if pd.isna(raw) else f"{short_repr(_scalar(raw))} is not a finite number"
        raise DataError(f"{file}, row {lines[bad[0]]}, column {column!r}: {what}; metric columns must be numeric")
    return numbers


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _int_cell(value: Any) -> Any:
    value = _scalar(value)
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _json_cell(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return safe_json.loads(value)
        except ValueError:
            return value
    return value.tolist() if hasattr(value, "tolist") else value


def _scalar(value: Any) -> Any:
    """A numpy scalar as the Python value it holds."""
    return value.item() if hasattr(value, "item") and getattr(value, "size", 1) == 1 else value


def _names(columns: Sequence[Any], shown: int = 12) -> str:
    """Column names for a message: the first ``shown``, then how many more."""
    names = [short_repr(str(name)).strip("'") for name in list(columns)[:shown]]
    more = len(columns) - shown
    return ", ".join(names) + (f", ... ({more} more)" if more > 0 else "")
