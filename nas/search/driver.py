"""The search driver: owns one Optuna study and runs batched ask-and-tell.

Per batch it asks for candidates, computes the cheap metrics and budget violations of each, scores predictor
objectives for the whole batch at once, and sends supernet evaluations to the worker pool (skipping candidates a
cheap budget already rules out: they are recorded with a sentinel accuracy and ``evaluated = False``).

The study lives in an Optuna journal file under the run folder (or any ``--storage`` URL). Resuming after the
driver was killed re-evaluates the trials it had asked but not told (same trial numbers), then continues to the
requested count: no trial is lost or duplicated.

A database storage may be shared by several drivers (``--join``), on one host or many. Each driver keeps a
heartbeat on the trials it has asked; a driver silent for three heartbeats is dead, its unfinished trials are
failed and re-queued with the same parameters (Optuna's heartbeat and retry callback), and whichever driver asks
next evaluates them. Every driver counts the study's trials, not its own, so together they stop at ``--trials``.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import TrialState
from tqdm import tqdm

from nas.core.config import parse_config
from nas.core.runs import create_run_dir, write_manifest
from nas.search.config import EvaluationConfig, ExecutionConfig, SearchConfig
from nas.search.journal import TrialBatchedJournal
from nas.search.results import write_results
from nas.search.samplers import create_sampler
from nas.search.setup import SearchSetup
from nas.workers.cluster import connect_ray, start_local_ray
from nas.workers.pool import EvaluationPool, EvaluatorSpec
from search_spaces import Arch, ConfigError, SearchSpace, safe_json
from search_spaces.atomic import atomic_write_json

__all__ = ["EvaluationConfig", "ExecutionConfig", "SearchConfig", "SearchResult", "run_search"]

STUDY_NAME = "search"
DRIVER_ID = f"{socket.gethostname()}:{os.getpid()}"
"""Which driver asked a trial of a shared study (its ``driver`` user attribute)."""
JOURNAL = "study.journal"


@dataclass
class SearchResult:
    """Where the search wrote its results, and its headline figures."""

    run_dir: Path
    trials: int
    feasible: int
    front_size: int
    hypervolume: float
    reference: list[float]
    wall_seconds: float
    optimizer_seconds: float
    evaluation_seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


def _suggest(space: SearchSpace, trial: optuna.Trial) -> Arch:
    """Every decision is asked (also those gated off), so genetic samplers carry whole genomes."""
    genes = {d.label: trial.suggest_categorical(d.label, list(d.choices)) for d in space.decisions()}
    return space.from_genes(genes)


def _storage(execution: ExecutionConfig, run_dir: Path) -> BaseStorage:
    """The study's storage: the run folder's journal, or the ``--storage`` database with heartbeats (drivers that
    share it re-queue the trials of one that died)."""
    if execution.storage:
        try:
            return RDBStorage(
                execution.storage,
                heartbeat_interval=max(1, round(execution.heartbeat_seconds)),
                grace_period=max(3, round(3 * execution.heartbeat_seconds)),
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
            )
        except Exception as exc:  # database drivers raise many types
            raise ConfigError(
                f"cannot reach storage {execution.storage!r}: {str(exc).splitlines()[0][:200]}",
                field="storage",
                value=execution.storage,
            ) from None
    return JournalStorage(TrialBatchedJournal(run_dir / JOURNAL))


def _pool(setup: SearchSetup) -> EvaluationPool:
    config, execution = setup.config, setup.config.execution
    checkpoint = str(Path(config.supernet).resolve())  # type: ignore[arg-type]
    spec = EvaluatorSpec(
        "nas.search.evaluators:supernet_evaluator", {"checkpoint": checkpoint, **setup.evaluator_kwargs()}
    )
    if not execution.ray:
        return EvaluationPool(spec, 1, backend="local")
    if execution.ray_address:
        connect_ray(execution.ray_address)
    else:
        start_local_ray(max(os.cpu_count() or 1, math.ceil(execution.workers * execution.cpus_per_worker)))
    return EvaluationPool(
        spec,
        execution.workers,
        backend="ray",
        cpus_per_worker=execution.cpus_per_worker,
        gpus_per_worker=execution.gpus_per_worker,
    )


class _Driver:
    """Batched ask-and-tell over one study."""

    def __init__(self, setup: SearchSetup, study: optuna.Study, progress: bool):
        self.setup, self.study, self.config = setup, study, setup.config
        self.optimizer_seconds = 0.0
        self.evaluation_seconds = 0.0
        self.pool = _pool(setup) if setup.measured else None
        self.in_flight = 2 * self.config.execution.workers
        self.finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)))
        self.pending: dict[int, dict[str, Any]] = {}
        self.trials: dict[int, optuna.Trial] = {}
        self.storage = study._storage
        self.shared = is_heartbeat_enabled(self.storage)  # a database other drivers may share
        self.heartbeat = self.config.execution.heartbeat_seconds
        self.stop_beating = threading.Event()
        self.bar = None
        if progress:
            self.bar = tqdm(total=self.config.trials, initial=self.finished, desc="search", unit="trial")

    def run(self) -> None:
        beating = None
        try:
            if self.shared:  # another driver's running trials are not orphans: stale ones re-queue by heartbeat
                beating = threading.Thread(target=self._beat, name="trial-heartbeats", daemon=True)
                beating.start()
            else:
                self._dispatch(self._orphans())
            while (room := self._room()) is not None:
                capacity = self.config.execution.batch if self.pool is None else self.in_flight - len(self.pending)
                if room > 0 and capacity > 0:
                    started = time.perf_counter()
                    asked = []
                    for _ in range(min(room, capacity)):
                        trial = self.study.ask()
                        if self.shared:
                            self.storage.record_heartbeat(trial._trial_id)
                            trial.set_user_attr("driver", DRIVER_ID)
                        self.trials[trial.number] = trial
                        asked.append((trial.number, _suggest(self.setup.space, trial)))
                    self.optimizer_seconds += time.perf_counter() - started
                    self._dispatch(asked)
                elif self.pending:
                    self._collect()
                else:  # the rest are other drivers' trials: wait for them to finish or go stale
                    time.sleep(self.heartbeat)
        finally:
            self.stop_beating.set()
            if beating is not None:
                beating.join()
            if self.pool is not None:
                self.pool.close()
            if self.bar is not None:
                self.bar.close()

    def _room(self) -> int | None:
        """How many trials may be asked now; None once the study has all its trials."""
        if not self.shared:
            done, allocated = self.finished, self.finished + len(self.pending)
        else:
            fail_stale_trials(self.study)
            _requeue_unclaimed(self.study)
            done, allocated, requeued = _shared_counts(self.study)
            if self.bar is not None:
                self.bar.update(min(done, self.config.trials) - self.bar.n)
            if done >= self.config.trials and allocated == done and not requeued:
                return None  # finished only when no driver's trial is running or waiting (a dead one's would be lost)
            return max(self.config.trials - allocated, requeued)  # racing drivers may overshoot by a trial or two
        return None if done >= self.config.trials else self.config.trials - allocated

    def _beat(self) -> None:
        """Keep this driver's asked trials alive in the shared storage."""
        while not self.stop_beating.wait(self.heartbeat / 2):
            for trial in list(self.trials.values()):
                self.storage.record_heartbeat(trial._trial_id)

    def _orphans(self) -> list[tuple[int, Arch]]:
        """Trials a killed driver had asked but not told: re-evaluated under their numbers, unless the kill came
        before all their parameters were stored (possible with a database storage), in which case they fail."""
        labels = set(self.setup.space.labels())
        candidates = []
        for frozen in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            trial = optuna.trial.Trial(self.study, frozen._trial_id)
            if labels <= set(frozen.params):
                self.trials[frozen.number] = trial
                candidates.append((frozen.number, self.setup.space.from_genes(frozen.params)))
            else:
                trial.set_user_attr("error", "interrupted before all its parameters were stored")
                self.study.tell(trial, state=TrialState.FAIL)
                self._advance()
        return candidates

    def _dispatch(self, candidates: list[tuple[int, Arch]]) -> None:
        """Cheap metrics and predictions for the batch; tell what is complete, send the rest to the pool."""
        setup = self.setup
        records = [
            {"number": number, "arch": arch, "values": setup.cheap.compute(arch, setup.cheap_names)}
            for number, arch in candidates
        ]
        if setup.predictor is not None and records:
            archs = [r["arch"] for r in records]
            predicted, spread = setup.predictor.predict(archs)
            inside, distance = setup.domain_values(archs)
            for record, value, width, known, outside in zip(records, predicted, spread, inside, distance):
                record["values"][setup.accuracy_metric] = float(value)
                record["values"][f"{setup.accuracy_metric}_spread"] = float(width)
                record["values"]["in_domain"] = bool(known)
                if setup.keeps_domain:
                    record["domain"] = float(outside)
        for record in records:
            values = record["values"]
            if self.pool is None:
                self._tell(record, evaluated=True)
            elif record.get("domain", 0.0) > 0 or any(
                b.violation(values[b.metric]) > 0 for b in setup.budgets if b.metric in values
            ):
                for name in ("accuracy", "loss", *setup.supernet_metrics):
                    values[name] = setup.sentinel(name)
                self._tell(record, evaluated=False)
            else:
                self.pending[record["number"]] = record
                self.pool.submit(record["number"], {"arch": record["arch"].to_dict()})

    def _collect(self) -> None:
        """Wait for at least one evaluation and tell what finished."""
        assert self.pool is not None
        for completed in self.pool.completed():
            record = self.pending.pop(completed.task_id)
            self.evaluation_seconds += completed.seconds
            if completed.error is not None:
                started = time.perf_counter()
                self.trials[completed.task_id].set_user_attr("error", completed.error)
                self.study.tell(self.trials.pop(completed.task_id), state=TrialState.FAIL)
                self.optimizer_seconds += time.perf_counter() - started
                self._advance()
                continue
            measured = {k: v for k, v in completed.result.items() if k != "seconds" and isinstance(v, (int, float))}
            record["values"].update(measured)
            record["values"]["eval_seconds"] = completed.result.get("seconds", completed.seconds)
            self._tell(record, evaluated=True, worker=completed.worker, attempts=completed.attempts)

    def _tell(self, record: dict[str, Any], evaluated: bool, worker: int = -1, attempts: int = 1) -> None:
        started = time.perf_counter()
        values = record["values"]
        trial = self.trials.pop(record["number"])
        attrs = {"arch": record["arch"].to_dict(), "metrics": values, "evaluated": evaluated, "worker": worker}
        if attempts > 1:  # its first worker died (or its node left) mid-evaluation
            attrs["attempts"] = attempts
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        for name, violation in self.setup.constraints(values).items():
            trial.set_constraint(name, violation)
        if self.config.per_device:  # each device budget's own violation, for the per-device fronts
            trial.set_user_attr("violations", self.setup.constraints(values, per_device=False))
        if "domain" in record:  # outside the predictor's training domain: infeasible, however good it looks
            trial.set_constraint(self.setup.domain_constraint, record["domain"])
        self.study.tell(trial, [values[name] for name in self.config.objectives])
        self.optimizer_seconds += time.perf_counter() - started
        self._advance()

    def _advance(self) -> None:
        self.finished += 1
        if self.bar is not None and not self.shared:
            self.bar.update(1)


