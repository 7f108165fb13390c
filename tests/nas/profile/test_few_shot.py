"""A new device from a few measurements: ``nas profile --few-shot K --sources TABLE...`` writes a transfer file that
searches read like a table and ``nas devices`` lists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nas.cli import main
from nas.profile.few_shot import profile_few_shot, validate_transfer
from nas.profile.timers import CpuTimer
from nas.supernet.latency_transfer import TransferFile, TransferLatencyModel, latency_predictor, random_archs
from search_spaces import get_space
from tests.nas.search.test_multi_device import device_table

SPACE = "ofa_mbv3_small"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A noise-free source device whose parts take their MACs / 1e6 milliseconds."""
    return device_table(tmp_path / "source.json", lambda macs: macs / 1e6)


def test_few_shot_file_fits_predicts_and_validates(tmp_path: Path, source: Path) -> None:
    space = get_space(SPACE)
    timer = CpuTimer(1, min_repeats=3, min_seconds=0.0, rounds=1)
    measured = profile_few_shot(space, timer, 1, 10, 8, [str(source)], seed=3)
    assert len(measured.archs) == len(measured.measured_ms) == 8 and measured.device == "cpu"
    assert all(ms > 0 for ms in measured.measured_ms)
    report = validate_transfer(measured, space, timer, 6, seed=4)
    assert report["subnets"] == 6 and report["shots"] == 8 and np.isfinite(report["mape"])
    path = measured.save(tmp_path / "few.json")
    loaded = TransferFile.load(path)
    assert loaded.measured_ms == measured.measured_ms and loaded.validation == report
    table_space, model = latency_predictor(path)
    assert table_space == SPACE and isinstance(model, TransferLatencyModel)
    archs = random_archs(space, 5, seed=9)
    predicted = model.predict(archs)
    assert predicted.shape == (5,) and np.all(predicted > 0)
    np.testing.assert_allclose(predicted, TransferLatencyModel(loaded, space).predict(archs))  # refits the same


def test_cli_few_shot_then_search_and_devices(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    quick = ["--space", SPACE, "--threads", "1", "--num-classes", "10", "--repeats", "3", "--rounds", "1"]
    assert main(["profile", *quick, "--few-shot", "6"]) == 2
    assert "--few-shot K needs --sources" in capsys.readouterr().err
    assert main(["profile", *quick, "--few-shot", "6", "--sources", str(source), "--validate", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    file = Path(report["table"])
    assert file == Path("runs/latency/cpu-ofa_mbv3_small-b1.fewshot6.json") and file.exists()
    args = ["search", "--space", SPACE, "--latency-table", str(file), "--objectives", "macs", "latency",
            "--trials", "8", "--batch", "8", "--population", "4", "--name", "s", "--json"]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    trials = pd.read_csv(tmp_path / "runs" / "s" / "trials.csv")
    assert len(trials) == 8 and (trials["latency"] > 0).all()
    assert main(["devices", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["tables"]
    assert row["model"] == "few-shot 6 from 1 tables" and row["subnets"] == 4
