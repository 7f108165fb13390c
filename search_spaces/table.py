"""Table-backed search spaces: architectures are rows of a file, their metrics the other columns, evaluation a
lookup.

:func:`read_arch_table` reads CSV, JSONL or Parquet. Either named columns are the architecture choices (a
:class:`ColumnSpace` is built from their distinct values) or one column holds an architecture string that a parser
turns into an :class:`Arch` of an existing space (``arch_format="nb201"``). Every problem names the file, the row
(1-based, as a spreadsheet counts data rows) and the column: a missing column, an empty file, a non-numeric or
missing metric, an unreadable architecture, a duplicate architecture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from search_spaces.arch import Arch, Choice
from search_spaces.base import Decision, SearchSpace
from search_spaces.errors import DataError, InvalidArchError, UnknownNameError, short_repr

__all__ = ["ARCH_FORMATS", "ArchTable", "ColumnSpace", "read_arch_table", "read_frame"]

TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")


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


def _parse_nb201(text: Any) -> Arch:
    from search_spaces.nb201 import parse_arch_str

    return parse_arch_str(text)


ARCH_FORMATS: dict[str, Callable[[Any], Arch]] = {"nb201": _parse_nb201}
"""Parsers of one-column architecture strings, by name."""


class ArchTable:
    """The rows of a table as (arch, metrics) with O(1) lookup by arch.

    Attributes:
        space: the space the archs belong to.
        archs: one arch per row, in file order.
        metrics: column name -> float array aligned with ``archs``.
        source: the file(s) it was read from, for messages.
    """

    def __init__(self, space: SearchSpace, archs: list[Arch], metrics: dict[str, np.ndarray], source: str):
        self.space, self.archs, self.metrics, self.source = space, archs, metrics, source
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


def read_frame(path: str | Path) -> Any:
    """A pandas DataFrame from a CSV, JSONL or Parquet file; a missing, unreadable or empty file is a
    :class:`DataError` naming it."""
    import pandas as pd

    file = Path(path)
    if file.suffix not in TABLE_SUFFIXES:
        raise DataError(f"{file}: unknown table format {file.suffix!r}; use one of {', '.join(TABLE_SUFFIXES)}")
    if not file.is_file():
        raise DataError(f"table {file} does not exist")
    try:
        if file.suffix == ".csv":
            frame = pd.read_csv(file)
        elif file.suffix == ".jsonl":
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


def read_arch_table(
    path: str | Path,
    arch_columns: Sequence[str],
    metric_columns: Sequence[str],
    arch_format: str | None = None,
    name: str | None = None,
) -> ArchTable:
    """Read an architecture table.

    Args:
        path: a ``.csv``, ``.jsonl`` or ``.parquet`` file.
        arch_columns: the columns that make up an architecture (one column when ``arch_format`` is given).
        metric_columns: numeric columns to keep; each must be present and numeric in every row.
        arch_format: a key of :data:`ARCH_FORMATS` to parse the single arch column with.
        name: the space name of a :class:`ColumnSpace` (default: the file's stem).
    """
    file = Path(path)
    frame = read_frame(file)
    columns = list(arch_columns)
    for column in [*columns, *metric_columns]:
        if column not in frame.columns:
            raise DataError(f"{file}: no column {short_repr(column)}; it has {_names(frame.columns)}")
    if not columns:
        raise DataError(f"{file}: at least one architecture column is needed")
    if arch_format is not None:
        if arch_format not in ARCH_FORMATS:
            raise UnknownNameError("arch format", arch_format, ARCH_FORMATS)
        if len(columns) != 1:
            raise DataError(f"{file}: arch format {arch_format!r} reads one column, got {columns}")
        space, archs = _parse_archs(file, frame[columns[0]].tolist(), columns[0], ARCH_FORMATS[arch_format])
    else:
        space, archs = _column_archs(file, frame, columns, name or file.stem)
    _check_unique(file, archs, columns)
    metrics = {column: _numeric(file, frame[column], column) for column in metric_columns}
    return ArchTable(space, archs, metrics, str(file))


def _parse_archs(
    file: Path, texts: list[Any], column: str, parse: Callable[[Any], Arch]
) -> tuple[SearchSpace, list[Arch]]:
    from search_spaces.registry import get_space

    archs = []
    for row, text in enumerate(texts, start=1):
        try:
            archs.append(parse(text))
        except InvalidArchError as error:
            raise DataError(f"{file}, row {row}, column {column!r}: {error}") from None
    return get_space(archs[0].space), archs


def _column_archs(file: Path, frame: Any, columns: list[str], name: str) -> tuple[SearchSpace, list[Arch]]:
    declared = []
    for column in columns:
        values = frame[column]
        missing = np.flatnonzero(values.isna().to_numpy())
        if missing.size:
            raise DataError(f"{file}, row {missing[0] + 1}, column {column!r}: empty architecture value")
        items = [_plain(file, row, column, v) for row, v in enumerate(values.tolist(), start=1)]
        if len({type(v) for v in items}) > 1:
            raise DataError(f"{file}, column {column!r}: mixes numbers and text; an arch column holds one kind")
        declared.append((column, tuple(sorted(set(items)))))
    space = ColumnSpace(name=name, columns=tuple(declared))
    rows = zip(*(frame[c].tolist() for c in columns))
    archs = [
        Arch(name, tuple((c, _plain(file, row, c, v)) for c, v in zip(columns, values)))
        for row, values in enumerate(rows, start=1)
    ]
    return space, archs


def _plain(file: Path, row: int, column: str, value: Any) -> Choice:
    """numpy scalars to Python ones; whole floats to int, so a column of 3.0, 5.0 reads as 3, 5. Anything but a
    number or a string (a list cell of a Parquet or JSONL file, say) is a DataError naming the cell."""
    if hasattr(value, "item") and getattr(value, "size", 1) == 1:
        value = value.item()
    if not isinstance(value, (int, float, str)):  # bool is an int: a yes/no choice is fine
        raise DataError(
            f"{file}, row {row}, column {column!r}: {short_repr(value)} is not a number or a string; an architecture "
            "column holds one choice per cell"
        )
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _check_unique(file: Path, archs: list[Arch], columns: list[str]) -> None:
    first: dict[Arch, int] = {}
    for row, arch in enumerate(archs, start=1):
        if arch in first:
            raise DataError(
                f"{file}, row {row}, column {', '.join(map(repr, columns))}: duplicate architecture "
                f"(same as row {first[arch]})"
            )
        first[arch] = row


def _numeric(file: Path, values: Any, column: str) -> np.ndarray:
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(numbers))
    if bad.size:
        raw = values.iloc[bad[0]]
        what = "empty" if pd.isna(raw) else f"{short_repr(_scalar(raw))} is not a finite number"
        raise DataError(f"{file}, row {bad[0] + 1}, column {column!r}: {what}; metric columns must be numeric")
    return numbers


def _scalar(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (for messages)."""
    return value.item() if hasattr(value, "item") and getattr(value, "size", 1) == 1 else value


def _names(columns: Sequence[Any], shown: int = 12) -> str:
    """Column names for a message: the first ``shown``, then how many more."""
    names = [short_repr(str(name)).strip("'") for name in list(columns)[:shown]]
    more = len(columns) - shown
    return ", ".join(names) + (f", ... ({more} more)" if more > 0 else "")
