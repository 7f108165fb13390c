"""Architecture tables: read in every format, malformed tables name the file, row and column; the predictor CLI
fits, saves and re-evaluates on a table."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nas
from nas.cli import main
from search_spaces import ConfigError, DataError
from search_spaces.table import read_arch_table, write_table

SPACE = nas.get_space("ofa_mbv3_small")


def synthetic_table(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """Archs with a metric that depends on their choices (a stand-in for evaluated accuracy)."""
    rng = random.Random(seed)
    supernet = nas.create_supernet("ofa_mbv3_small", num_classes=10)
    archs, seen = [], set()
    while len(archs) < rows:
        arch = SPACE.sample(rng)
        if arch not in seen:
            seen.add(arch)
            archs.append(arch)
    return pd.DataFrame(
        [{**a.to_dict(), "val_loss": 1.0 / np.log(supernet.macs(a)) + 0.001 * rng.random()} for a in archs]
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_round_trip_in_every_format(tmp_path: Path, suffix: str) -> None:
    table = synthetic_table(20)
    path = write_table(table, tmp_path / f"t{suffix}")
    read = read_arch_table(path, metric_columns=["val_loss"], space=SPACE)
    assert [a.to_dict() for a in read.archs] == [
        SPACE.validate(r.dropna().to_dict()).to_dict() for _, r in table.drop(columns="val_loss").iterrows()
    ]
    assert np.allclose(read.column("val_loss"), table["val_loss"])


def test_ofa_format_columns_are_accepted(tmp_path: Path) -> None:
    space = nas.get_space("ofa_mbv3")
    archs = [space.sample(random.Random(i)) for i in range(3)]
    lines = [json.dumps({**space.to_ofa_config(a), "latency_ms": 1.0 + i}) for i, a in enumerate(archs)]
    (tmp_path / "ofa.jsonl").write_text("\n".join(lines) + "\n")
    read = read_arch_table(tmp_path / "ofa.jsonl", space=space)
    assert read.archs == archs


def test_malformed_tables_name_file_row_and_column(tmp_path: Path) -> None:
    table = synthetic_table(5)
    with pytest.raises(DataError, match="does not exist"):
        read_arch_table(tmp_path / "none.csv", space=SPACE)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty\.csv"):
        read_arch_table(tmp_path / "empty.csv", space=SPACE)
    write_table(table[["val_loss"]], tmp_path / "noarch.csv")
    with pytest.raises(DataError, match="no architecture columns"):
        read_arch_table(tmp_path / "noarch.csv", space=SPACE)
    bad = table.copy()
    bad.loc[2, "s1_b1_kernel"] = 4
    write_table(bad, tmp_path / "bad.csv")
    with pytest.raises(DataError, match=r"bad\.csv, row 4: s1_b1_kernel=4 not in \{3, 5, 7\}"):
        read_arch_table(tmp_path / "bad.csv", space=SPACE)
    write_table(pd.concat([table, table.iloc[[1]]]), tmp_path / "dup.csv")
    with pytest.raises(DataError, match="row 7: duplicate architecture"):
        read_arch_table(tmp_path / "dup.csv", space=SPACE)
    text = table.copy()
    text["val_loss"] = text["val_loss"].astype(object)
    text.loc[3, "val_loss"] = "fast"
    write_table(text, tmp_path / "text.csv")
    with pytest.raises(DataError, match=r"row 5, column 'val_loss': 'fast' is not a finite number"):
        read_arch_table(tmp_path / "text.csv", metric_columns=["val_loss"], space=SPACE)
    with pytest.raises(DataError, match="no column 'accuracy'"):
        read_arch_table(tmp_path / "text.csv", metric_columns=["accuracy"], space=SPACE)


def test_predictor_cli_fit_then_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_table(synthetic_table(160), tmp_path / "t.csv")
    argv = [
        "predictor",
        "fit",
        "--table",
        str(tmp_path / "t.csv"),
        "--space",
        "ofa_mbv3_small",
        "--metric",
        "val_loss",
        "--kind",
        "gbm",
        "--test-size",
        "40",
        "--out",
        str(tmp_path / "p"),
        "--json",
    ]
    assert main(argv) == 0
    fitted = json.loads(capsys.readouterr().out)
    assert fitted["train_rows"] == 120 and fitted["kendall_tau"] > 0.6
    argv = [
        "predictor",
        "eval",
        "--predictor",
        str(tmp_path / "p"),
        "--table",
        str(tmp_path / "t.csv"),
        "--space",
        "ofa_mbv3_small",
        "--json",
    ]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 160
    argv[argv.index("ofa_mbv3_small")] = "ofa_mbv3"  # a predictor of one space on another space's table
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err


def dynast_spec(arch: nas.Arch, space: nas.SearchSpace, filler: int | None = None) -> str:
    """``arch`` as DyNAS-T writes it: a Python dict literal with ``'wid': None`` and ``'r': [224]``; ``filler``
    overwrites the inactive kernel slots (which once-for-all ignores)."""
    spec = space.to_ofa_config(arch)
    if filler is not None:
        for stage, depth in enumerate(spec["d"]):
            for block in range(depth, 4):
                spec["ks"][stage * 4 + block] = filler
    return repr(spec)


def test_spec_column_of_python_literals_and_repeats(tmp_path: Path) -> None:
    space = nas.get_space("ofa_mbv3")
    archs = [space.sample(random.Random(i)).to_dict() | {"resolution": 224} for i in range(4)]
    archs = [space.validate(a) for a in archs]
    specs = [dynast_spec(a, space) for a in archs] + [dynast_spec(archs[1], space, filler=7)]
    assert specs[-1] != specs[1]  # same active blocks, other inactive slots: the same subnet
    frame = pd.DataFrame({"Sub-network": specs, "Date": "2022-11-01", "Top-1 Acc (%)": [71.0, 72.0, 73.0, 74.0, 73.0]})
    frame.to_csv(tmp_path / "dynast.csv", index=False)
    assert "'wid': None" in (tmp_path / "dynast.csv").read_text()
    with pytest.raises(DataError, match=r"row 6, column 'Sub-network': duplicate architecture \(same as row 3\)"):
        read_arch_table(tmp_path / "dynast.csv", metric_columns=["Top-1 Acc (%)"], space=space)
    table = read_arch_table(tmp_path / "dynast.csv", metric_columns=["Top-1 Acc (%)"], space=space, duplicates="mean")
    assert table.archs == archs and table.merged == 1
    assert table.column("Top-1 Acc (%)").tolist() == [71.0, 72.5, 73.0, 74.0]
    named = read_arch_table(tmp_path / "dynast.csv", ["Sub-network"], ["Top-1 Acc (%)"], space=space, duplicates="mean")
    assert named.archs == archs
    both = table.stack(named)
    assert both.archs == archs and both.merged == 1 + 1 + 4
    assert both.column("Top-1 Acc (%)").tolist() == [71.0, 72.5, 73.0, 74.0]


def test_bad_spec_cells_are_data_errors_and_never_run(tmp_path: Path) -> None:
    space = nas.get_space("ofa_mbv3")
    good = dynast_spec(space.validate(space.smallest().to_dict() | {"resolution": 224}), space)
    cells = [good, "{'ks': __import__('os').getcwd()}", good.replace("'r': [224]", "'r': [225]")]
    for index, cell in enumerate(cells[1:], start=1):
        pd.DataFrame({"Sub-network": [good, cell], "acc": [1.0, 2.0]}).to_csv(tmp_path / f"{index}.csv", index=False)
    with pytest.raises(DataError, match=r"1\.csv, row 3, column 'Sub-network': .* is not a once-for-all spec"):
        read_arch_table(tmp_path / "1.csv", ["Sub-network"], ["acc"], space=space)
    with pytest.raises(DataError, match=r"2\.csv, row 3, column 'Sub-network': r=225 not in"):
        read_arch_table(tmp_path / "2.csv", metric_columns=["acc"], space=space)
    with pytest.raises(ConfigError, match="duplicates"):
        read_arch_table(tmp_path / "2.csv", metric_columns=["acc"], space=space, duplicates="first")
