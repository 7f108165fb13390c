"""``python -m benchmarks reproduce``: a re-measured figure is compared with its record's spread, a figure that
moved is reported and fails the command, and the cheap checks reproduce the committed records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmark_scripts import BENCHMARKS, load_script

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def reproduce() -> ModuleType:
    """``benchmarks/reproduce.py`` loaded by path (``benchmarks/`` is not a package)."""
    return load_script("reproduce")


def _run(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", "reproduce", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_spread_is_two_standard_deviations_of_a_difference_of_means(reproduce: ModuleType) -> None:
    recorded = reproduce.Spread.of([0.975, 0.98, 0.985])  # std 0.005 over 3 runs
    one = reproduce.Spread.of([0.97])
    comparison = reproduce.Comparison("accuracy", recorded, one, resolution=1 / 360)
    assert comparison.tolerance == pytest.approx(2 * 0.005 * (1 / 3 + 1) ** 0.5)
    assert comparison.within
    assert not reproduce.Comparison("accuracy", recorded, reproduce.Spread.of([0.96]), 1 / 360).within
    three = reproduce.Spread.of([0.97, 0.97, 0.97])  # a mean over as many runs is held closer
    assert not reproduce.Comparison("accuracy", recorded, three, 1 / 360).within


def test_a_figure_recorded_without_spread_is_held_to_its_resolution(reproduce: ModuleType) -> None:
    recorded = reproduce.Spread.of([0.99])
    assert reproduce.Comparison("a", recorded, reproduce.Spread.of([0.99 - 1 / 360]), 1 / 360).within
    assert not reproduce.Comparison("a", recorded, reproduce.Spread.of([0.99 - 2 / 360]), 1 / 360).within


def test_the_predictor_figures_reproduce_their_record(tmp_path: Path) -> None:
    done = _run("--only", "nb201_predictor", "--out", str(tmp_path / "report"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "within their recorded spread" in done.stdout
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    figures = report["checks"]["nb201_predictor"]["figures"]
    recorded = json.loads((BENCHMARKS / "results" / "nb201_predictor.json").read_text())
    assert len(figures) == len(recorded["results"])
    assert all(figure["within"] for figure in figures)


def test_a_figure_that_moved_is_reported_and_fails_the_command(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    record = json.loads((BENCHMARKS / "results" / "nb201_predictor.json").read_text())
    row = record["results"][-1]
    row[f"{row['best_kind']}_tau"] -= 0.2  # a record the code no longer produces
    (results / "nb201_predictor.json").write_text(json.dumps(record))
    done = _run("--only", "nb201_predictor", "--results", str(results), "--out", str(tmp_path / "report"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"OUTSIDE: NB201 {row['best_kind']} Kendall tau, {row['train_size']} training cells" in done.stdout


def test_an_unknown_check_is_refused_with_the_known_ones() -> None:
    done = _run("--only", "everything")
    assert done.returncode == 2
    assert "invalid choice: 'everything'" in done.stderr and "nb201_predictor" in done.stderr


def test_the_module_names_its_commands() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "reproduce" in done.stderr and "tables" in done.stderr
