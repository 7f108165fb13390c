"""A search on a real two-node Ray cluster whose second node is SIGKILLed mid-search: the evaluation it was running
re-queues on the surviving node and the search finishes with no trial lost or duplicated."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState

import nas
from nas.search.driver import JOURNAL, STUDY_NAME
from tests.reliability.ray_nodes import ray_nodes

TRIALS = 16


def finished(journal: Path) -> list[FrozenTrial]:
    """The trials told so far (none while the driver has not created the study)."""
    if not journal.exists():
        return []
    try:
        study = optuna.load_study(study_name=STUDY_NAME, storage=JournalStorage(JournalFileBackend(str(journal))))
    except KeyError:
        return []
    return [t for t in study.trials if t.state.is_finished()]


@pytest.mark.slow
def test_a_search_survives_losing_a_ray_node_with_no_trial_lost_or_duplicated(tmp_path: Path) -> None:
    supernet = tmp_path / "supernet.pt"
    nas.save_supernet(nas.create_supernet("ofa_mbv3_small", num_classes=10), supernet)
    with ray_nodes(tmp_path) as cluster:
        cluster.add("head", num_cpus=1)
        cluster.add("second", num_cpus=1)  # one CPU each: the two evaluation workers land one per node
        search = [
            sys.executable, "-m", "nas", "search", "--runs-root", str(tmp_path), "--name", "s", "--supernet",
            str(supernet), "--objectives", "accuracy", "params", "--trials", str(TRIALS), "--population", "4",
            "--workers", "2", "--ray-address", cluster.address, "--calibration-images", "64", "--json",
        ]  # fmt: skip
        driver = subprocess.Popen(search, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cluster.env, text=True)
        journal = tmp_path / "s" / JOURNAL
        deadline = time.monotonic() + 600
        while not any(t.user_attrs.get("worker") == 1 for t in finished(journal)):
            assert driver.poll() is None, driver.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no evaluation finished on the second node"
            time.sleep(0.5)
        before = {t.number for t in finished(journal)}
        assert len(before) < TRIALS - 4, "the search finished too early for the kill to test anything"
        cluster.kill("second")
        _, err = driver.communicate(timeout=600)
    assert driver.returncode == 0, err[-3000:]
    trials = finished(journal)
    assert len(trials) == TRIALS and all(t.state == TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(TRIALS))  # none lost, none told twice
    workers = Counter(t.user_attrs["worker"] for t in trials)
    assert workers[0] and workers[1]  # evaluations ran on both nodes
    requeued = [t for t in trials if t.user_attrs.get("attempts", 1) > 1]
    assert requeued, "the second node died with no evaluation in flight: nothing was re-queued"
    assert all(t.user_attrs["worker"] == 0 and t.number not in before for t in requeued)
