"""Fault tests with real processes and real operating-system conditions (no mocks):

- ``nas train`` killed with SIGKILL after an epoch's metrics row but before the next checkpoint, then resumed:
  same weights and the same ``metrics.csv`` as an uninterrupted run (no epoch listed twice);
- the ``nas search`` driver killed with SIGKILL while its Ray workers evaluate, then resumed: every trial number
  once, none lost, the told ones unchanged, and no Ray process of the killed driver left behind;
- a Ray evaluation actor killed with SIGKILL in the middle of a task: it is replaced, the task re-queued, and
  the search completes with every trial evaluated;
- a full disk (a tiny tmpfs) under ``nas train`` and ``nas search``: one clear error and exit code 2, the last
  good files intact, and after space is freed the runs resume to the end;
- a read-only ``runs/`` (a read-only bind mount): every command refuses with a clear error and changes nothing;
- a process killed in the middle of writing checkpoints, latency tables, arch tables (CSV, Parquet, JSONL),
  predictors and JSON: every file on disk still loads, whole, with one round's content.

Full and read-only file systems are real mounts inside a private mount namespace (``unshare``), so the tests need
neither root on the host nor leave anything mounted; where no namespace can be made, they skip (read-only falls
back to file permissions for a non-root user).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

import nas
from nas.core.files import load_torch_file
from nas.search.config import EvaluationConfig, ExecutionConfig
from nas.search.driver import JOURNAL, SearchConfig, run_search
from nas.search.journal import TrialBatchedJournal
from predictors import load_predictor
from predictors.latency import LatencyTable
from search_spaces.table import read_frame
from tests.reliability.helpers import (
    alive,
    check_cli_refusal,
    cli_env,
    command_line,
    descendants,
    mount_namespace_available,
    run_in_mount_namespace,
    run_nas,
    shell_nas,
    start_nas,
    tiny_train_config,
    write_yaml,
)

METRIC_COLUMNS = ("epoch", "step", "lr", "loss", "student_loss", "train_acc")


def metric_rows(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as stream:
        return [{key: row[key] for key in METRIC_COLUMNS} for row in csv.DictReader(stream)]


def same_weights(first: Path, second: Path) -> bool:
    a, b = nas.load_supernet(first).state_dict(), nas.load_supernet(second).state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def study_trials(run: Path) -> list[Any]:
    import optuna

    storage = optuna.storages.JournalStorage(TrialBatchedJournal(run / JOURNAL))
    return optuna.load_study(study_name="search", storage=storage).trials


def wait_for(condition: Any, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended before {what}: {process.stderr.read()[-2000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------- training
@pytest.mark.slow
def test_train_killed_after_an_epoch_row_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    """2 steps per epoch, checkpoints every 3 steps: the kill lands after epoch 2's row (step 4) and before the
    next checkpoint (step 6, the end), so the resumed run repeats steps 4-6 and must not list epoch 2 twice."""
    config = write_yaml(
        tmp_path / "train.yaml",
        tiny_train_config(
            checkpoint_every=3,
            data={"limit_train": 64},
            phases=[{"epochs": 3, "random_subnets": 1, "resolutions": [24]}],
        ),
    )
    reference = start_nas(["train", "--config", str(config), "--name", "reference", "--quiet"], tmp_path)
    victim = start_nas(["train", "--config", str(config), "--name", "victim", "--quiet"], tmp_path)
    run = tmp_path / "runs" / "victim"

    def two_rows() -> bool:
        return (run / "metrics.csv").is_file() and (run / "metrics.csv").read_bytes().count(b"\n") >= 3

    wait_for(two_rows, 300, "epoch 2's metrics row", victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    position = load_torch_file(run / "checkpoints" / "last.pt")["position"]
    rows_at_kill = metric_rows(run)
    assert position["global_step"] < int(rows_at_kill[-1]["step"]), "the kill should land after a row"
    assert not (run / "supernet.pt").exists()

    resumed = run_nas(["train", "--resume", str(run), "--quiet", "--json"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert reference.wait(timeout=300) == 0, reference.stderr.read()[-3000:]
    expected = metric_rows(tmp_path / "runs" / "reference")
    assert [row["epoch"] for row in metric_rows(run)] == ["1", "2", "3"]
    assert metric_rows(run) == expected
    assert same_weights(run / "supernet.pt", tmp_path / "runs" / "reference" / "supernet.pt")


# ---------------------------------------------------------------------------------------------- search
def tiny_supernet(path: Path) -> Path:
    nas.save_supernet(nas.create_supernet("ofa_mbv3_small", num_classes=10), path)
    return path


def finished(trials: list[Any]) -> list[Any]:
    return [trial for trial in trials if trial.state.is_finished()]


@pytest.mark.slow
def test_search_driver_killed_while_ray_evaluates_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    supernet = tiny_supernet(tmp_path / "supernet.pt")
    common = ["search", "--runs-root", str(tmp_path), "--name", "s"]
    args = [
        *common, "--supernet", str(supernet), "--objectives", "accuracy", "params", "--trials", "8",
        "--population", "4", "--workers", "1", "--cpus-per-worker", "1", "--calibration-images", "32", "--json",
    ]  # fmt: skip
    driver = start_nas(args, tmp_path)
    journal = tmp_path / "s" / JOURNAL
    wait_for(lambda: journal.is_file() and journal.read_bytes().count(b'"op_code":6') >= 2, 300, "2 trials", driver)
    helpers = descendants(driver.pid)
    assert any("raylet" in command_line(pid) for pid in helpers), "the driver should run Ray workers"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    killed_at = time.monotonic()
    before = finished(study_trials(tmp_path / "s"))
    assert 2 <= len(before) < 8
    # GCS, raylet and workers share the driver's fate at once. Ray's two agents notice the raylet's death within
    # seconds but then spend Ray's fixed 60 s trying to report it to the dead GCS before they exit on their own;
    # they listen on loopback only, and the test ends them rather than wait.
    agents = {pid for pid in helpers if "Agent" in command_line(pid)}
    _wait_gone(helpers - agents, killed_at + 20)
    assert not [command_line(pid) for pid in helpers - agents if alive(pid)], "Ray processes outlived the driver"
    for pid in agents:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)

    resumed = run_nas([*common, "--resume", "--json"], tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = study_trials(tmp_path / "s")
    assert [trial.number for trial in trials] == list(range(8))
    assert len(finished(trials)) == 8 and all(trial.state.name == "COMPLETE" for trial in trials)
    for old in before:
        assert trials[old.number].params == old.params and trials[old.number].values == old.values
    assert len(pd.read_csv(tmp_path / "s" / "trials.csv")) == 8


def _wait_gone(pids: set[int], deadline: float) -> None:
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.5)


@pytest.mark.slow
def test_ray_actor_killed_mid_evaluation_is_replaced_and_the_search_completes(tmp_path: Path, ray_session: Any) -> None:
    """A killer thread SIGKILLs the first worker it sees busy in ``evaluate`` (Ray titles a busy actor's process
    ``ray::_EvaluatorActor.evaluate``) while the search runs in this process on the shared test Ray."""
    supernet = tiny_supernet(tmp_path / "supernet.pt")
    killed: list[str] = []
    stop = threading.Event()

    def kill_one_busy_worker() -> None:
        while not stop.is_set() and not killed:
            for pid in descendants(os.getpid()):
                command = command_line(pid)
                if command.startswith("ray::_EvaluatorActor.evaluate"):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(command)
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_busy_worker, daemon=True)
    killer.start()
    config = SearchConfig(
        objectives=["accuracy", "params"],
        supernet=str(supernet),
        trials=8,
        population=4,
        evaluation=EvaluationConfig(calibration_images=32),
        execution=ExecutionConfig(workers=2, cpus_per_worker=0.5),
    )
    try:
        result = run_search(config, "actor", tmp_path, progress=False)
    finally:
        stop.set()
        killer.join(timeout=10)
    assert killed, "no worker was caught evaluating"
    trials = pd.read_csv(result.run_dir / "trials.csv")
    assert len(trials) == 8 and (trials["state"] == "complete").all()
    assert trials["evaluated"].all() and trials["accuracy"].between(0, 1).all()
    assert sorted(trials["trial"]) == list(range(8))


# ---------------------------------------------------------------------------------------------- full disk
@pytest.mark.slow
def test_full_disk_during_training_keeps_the_last_checkpoint_and_resumes_when_space_is_freed(
    tmp_path: Path,
) -> None:
    """A 64 MiB tmpfs holds the run's first checkpoint (~52 MB) but not a second one beside it."""
    config = write_yaml(
        tmp_path / "train.yaml",
        tiny_train_config(checkpoint_every=1, phases=[{"epochs": 1, "random_subnets": 1, "resolutions": [24]}]),
    )
    train = shell_nas("train", "--config", str(config), "--name", "full", "--quiet")
    resume = shell_nas("train", "--resume", "runs/full", "--quiet", "--json")
    script = f"""
    mkdir -p disk && mount -t tmpfs -o size=64m tmpfs disk && cd disk
    set +e
    {train} > ../full.out 2> ../full.err; echo $? > ../full.rc
    set -e
    cp -a runs ../after_full
    mount -o remount,size=256m tmpfs .
    {resume} > ../resume.out 2> ../resume.err; echo $? > ../resume.rc
    cp -a runs ../after_resume
    """
    done = run_in_mount_namespace(script, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    full = subprocess.CompletedProcess(
        [], int((tmp_path / "full.rc").read_text()), "", (tmp_path / "full.err").read_text()
    )
    check_cli_refusal(full, "cannot write", "last.pt", "No space left on device")
    kept = tmp_path / "after_full" / "full"
    assert load_torch_file(kept / "checkpoints" / "last.pt")["position"]["global_step"] == 1
    assert sorted(p.name for p in (kept / "checkpoints").iterdir()) == ["last.pt"]  # no temporary file left
    assert not (kept / "supernet.pt").exists()
    assert (tmp_path / "resume.rc").read_text().strip() == "0", (tmp_path / "resume.err").read_text()[-3000:]
    finished_run = tmp_path / "after_resume" / "full"
    assert nas.load_supernet(finished_run / "supernet.pt").num_classes == 10
    assert [row["epoch"] for row in metric_rows(finished_run)] == ["1"]


@pytest.mark.slow
def test_full_disk_during_a_search_stops_cleanly_and_the_search_resumes(tmp_path: Path) -> None:
    """A 256 KiB tmpfs fills after some dozens of trials of journal; after it is enlarged, --resume completes
    the search with every trial number once."""
    common = ("search", "--runs-root", "runs", "--name", "s")
    start = shell_nas(*common, "--space", "ofa_mbv3_small", "--objectives", "macs", "params", "--trials", "200",
                      "--batch", "4", "--no-ray", "--json")  # fmt: skip
    resume = shell_nas(*common, "--resume", "--json")
    script = f"""
    mkdir -p disk && mount -t tmpfs -o size=256k tmpfs disk && cd disk
    set +e
    {start} > ../full.out 2> ../full.err; echo $? > ../full.rc
    set -e
    cp -a runs ../after_full
    mount -o remount,size=16m tmpfs .
    {resume} > ../resume.out 2> ../resume.err; echo $? > ../resume.rc
    cp -a runs ../after_resume
    """
    done = run_in_mount_namespace(script, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    full = subprocess.CompletedProcess(
        [], int((tmp_path / "full.rc").read_text()), "", (tmp_path / "full.err").read_text()
    )
    check_cli_refusal(full, "cannot write the study journal", "No space left on device")
    partial = finished(study_trials(tmp_path / "after_full" / "s"))
    assert 0 < len(partial) < 200
    assert (tmp_path / "resume.rc").read_text().strip() == "0", (tmp_path / "resume.err").read_text()[-3000:]
    trials = study_trials(tmp_path / "after_resume" / "s")
    assert [trial.number for trial in trials] == list(range(200)) and len(finished(trials)) == 200
    for old in partial:
        assert trials[old.number].params == old.params and trials[old.number].values == old.values


# ---------------------------------------------------------------------------------------------- read-only runs/
def fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``runs/`` folder holding a finished training run and a finished search (made in this process)."""
    from nas.core.config import parse_config
    from nas.training.config import TrainConfig
    from nas.training.trainer import Trainer

    root = tmp_path_factory.mktemp("readonly")
    settings = tiny_train_config(
        checkpoint_every=100, data={"limit_train": 64}, phases=[{"epochs": 1, "resolutions": [24]}]
    )
    write_yaml(root / "train.yaml", settings)
    Trainer.start(parse_config(TrainConfig, settings), "done", root=root / "runs", progress=False).fit()
    config = SearchConfig(
        objectives=["macs", "params"], space="ofa_mbv3_small", trials=12, execution=ExecutionConfig(batch=4, ray=False)
    )
    run_search(config, "found", root / "runs", progress=False)
    return root


READ_ONLY_COMMANDS = [
    ("train_new", ["train", "--config", "train.yaml", "--name", "new", "--quiet"], ["cannot create run folder"]),
    ("train_resume", ["train", "--resume", "runs/done", "--quiet"], ["cannot write", "runs/done"]),
    (
        "search_resume",
        ["search", "--runs-root", "runs", "--name", "found", "--resume", "--trials", "20"],
        ["study journal"],
    ),
]


def test_read_only_runs_folder_refuses_every_command_and_changes_nothing(finished_runs: Path) -> None:
    before = fingerprint(finished_runs / "runs")
    runs = shlex_path(finished_runs / "runs")
    lines = [f"mount --bind {runs} {runs}", f"mount -o remount,bind,ro {runs}", "set +e"]
    for name, args, _ in READ_ONLY_COMMANDS:  # side by side: each only loads and fails
        lines.append(f"({shell_nas(*args)} > {name}.out 2> {name}.err; echo $? > {name}.rc) &")
    lines.append("wait")
    if mount_namespace_available():
        done = run_in_mount_namespace("\n".join(lines), finished_runs)
        assert done.returncode == 0, done.stderr[-3000:]
    elif os.geteuid() != 0:  # no namespace: file permissions make the folder read-only for this user
        for path in [finished_runs / "runs", *(finished_runs / "runs").rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        try:
            subprocess.run(["sh", "-c", "\n".join(lines[2:])], cwd=finished_runs, env=cli_env(), check=False)
        finally:
            for path in [finished_runs / "runs", *(finished_runs / "runs").rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)
    else:
        pytest.skip("running as root without mount namespaces: no way to make runs/ read-only for this process")
    for name, _, fragments in READ_ONLY_COMMANDS:
        result = subprocess.CompletedProcess(
            [], int((finished_runs / f"{name}.rc").read_text()), "", (finished_runs / f"{name}.err").read_text()
        )
        check_cli_refusal(result, *fragments)
    assert fingerprint(finished_runs / "runs") == before


def shlex_path(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


# ---------------------------------------------------------------------------------------------- interrupted writes
def _writing(pid: int, folder: Path) -> str | None:
    """The file a stopped writer holds open in ``folder`` mid-write: an atomic writer's temporary file or a
    file inside a predictor's staging folder."""
    try:
        for fd in (Path("/proc") / str(pid) / "fd").iterdir():
            target = os.readlink(fd)
            name = Path(target).name
            if target.startswith(str(folder)) and (name.endswith(".tmp") or "/.predictor." in target):
                return target
    except OSError:
        return None
    return None


def check_every_file_loads(folder: Path) -> None:
    """Each file is whole and holds one round's content."""
    weights = nas.load_supernet(folder / "supernet.pt").classifier.bias
    assert torch.all(weights == weights[0]) and weights[0] >= 1
    table = LatencyTable.load(folder / "latency.json")
    assert len(table.entries) == 500 and len({entry["median_ms"] for entry in table.entries.values()}) == 1
    for suffix in ("csv", "parquet", "jsonl"):
        frame = read_frame(folder / f"table.{suffix}")
        assert len(frame) == 5000 and frame["round"].nunique() == 1, suffix
    assert load_predictor(folder / "predictor").predict([[0.1, 0.2, 0.3]]).shape == (1,)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["round"] >= 1 and len(summary["padding"]) == 20000


@pytest.mark.slow
def test_killed_in_the_middle_of_writes_every_file_still_loads(tmp_path: Path) -> None:
    """The writer is paused at random moments until one pause finds it with a file open mid-write; it is then
    killed, every file is loaded, and a new writer starts. Four rounds."""
    rng = random.Random(0)
    folder = tmp_path / "files"
    interrupted = []
    for _ in range(4):
        writer = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.writer_process", str(folder)], cwd=tmp_path, env=cli_env()
        )
        try:
            wait_for(lambda: (folder / "ready").exists(), 120, "the first round of files", writer)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                time.sleep(rng.uniform(0.0, 0.05))
                writer.send_signal(signal.SIGSTOP)
                open_file = _writing(writer.pid, folder)
                if open_file is not None:
                    writer.send_signal(signal.SIGKILL)
                    interrupted.append(Path(open_file).name)
                    break
                writer.send_signal(signal.SIGCONT)
        finally:
            writer.kill()
            writer.wait()
        (folder / "ready").unlink(missing_ok=True)
        check_every_file_loads(folder)
    assert len(interrupted) == 4, interrupted
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    assert all(name.endswith(".tmp") or ".predictor." in name for name in leftovers), leftovers
    shutil.rmtree(folder)
