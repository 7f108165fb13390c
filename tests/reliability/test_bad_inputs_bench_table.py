"""Bad-input corpus: benchmark and evaluated-arch tables (CSV, JSONL, Parquet), read by
``search_spaces.table.read_arch_table`` (``nas bench``) and ``nas.training.tables.read_arch_table`` (``nas predictor``).

Each case must give a ``DataError`` naming the file and, where there is one, the row and the column; never a
pandas or pyarrow traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from search_spaces import DataError, NasError, UnknownNameError, get_space
from search_spaces.table import read_arch_table
from tests.reliability.helpers import check_cli_refusal, check_error, run_nas

CELL_A = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
CELL_B = "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"
GOOD = f"arch,acc\n{CELL_A},90\n{CELL_B},80\n"

CSV_CASES = [
    # malformed / truncated
    ("empty_file", "", ["is empty"]),
    ("header_only", "arch,acc\n", ["has a header but no rows"]),
    ("ragged_row", GOOD + "x,1,2,3\n", ["Expected 2 fields in line 4, saw 4"]),
    ("unterminated_quote", f'arch,acc\n"{CELL_A},90\n', ["EOF inside string"]),
    ("cut_mid_row", GOOD[: len(GOOD) - 12], ["row 3, column 'arch'"]),
    ("binary", "\udcff\udcfe\x00\x01", ["cannot read table"]),
    ("missing_metric_column", f"arch,loss\n{CELL_A},1\n", ["no column 'acc'; it has arch, loss"]),
    ("missing_arch_column", "cell,acc\nx,1\n", ["no column 'arch'"]),
    # wrong type
    ("metric_text", GOOD.replace(",80", ",high"), ["row 3, column 'acc': 'high' is not a finite number"]),
    ("metric_empty", GOOD.replace(",80", ","), ["row 3, column 'acc': empty"]),
    ("arch_number", "arch,acc\n5,90\n", ["row 2, column 'arch': arch_str must be a string, got int"]),
    ("arch_empty", f"arch,acc\n{CELL_A},90\n,80\n", ["row 3, column 'arch': arch_str must be a string"]),
    # out of range
    ("metric_nan", GOOD.replace(",90", ",nan"), ["row 2, column 'acc': empty"]),
    ("metric_infinite", GOOD.replace(",90", ",inf"), ["row 2, column 'acc': inf is not a finite number"]),
    ("metric_1e400", GOOD.replace(",90", ",1e400"), ["row 2, column 'acc': inf is not a finite number"]),
    ("metric_5000_digits", GOOD.replace(",90", "," + "9" * 5000), ["row 2, column 'acc': '9999", "finite number"]),
    ("unknown_op", GOOD.replace("skip_connect", "conv_9x9"), ["row 3, column 'arch'", "'conv_9x9~0' should be op~0"]),
    ("edge_index_wrong", GOOD.replace("skip_connect~0", "skip_connect~7"), ["row 3, column 'arch'"]),
    ("two_nodes_only", "arch,acc\n|none~0|+|none~0|none~1|,1\n", ["row 2", "has 2 '+'-separated nodes"]),
    (
        "duplicate_arch",
        GOOD.replace("skip_connect", "nor_conv_3x3"),
        ["row 3", "duplicate architecture (same as row 2)"],
    ),
    # hostile
    ("path_traversal_op", GOOD.replace("skip_connect", "../../etc"), ["row 3, column 'arch'"]),
    ("spreadsheet_formula", GOOD.replace(",80", ",=cmd|' /C calc'!A0"), ["row 3, column 'acc'", "not a finite number"]),
    ("megabyte_cell", GOOD.replace(CELL_B, "x" * 1_000_000), ["row 3, column 'arch'"]),
    (
        "20000_columns",
        ",".join(f"c{i}" for i in range(20_000)) + "\n" + ",".join(["1"] * 20_000) + "\n",
        ["no column 'arch'; it has c0, c1", "(19988 more)"],
    ),
]


@pytest.mark.parametrize(("text", "fragments"), [c[1:] for c in CSV_CASES], ids=[c[0] for c in CSV_CASES])
def test_bad_benchmark_csv_names_file_row_and_column(text: str, fragments: list[str], tmp_path: Path) -> None:
    path = tmp_path / "bench.csv"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(NasError) as caught:
        read_arch_table(path, ["arch"], ["acc"], arch_format="nb201")
    check_error(caught.value, DataError, "bench.csv", *fragments)


def _parquet(frame: pd.DataFrame) -> Callable[[Path], None]:
    return lambda path: frame.to_parquet(path)


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


OTHER_FORMATS = [
    ("parquet_garbage", "t.parquet", _bytes(b"PAR1 not really parquet PAR1"), ["cannot read table"]),
    ("parquet_truncated", "t.parquet", "truncated", ["cannot read table"]),
    ("parquet_list_cells", "t.parquet", _parquet(pd.DataFrame({"w": [[1, 2], [3, 4]], "acc": [1.0, 2.0]})), ["w"]),
    ("parquet_null_choice", "t.parquet", _parquet(pd.DataFrame({"w": [1.0, None], "acc": [1.0, 2.0]})), ["row 2"]),
    ("jsonl_object_cell", "t.jsonl", _bytes(b'{"w": {"a": 1}, "acc": 1}\n'), ["row 1, column 'w'", "not a number"]),
    ("jsonl_torn_line", "t.jsonl", _bytes(b'{"w": 1, "acc": 2}\n{"w": [\n'), ["cannot read table"]),
    ("jsonl_deep", "t.jsonl", _bytes(b'{"w": ' + b"[" * 100_000 + b"]" * 100_000 + b', "acc": 2}\n'), ["cannot read"]),
    ("jsonl_not_objects", "t.jsonl", _bytes(b"1\n2\n"), ["no column 'w'"]),
    ("unknown_suffix", "t.xlsx", _bytes(b"PK"), ["unknown table format '.xlsx'"]),
    ("folder_named_csv", "t.csv", lambda path: path.mkdir(), ["does not exist"]),
]


@pytest.mark.parametrize(
    ("name", "make", "fragments"), [c[1:] for c in OTHER_FORMATS], ids=[c[0] for c in OTHER_FORMATS]
)
def test_bad_parquet_and_jsonl_tables(name: str, make: object, fragments: list[str], tmp_path: Path) -> None:
    path = tmp_path / name
    if make == "truncated":
        pd.DataFrame({"w": [1, 2, 3], "acc": [1.0, 2.0, 3.0]}).to_parquet(path)
        path.write_bytes(path.read_bytes()[:40])
    else:
        make(path)  # type: ignore[operator]
    with pytest.raises(NasError) as caught:
        read_arch_table(path, ["w"], ["acc"])
    check_error(caught.value, DataError, name, *fragments)


def test_unknown_arch_format_lists_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "bench.csv"
    path.write_text(GOOD)
    with pytest.raises(NasError) as caught:
        read_arch_table(path, ["arch"], ["acc"], arch_format="../evil")
    check_error(caught.value, UnknownNameError, "unknown arch format '../evil'", "nb201")


SPACE = get_space("ofa_mbv3_small")


def _arch_table(tmp_path: Path, change: Callable[[pd.DataFrame], object], suffix: str = ".csv") -> Path:
    rows = [{**arch.to_dict(), "val_loss": 0.5} for arch in (SPACE.smallest(), SPACE.largest())]
    frame = pd.DataFrame(rows)
    change(frame)
    path = tmp_path / f"subnets{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], None]:
    def change(frame: pd.DataFrame) -> None:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value

    return change


ARCH_TABLE_CASES = [
    ("resolution_33", _set("resolution", 1, 33), ["row 3", "resolution=33 not in {24, 28, 32}"]),
    ("kernel_text", _set("s2_b1_kernel", 0, "seven"), ["row 2", "s2_b1_kernel='seven' has type str"]),
    ("depth_missing", _set("s1_depth", 0, None), ["row 2", "missing field 's1_depth'"]),
    ("no_arch_columns", lambda f: setattr(f, "columns", [f"x_{c}" for c in f.columns]), ["no architecture columns"]),
    ("duplicate_rows", lambda f: f.loc.__setitem__(1, f.loc[0]), ["row 3: duplicate architecture"]),
    ("depth_huge", _set("s1_depth", 0, 10**30), ["row 2", "s1_depth=1000", "not in {2, 3, 4}"]),
]


@pytest.mark.parametrize(
    ("change", "fragments"), [c[1:] for c in ARCH_TABLE_CASES], ids=[c[0] for c in ARCH_TABLE_CASES]
)
def test_bad_evaluated_arch_table_names_file_and_row(change: object, fragments: list[str], tmp_path: Path) -> None:
    path = _arch_table(tmp_path, change)  # type: ignore[arg-type]
    with pytest.raises(NasError) as caught:
        read_arch_table(path, space=SPACE)
    check_error(caught.value, DataError, "subnets.csv", *fragments)


@pytest.mark.parametrize(
    ("values", "fragment"),
    [([0.5, float("inf")], "row 3, column 'val_loss': inf is not a finite number"), ([0.5, "x"], "'x'")],
    ids=["infinite_metric", "text_metric"],
)
def test_bad_metric_column(values: list, fragment: str, tmp_path: Path) -> None:
    path = _arch_table(tmp_path, lambda frame: frame.__setitem__("val_loss", values))
    with pytest.raises(NasError) as caught:
        read_arch_table(path, metric_columns=["val_loss"], space=SPACE)
    check_error(caught.value, DataError, "subnets.csv", fragment)
    with pytest.raises(NasError) as caught:
        read_arch_table(path, metric_columns=["val_acc"], space=SPACE)
    check_error(caught.value, DataError, "has no column 'val_acc'")


def test_cli_refuses_a_bad_benchmark_table_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bench.csv"
    path.write_text(GOOD.replace(",80", ",high"))
    args = ["bench", "search", "--table", str(path), "--arch-columns", "arch", "--metric", "acc", "--seeds", "1"]
    result = run_nas([*args, "--queries", "5", "--out", str(tmp_path / "out")], tmp_path)
    check_cli_refusal(result, "bench.csv, row 3, column 'acc'")
    assert not (tmp_path / "out").exists()