UNCLAIMED_SECONDS = 120.0
"""A shared study's running trial with no ``driver`` after this long was asked by a driver killed before it could
start the trial's heartbeat (heartbeats alone never fail it): it is failed and re-queued like a stale one."""


def _requeue_unclaimed(study: optuna.Study) -> None:
    """Fail and re-queue the running trials no driver ever claimed (see :data:`UNCLAIMED_SECONDS`)."""
    storage = study._storage
    oldest = datetime.now() - timedelta(seconds=UNCLAIMED_SECONDS)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if "driver" in trial.user_attrs or trial.datetime_start is None or trial.datetime_start > oldest:
            continue
        try:
            if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:  # another driver got there first
            continue
        callback = storage.get_heartbeat_stale_trial_callback()
        if callback is not None:
            callback(study, storage.get_trial(trial._trial_id))


def _shared_counts(study: optuna.Study) -> tuple[int, int, int]:
    """Of a shared study's trials: how many are done (complete, or failed and not re-queued), how many are done or
    running, and how many re-queued ones wait to be asked (the next ``ask`` takes them first)."""
    trials = study.get_trials(deepcopy=False)
    requeued = {number for trial in trials for number in trial.system_attrs.get("retry_history", ())}
    done = sum(
        trial.state == TrialState.COMPLETE or (trial.state == TrialState.FAIL and trial.number not in requeued)
        for trial in trials
    )
    running = sum(trial.state == TrialState.RUNNING for trial in trials)
    waiting = sum(trial.state == TrialState.WAITING for trial in trials)
    return done, done + running, waiting


