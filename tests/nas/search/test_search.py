"""`nas search`: budgets, samplers, results on disk, determinism, predictor and supernet accuracy, Ray workers,
and resuming after the driver was killed with SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest

import nas
from nas.cli import main
from nas.search.config import EvaluationConfig, ExecutionConfig
from nas.search.driver import JOURNAL, SearchConfig, run_search
from nas.search.journal import TrialBatchedJournal
from nas.search.objectives import parse_budget
from nas.supernet.families.mobilenetv3.parts import build_part, distinct_parts, subnet_macs
from nas.supernet.part_costs import parts_macs
from predictors.latency import LatencyTable
from search_spaces import ConfigError, UnknownNameError, get_space
from tests.conftest import REPO_ROOT

SPACE = "ofa_mbv3_small"


def cheap_config(**overrides: Any) -> SearchConfig:
    options: dict[str, Any] = {
        "objectives": ["macs", "params"],
        "budgets": ["params=3M"],
        "space": SPACE,
        "trials": 40,
        "population": 10,
    }
    storage = overrides.pop("storage", None)
    return SearchConfig(**{**options, **overrides}, execution=ExecutionConfig(batch=8, storage=storage))


def study_of(run_dir: Path) -> optuna.Study:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(run_dir / JOURNAL)))
    return optuna.load_study(study_name="search", storage=storage)


def test_budgets_parse_units_and_reject_nonsense() -> None:
    assert parse_budget("peak_memory=2MiB").limit == 2 * 2**20
    assert parse_budget("macs=50M").limit == 50e6
    assert parse_budget("latency=5ms").limit == 5.0
    assert parse_budget("accuracy=97%").limit == pytest.approx(0.97)
    assert parse_budget("latency=4").violation(5.0) == pytest.approx(0.25)
    assert parse_budget("accuracy=0.9").violation(0.95) < 0
    with pytest.raises(UnknownNameError, match="latency"):
        parse_budget("speed=3")
    for bad in ("latency", "latency=fast", "latency=3 parsecs"):
        with pytest.raises(ConfigError, match="budget"):
            parse_budget(bad)


@pytest.mark.parametrize("sampler", ["nsga2", "tpe", "random"])
def test_search_writes_front_table_plots_and_respects_budgets(tmp_path: Path, sampler: str) -> None:
    result = run_search(cheap_config(sampler=sampler), "run", tmp_path, progress=False)
    run = result.run_dir
    assert result.trials == 40 and 0 < result.front_size <= result.feasible
    assert result.hypervolume > 0
    for name in ("front.csv", "front.parquet", "trials.csv", "trials.parquet", "summary.json", "front.png"):
        assert (run / name).stat().st_size > 0
    assert (run / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    front = pd.read_csv(run / "front.csv")
    assert (front["params"] <= 3e6).all() and (front["violation_params"] <= 0).all()
    trials = pd.read_csv(run / "trials.csv")
    assert (trials["feasible"] == (trials["params"] <= 3e6)).all()  # infeasible trials are recorded too
    space = get_space(SPACE)
    for row in front.to_dict("records"):  # arch labels round-trip and the metrics are the arch's own
        labels = {k: int(v) for k, v in row.items() if k in space.labels() and not pd.isna(v)}
        assert subnet_macs(space, space.validate(labels), 10) == row["macs"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["reference"] == result.reference and summary["budgets"] == ["params <= 3e+06 parameters"]
    assert len(study_of(run).trials) == 40


def test_same_seed_same_trajectory(tmp_path: Path) -> None:
    for sampler in ("nsga2", "evolution"):
        objectives = ["macs"] if sampler == "evolution" else ["macs", "params"]
        runs = [
            run_search(
                cheap_config(sampler=sampler, objectives=objectives, seed=3), f"{sampler}{i}", tmp_path, progress=False
            )
            for i in range(2)
        ]
        first, second = (pd.read_csv(r.run_dir / "trials.csv") for r in runs)
        pd.testing.assert_frame_equal(first, second)


def test_evolution_improves_on_its_random_start(tmp_path: Path) -> None:
    config = cheap_config(sampler="evolution", objectives=["macs"], budgets=[], trials=60, population=10)
    trials = pd.read_csv(run_search(config, "evo", tmp_path, progress=False).run_dir / "trials.csv")
    assert trials["macs"].iloc[30:].mean() < trials["macs"].iloc[:10].mean()


def test_unreachable_budget_names_the_smallest_value_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="smallest achievable params is"):
        run_search(cheap_config(budgets=["params=1000"]), "never", tmp_path, progress=False)
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"objectives": ["speed"]}, "latency"),
        ({"sampler": "annealing"}, "nsga2"),
        ({"sampler": "evolution"}, "one objective"),
        ({"objectives": ["latency"]}, "--latency-table"),
        ({"objectives": ["accuracy"]}, "--predictor"),
        ({"trials": 0}, "trials=0"),
        ({"storage": "sqlite:////no/such/folder/study.db"}, "cannot reach storage"),
    ],
)
def test_bad_search_settings_fail_before_writing(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_search(cheap_config(**overrides), "bad", tmp_path, progress=False)
    assert not (tmp_path / "bad").exists()


def synthetic_latency_table(path: Path) -> Path:
    """A table whose parts take their MACs / 1e6 milliseconds: a device model without timing noise."""
    space = get_space(SPACE)
    table = LatencyTable(SPACE, "cpu", 1, 10, {"name": "synthetic"})
    for part in distinct_parts(space, 10):
        table.entries[part.key] = {"median_ms": parts_macs(build_part, [part]) / 1e6, "iqr_ms": 0.0, "repeats": 1}
    table.save(path)
    return path


def fitted_predictor(folder: Path) -> Path:
    """An MLP fitted to a synthetic accuracy that falls with latency-free features (depth)."""
    import predictors
    from nas.supernet.features import arch_featurizer

    space = get_space(SPACE)
    rng = np.random.default_rng(0)
    sample = [space.sample(random.Random(i)) for i in range(80)]
    featurizer = arch_featurizer(space, 10)
    depth = np.array([sum(int(a[f"s{i}_depth"]) for i in range(1, 6)) for a in sample], dtype=float)
    accuracy = 0.9 + 0.004 * depth + rng.normal(0, 0.001, len(sample))
    model = predictors.create_predictor("mlp_ensemble", feature_names=featurizer.names, target="val_accuracy")
    model.fit(featurizer.matrix(sample), accuracy).save(folder)
    return folder


def test_predictor_search_with_latency_and_memory_budgets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = synthetic_latency_table(tmp_path / "latency.json")
    predictor = fitted_predictor(tmp_path / "predictor")
    args = [
        "search", "--runs-root", str(tmp_path), "--name", "pred", "--predictor", str(predictor),
        "--latency-table", str(table), "--objectives", "accuracy", "latency", "--budget", "latency=25",
        "--budget", "peak_memory=1.2MiB", "--trials", "48", "--batch", "16", "--population", "16", "--json",
    ]  # fmt: skip
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trials"] == 48 and report["front_size"] >= 1
    front = pd.read_csv(tmp_path / "pred" / "front.csv")
    assert (front["latency"] <= 25).all() and (front["peak_memory"] <= 1.2 * 2**20).all()
    assert {"accuracy_spread", "violation_latency", "violation_peak_memory"} <= set(front.columns)
    assert main(["report", str(tmp_path / "pred")]) == 0
    printed = capsys.readouterr().out
    assert "latency <= 25 ms" in printed and "hypervolume" in printed


def tiny_supernet(path: Path) -> Path:
    supernet = nas.create_supernet(SPACE, num_classes=10)
    nas.save_supernet(supernet, path)
    return path


@pytest.mark.slow
def test_supernet_search_on_ray_workers(tmp_path: Path, ray_session: Any) -> None:
    checkpoint = tiny_supernet(tmp_path / "supernet.pt")
    config = SearchConfig(
        objectives=["accuracy", "macs"],
        budgets=["params=3.2M"],
        supernet=str(checkpoint),
        trials=8,
        population=4,
        evaluation=EvaluationConfig(calibration_images=64),
        execution=ExecutionConfig(workers=2, cpus_per_worker=0.5),
    )
    result = run_search(config, "ray", tmp_path, progress=False)
    trials = pd.read_csv(result.run_dir / "trials.csv")
    assert len(trials) == 8 and (trials["state"] == "complete").all()
    evaluated = trials[trials["evaluated"]]
    assert len(evaluated) >= 1 and evaluated["accuracy"].between(0, 1).all()
    assert set(evaluated["worker"]) <= {0, 1}
    skipped = trials[~trials["evaluated"]]
    assert (skipped["params"] > 3.2e6).all()  # only budget-breaking candidates skip the supernet


@pytest.mark.slow
def test_search_resumes_after_sigkill_without_losing_or_duplicating_trials(tmp_path: Path) -> None:
    checkpoint = tiny_supernet(tmp_path / "supernet.pt")
    args = [
        sys.executable, "-m", "nas", "search", "--runs-root", str(tmp_path), "--name", "killed",
        "--supernet", str(checkpoint), "--objectives", "accuracy", "params", "--trials", "10",
        "--population", "4", "--no-ray", "--calibration-images", "64", "--json",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    journal = tmp_path / "killed" / JOURNAL
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if journal.is_file() and journal.read_bytes().count(b'"op_code":6') >= 3:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = [t for t in study_of(tmp_path / "killed").trials if t.state.is_finished()]
    assert 3 <= len(before) < 10
    resumed = subprocess.run(
        [*args[:6], "--name", "killed", "--resume", "--json"], capture_output=True, text=True, env=env, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    trials = study_of(tmp_path / "killed").trials
    assert [t.number for t in trials] == list(range(len(trials)))
    finished = [t for t in trials if t.state.is_finished()]
    assert len(finished) == 10 and len(trials) == 10  # no orphan left, nothing duplicated
    for old in before:  # what was told before the kill is still there, unchanged
        assert trials[old.number].params == old.params and trials[old.number].values == old.values


def test_journal_batches_writes_and_survives_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "study.journal"
    storage = optuna.storages.JournalStorage(TrialBatchedJournal(path))
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    trial.suggest_categorical("a", [1, 2])
    lines_while_running = path.read_bytes().count(b"\n")
    study.tell(trial, 1.0)
    assert path.read_bytes().count(b"\n") == lines_while_running + 3  # create, param, tell in one append
    with open(path, "ab") as stream:
        stream.write(b'{"op_code":4,"worker_id":"x"')  # a write cut short by a kill
    reopened = optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(TrialBatchedJournal(path)))
    assert len(reopened.trials) == 1 and reopened.trials[0].value == 1.0
    assert path.read_bytes().endswith(b"\n")


def test_journal_answers_reads_of_finished_trials_without_rescanning_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Optuna reads back every trial it finishes; from the file that would be a scan from the top each time (it
    learns line offsets only by reading), which made long searches quadratic."""
    scans: list[int] = []
    file_read = optuna.storages.journal.JournalFileBackend.read_logs

    def counted(backend: Any, log_number_from: int) -> Any:
        scans.append(log_number_from)
        yield from file_read(backend, log_number_from)

    monkeypatch.setattr(optuna.storages.journal.JournalFileBackend, "read_logs", counted)
    path = tmp_path / "study.journal"
    study = optuna.create_study(storage=optuna.storages.JournalStorage(TrialBatchedJournal(path)), study_name="s")
    for _ in range(30):
        trial = study.ask()
        study.tell(trial, float(trial.suggest_int("x", 0, 9)))
    assert len(scans) <= 1  # at most when the study is created, never once per trial
    reopened = optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(TrialBatchedJournal(path)))
    assert [(t.params, t.value) for t in reopened.trials] == [(t.params, t.value) for t in study.trials]


