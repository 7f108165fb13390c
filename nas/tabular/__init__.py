"""``nas bench``: search strategies, accuracy predictors and latency transfer measured on tabular NAS benchmarks
(NAS-Bench-201 and any table of the same shape)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["add_table_arguments", "arch_format", "rows_csv"]


def add_table_arguments(parser: argparse.ArgumentParser, table: str, help_text: str) -> None:
    """The flags that say which table to read and how its architectures are written."""
    from search_spaces.table import ARCH_FORMATS

    parser.add_argument("--table", default=table, help=help_text)
    parser.add_argument(
        "--arch-columns",
        nargs="+",
        default=["arch_str"],
        metavar="COLUMN",
        help="the column(s) forming an arch (one arch-string column with --arch-format)",
    )
    parser.add_argument(
        "--arch-format",
        default="nb201",
        choices=[*ARCH_FORMATS, "none"],
        help="parser of a one-column arch string (nb201: |op~0|+|op~0|op~1|+...); 'none': the arch columns are "
        "the choices themselves",
    )


def arch_format(args: argparse.Namespace) -> str | None:
    """The ``--arch-format`` value as ``read_arch_table`` takes it."""
    return None if args.arch_format == "none" else args.arch_format


def rows_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """CSV text of result rows: ``columns`` (default: every key, in first-seen order), empty cells for None."""
    import pandas as pd

    return pd.DataFrame(list(rows), columns=list(columns) if columns else None).to_csv(index=False)