def _read_saved_config(saved: Path) -> SearchConfig:
    """The search config a run folder was started with, parsed (never trusted as keyword arguments)."""
    try:
        data = safe_json.loads(saved.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{saved} is {exc}", field="resume", value=str(saved)) from None
    return parse_config(SearchConfig, data)


def _check_joinable(storage: BaseStorage, directions: list[str], url: str | None) -> None:
    """The storage must hold a study to join, optimizing in the same directions."""
    existing = {summary.study_name: summary for summary in optuna.get_all_study_summaries(storage)}
    if STUDY_NAME not in existing:
        raise ConfigError(
            f"storage {url!r} holds no study {STUDY_NAME!r} to join; start the first driver without --join",
            field="join",
            value=url,
        )
    held = [direction.name.lower() for direction in existing[STUDY_NAME].directions]
    if held != [str(direction).lower() for direction in directions]:
        raise ConfigError(
            f"the study in {url!r} optimizes {held}, this search {list(directions)}: join with the same objectives",
            field="objectives",
            value=list(directions),
            allowed=[held],
        )


def run_search(
    config: SearchConfig,
    name: str,
    runs_root: str | Path = "runs",
    resume: bool = False,
    progress: bool = True,
    join: bool = False,
) -> SearchResult:
    """Run (or resume) a search into ``runs_root/name``; everything is validated before anything is written.

    ``join``: the ``--storage`` database already holds the study (another driver's, maybe still running); this
    driver adds its evaluations to it until the study has ``config.trials`` trials.
    """
    run_dir = Path(runs_root) / name
    if join and not config.execution.storage:
        raise ConfigError("joining a study needs the --storage database that holds it", field="join", value=True)
    if resume:
        saved = run_dir / "search_config.json"
        if not saved.is_file():
            raise ConfigError(f"{run_dir} has no search_config.json to resume", field="resume", value=str(run_dir))
        stored = _read_saved_config(saved)
        if config.trials != SearchConfig.trials:  # --trials given with --resume extends (or ends) the search
            stored = stored.replace(trials=config.trials)
        config = stored
    setup = SearchSetup(config)
    config = config.replace(space=setup.space.name)  # saved resolved: resume and export know it without the files
    sampler = create_sampler(config.sampler, setup.sampler_context())
    create_run_dir(name, runs_root, exist_ok=resume, create=False)
    storage = _storage(config.execution, run_dir) if config.execution.storage else None
    run_dir = create_run_dir(name, runs_root, exist_ok=resume)
    if not resume:
        atomic_write_json(run_dir / "search_config.json", asdict(config))
        write_manifest(run_dir, asdict(config), kind="search")
    storage = storage or _storage(config.execution, run_dir)
    if join:
        _check_joinable(storage, setup.directions, config.execution.storage)
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=STUDY_NAME,
            directions=setup.directions,
            sampler=sampler,
            load_if_exists=resume or join,
        )
    except optuna.exceptions.DuplicatedStudyError:
        raise ConfigError(
            f"storage already holds a study {STUDY_NAME!r}; pass --resume or use another storage", field="storage"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    driver = _Driver(setup, study, progress)
    driver.run()
    wall = time.perf_counter() - started
    summary = write_results(
        run_dir,
        study,
        setup.config.objectives,
        setup.directions,
        setup.reference,
        setup.budgets,
        per_device=setup.config.per_device,
    )
    return SearchResult(
        run_dir=run_dir,
        trials=summary["trials"],
        feasible=summary["feasible"],
        front_size=summary["front_size"],
        hypervolume=summary["hypervolume"],
        reference=setup.reference,
        wall_seconds=wall,
        optimizer_seconds=driver.optimizer_seconds,
        evaluation_seconds=driver.evaluation_seconds,
        summary=summary,
    )
