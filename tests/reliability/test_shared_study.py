"""Two search drivers sharing one study on a real PostgreSQL server: one is SIGKILLed mid-search, the other finishes
the study with no trial lost or duplicated, and ``--resume`` of the killed one continues the same study.

The server is the ``pgserver`` wheel's PostgreSQL, listening only on a Unix socket in the test's folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import nas
from nas.search.driver import STUDY_NAME
from tests.conftest import REPO_ROOT

TRIALS = 40  # enough that driver a cannot finish the study before driver b has started and joined


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh PostgreSQL server's database (stopped and deleted afterwards)."""
    import pgserver

    folder = tmp_path / "pg"
    folder.mkdir()
    server = pgserver.get_server(folder, cleanup_mode="delete")
    try:
        yield f"postgresql+psycopg2://postgres:@/postgres?host={folder}"
    finally:
        server.cleanup()


def shared_study(url: str) -> optuna.Study:
    return optuna.load_study(study_name=STUDY_NAME, storage=optuna.storages.RDBStorage(url))


def wait_for(condition, what: str, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except KeyError:  # the study does not exist yet
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_two_drivers_share_a_postgres_study_and_survive_a_kill(tmp_path: Path, postgres: str) -> None:
    supernet = tmp_path / "supernet.pt"
    nas.save_supernet(nas.create_supernet("ofa_mbv3_small", num_classes=10), supernet)
    search = [
        sys.executable, "-m", "nas", "search", "--runs-root", str(tmp_path), "--supernet", str(supernet),
        "--objectives", "accuracy", "params", "--trials", str(TRIALS), "--population", "4", "--no-ray",
        "--calibration-images", "64", "--storage", postgres, "--heartbeat", "1", "--json",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    first = subprocess.Popen([*search, "--name", "a"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    wait_for(lambda: len(shared_study(postgres).get_trials(states=(TrialState.COMPLETE,))) >= 2, "driver a")
    second = subprocess.Popen(
        [*search, "--name", "b", "--join"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    drivers = lambda: {t.user_attrs.get("driver") for t in shared_study(postgres).trials}  # noqa: E731
    wait_for(lambda: len(drivers() - {None}) == 2, "both drivers to ask trials")
    first_id = next(t.user_attrs["driver"] for t in shared_study(postgres).trials)

    def first_has_running_trials() -> bool:
        study = shared_study(postgres)
        return any(t.state == TrialState.RUNNING and t.user_attrs.get("driver") == first_id for t in study.trials)

    wait_for(first_has_running_trials, "driver a to have trials in flight")
    first.send_signal(signal.SIGKILL)
    first.wait()
    told_before = {t.number: t for t in shared_study(postgres).trials if t.state == TrialState.COMPLETE}
    orphans = {
        t.number
        for t in shared_study(postgres).trials
        if t.state == TrialState.RUNNING and t.user_attrs.get("driver") == first_id
    }
    assert orphans, "the kill left no trial in flight: nothing was tested"

    _, err = second.communicate(timeout=600)
    assert second.returncode == 0, err[-3000:]
    trials = shared_study(postgres).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    # the drivers stop at TRIALS; racing for the last ones, each may ask one more (none is evaluated twice)
    assert TRIALS <= len(complete) <= TRIALS + 1 and len(complete) + len(failed) == len(trials)
    retried = Counter(number for t in complete for number in t.system_attrs.get("retry_history", ()))
    assert {t.number for t in failed} == set(retried)  # every killed trial was re-queued and finished...
    assert all(count == 1 for count in retried.values())  # ...exactly once
    assert {t.number for t in failed} == orphans  # the killed driver's trials in flight, and only those
    for t in complete:  # a retry evaluates the architecture of the trial it replaces (completed where the kill
        if "failed_trial" in t.system_attrs:  # came before all its decisions were stored)
            original = trials[t.system_attrs["failed_trial"]].params
            assert original and t.params.items() >= original.items()
    for number, before in told_before.items():  # what was told before the kill is unchanged
        assert trials[number].values == before.values and trials[number].params == before.params

    resumed = subprocess.run(
        [*search[:6], "--name", "a", "--resume", "--trials", str(TRIALS + 3), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = shared_study(postgres).trials
    assert len([t for t in after if t.state == TrialState.COMPLETE]) == max(TRIALS + 3, len(complete))
    assert {t.number: t.values for t in after[: len(trials)] if t.state == TrialState.COMPLETE} == {
        t.number: t.values for t in complete
    }