def test_predictor_tactic_refits_proposes_feasible_archs_and_is_seeded(tmp_path: Path) -> None:
    table = synthetic_latency_table(tmp_path / "latency.json")
    predictor = fitted_predictor(tmp_path / "predictor")
    config = SearchConfig(
        objectives=["accuracy", "latency"],
        budgets=["latency=25"],
        sampler="predictor",
        predictor=str(predictor),
        latency_table=str(table),
        trials=40,
        population=12,
        seed=5,
        execution=ExecutionConfig(batch=8),
    )
    runs = [run_search(config, f"guided{i}", tmp_path, progress=False) for i in range(2)]
    trials = [pd.read_csv(r.run_dir / "trials.csv") for r in runs]
    assert trials[0]["latency"].tolist() == trials[1]["latency"].tolist()  # same seed, same proposals
    arch_columns = ["resolution", *(c for c in trials[0].columns if c.startswith("s") and c[1].isdigit())]
    assert not trials[0].duplicated(arch_columns).any()
    guided = trials[0].iloc[6:]  # after the random start of half a population, proposals meet the cheap budget
    assert (guided["latency"] <= 25).mean() >= 0.9
    assert runs[0].front_size >= 1


@pytest.mark.parametrize("text", ["latency=1e400", "accuracy=150%", "firing_rate<=2"])
def test_budgets_refuse_infinite_limits_and_fractions_above_one(text: str) -> None:
    with pytest.raises(ConfigError, match=r"finite|fraction"):
        parse_budget(text)


@pytest.mark.parametrize("content", ['{"trials": "many"}', "[" * 100_000, '{"sampler": "nsga2", "evil": 1}', ""])
def test_resume_refuses_a_damaged_search_config_by_name(tmp_path: Path, content: str) -> None:
    run_search(cheap_config(trials=4), "s", tmp_path, progress=False)
    (tmp_path / "s" / "search_config.json").write_text(content)
    with pytest.raises(ConfigError):
        run_search(cheap_config(), "s", tmp_path, resume=True, progress=False)
