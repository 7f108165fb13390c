"""The search driver: owns one Optuna study and runs batched ask-and-tell.

Per batch it asks for candidates, computes the cheap metrics and budget violations of each, scores predictor
objectives for the whole batch at once, and sends supernet evaluations to the worker pool (skipping candidates a
cheap budget already rules out: they are recorded with a sentinel accuracy and ``evaluated = False``).

The study lives in an Optuna journal file under the run folder (or any ``--storage`` URL). Resuming after the
driver was killed re-evaluates the trials it had asked but not told (same trial numbers), then continues to the
requested count: no trial is lost or duplicated.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.trial import TrialState
from tqdm import tqdm

from nas.core.config import parse_config
from nas.core.runs import create_run_dir, write_manifest
from nas.search.config import EvaluationConfig, ExecutionConfig, SearchConfig
from nas.search.journal import TrialBatchedJournal
from nas.search.objectives import constraint_values
from nas.search.results import write_results
from nas.search.samplers import create_sampler
from nas.search.setup import SearchSetup
from nas.workers.cluster import connect_ray, start_local_ray
from nas.workers.pool import EvaluationPool, EvaluatorSpec
from search_spaces import Arch, ConfigError, SearchSpace, safe_json
from search_spaces.atomic import atomic_write_json

__all__ = ["EvaluationConfig", "ExecutionConfig", "SearchConfig", "SearchResult", "run_search"]

STUDY_NAME = "search"
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


def _storage(execution: ExecutionConfig, run_dir: Path) -> Any:
    if execution.storage:
        try:
            return optuna.storages.get_storage(execution.storage)
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
        self.bar = None
        if progress:
            self.bar = tqdm(total=self.config.trials, initial=self.finished, desc="search", unit="trial")

    def run(self) -> None:
        try:
            self._dispatch(self._orphans())
            while self.finished < self.config.trials:
                room = self.config.trials - self.finished - len(self.pending)
                capacity = self.config.execution.batch if self.pool is None else self.in_flight - len(self.pending)
                if room > 0 and capacity > 0:
                    started = time.perf_counter()
                    asked = []
                    for _ in range(min(room, capacity)):
                        trial = self.study.ask()
                        self.trials[trial.number] = trial
                        asked.append((trial.number, _suggest(self.setup.space, trial)))
                    self.optimizer_seconds += time.perf_counter() - started
                    self._dispatch(asked)
                else:
                    self._collect()
        finally:
            if self.pool is not None:
                self.pool.close()
            if self.bar is not None:
                self.bar.close()

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
            self._tell(record, evaluated=True, worker=completed.worker)

    def _tell(self, record: dict[str, Any], evaluated: bool, worker: int = -1) -> None:
        started = time.perf_counter()
        values = record["values"]
        trial = self.trials.pop(record["number"])
        attrs = {"arch": record["arch"].to_dict(), "metrics": values, "evaluated": evaluated, "worker": worker}
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        for budget, violation in zip(self.setup.budgets, constraint_values(self.setup.budgets, values)):
            trial.set_constraint(budget.metric, violation)
        if "domain" in record:  # outside the predictor's training domain: infeasible, however good it looks
            trial.set_constraint(self.setup.domain_constraint, record["domain"])
        self.study.tell(trial, [values[name] for name in self.config.objectives])
        self.optimizer_seconds += time.perf_counter() - started
        self._advance()

    def _advance(self) -> None:
        self.finished += 1
        if self.bar is not None:
            self.bar.update(1)


def _read_saved_config(saved: Path) -> SearchConfig:
    """The search config a run folder was started with, parsed (never trusted as keyword arguments)."""
    try:
        data = safe_json.loads(saved.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{saved} is {exc}", field="resume", value=str(saved)) from None
    return parse_config(SearchConfig, data)


def run_search(
    config: SearchConfig,
    name: str,
    runs_root: str | Path = "runs",
    resume: bool = False,
    progress: bool = True,
) -> SearchResult:
    """Run (or resume) a search into ``runs_root/name``; everything is validated before anything is written."""
    run_dir = Path(runs_root) / name
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
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=STUDY_NAME,
            directions=setup.directions,
            sampler=sampler,
            load_if_exists=resume,
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
    summary = write_results(run_dir, study, setup.config.objectives, setup.directions, setup.reference, setup.budgets)
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
