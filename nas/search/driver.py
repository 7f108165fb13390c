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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from nas.core.runs import create_run_dir, write_manifest
from nas.search.objectives import (
    METRICS,
    Budget,
    CheapMetrics,
    check_budgets_reachable,
    constraint_values,
    parse_budget,
)
from nas.search.samplers import SAMPLERS, create_sampler
from search_spaces import Arch, ConfigError, SearchSpace, UnknownNameError

__all__ = ["SearchConfig", "SearchResult", "run_search"]

STUDY_NAME = "search"
JOURNAL = "study.journal"


@dataclass
class SearchConfig:
    """Everything a search needs; saved in the run folder so ``--resume`` continues the same search."""

    objectives: list[str] = field(default_factory=lambda: ["accuracy", "latency"])
    budgets: list[str] = field(default_factory=list)
    sampler: str = "nsga2"
    trials: int = 300
    batch: int = 16
    population: int = 50
    seed: int = 0
    space: str | None = None
    supernet: str | None = None
    predictor: str | None = None
    latency_table: str | None = None
    num_classes: int = 10
    train_batch: int = 32
    data: str = "digits"
    data_root: str | None = None
    data_seed: int = 0
    resolution: int = 32
    calibration_images: int = 512
    split: str = "val"
    workers: int = 2
    ray: bool = True
    ray_address: str | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    storage: str | None = None
    reference: list[float] | None = None
    convert_timesteps: int = 8
    spiking_friendly: bool = False


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


class _Setup:
    """The validated pieces of a search: space, metrics, budgets, accuracy source, reference point."""

    def __init__(self, config: SearchConfig):
        import nas

        self.config = config
        if not config.objectives:
            raise ConfigError("at least one objective is needed", field="objectives", value=config.objectives)
        for name in config.objectives:
            if name not in METRICS:
                raise UnknownNameError("objective", name, METRICS)
        if len(set(config.objectives)) != len(config.objectives):
            raise ConfigError(f"objectives repeat: {config.objectives}", field="objectives", value=config.objectives)
        if config.sampler not in SAMPLERS:
            raise UnknownNameError("sampler", config.sampler, SAMPLERS)
        for name, value, low in (
            ("trials", config.trials, 1),
            ("batch", config.batch, 1),
            ("workers", config.workers, 1),
        ):
            if value < low:
                raise ConfigError(f"{name}={value} must be >= {low}", field=name, value=value)
        self.budgets: list[Budget] = [parse_budget(text) for text in config.budgets]
        needs_accuracy = any(METRICS[n].source == "accuracy" for n in [*config.objectives, *self.budget_metrics])
        self.supernet_metrics = [
            n for n in [*config.objectives, *self.budget_metrics] if METRICS[n].source in ("spiking", "conversion")
        ]
        self.supernet_meta = self._supernet_meta() if config.supernet else None
        space_name = config.space or (self.supernet_meta or {}).get("space")
        latency_table = None
        if config.latency_table:
            from predictors.latency import LatencyTable

            latency_table = LatencyTable.load(config.latency_table)
            space_name = space_name or latency_table.space
        if space_name is None:
            raise ConfigError("--space is needed (or a --supernet or --latency-table that names it)", field="space")
        self.space: SearchSpace = nas.get_space(space_name)
        self.num_classes = (self.supernet_meta or {}).get("num_classes", config.num_classes)
        latency = None
        if latency_table is not None:
            from nas.profile.tables import LatencyModel

            latency = LatencyModel(latency_table, self.space)
        self.cheap = CheapMetrics(self.space, self.num_classes, latency, config.train_batch)
        self.cheap_names = [
            n for n in dict.fromkeys([*config.objectives, *self.budget_metrics]) if METRICS[n].source == "cheap"
        ]
        self.cheap.require(self.cheap_names)
        check_budgets_reachable(self.budgets, self.cheap)
        self._check_supernet_metrics()
        if config.spiking_friendly:
            self._check_conversion_friendly()
        self.predictor = None
        self.accuracy_metric: str | None = None
        if needs_accuracy:
            if config.predictor:
                from nas.search.evaluators import PredictedAccuracy

                self.predictor = PredictedAccuracy(config.predictor, self.space, self.num_classes)
                self.accuracy_metric = self.predictor.metric
            elif not config.supernet:
                raise ConfigError(
                    "accuracy and loss need --predictor DIR (predicted) or --supernet CKPT (measured)",
                    field="objectives",
                )
            for name in [*config.objectives, *self.budget_metrics]:
                if self.predictor and METRICS[name].source == "accuracy" and name != self.predictor.metric:
                    raise ConfigError(
                        f"the predictor predicts {self.predictor.metric!r}; objective {name!r} needs --supernet",
                        field="objectives",
                        value=name,
                    )
        self.directions = [METRICS[name].direction for name in config.objectives]
        self.reference = list(config.reference) if config.reference else self._default_reference()
        if len(self.reference) != len(config.objectives):
            raise ConfigError(
                f"reference has {len(self.reference)} values for {len(config.objectives)} objectives",
                field="reference",
                value=self.reference,
            )

    def _check_conversion_friendly(self) -> None:
        """Keep the search to conversion-friendly subnets: every subnet of a space has the same layer types,
        so the space's largest subnet decides (built on the meta device, without weights)."""
        import torch

        from nas.spiking.conversion import check_conversion_friendly
        from nas.supernet import create_supernet

        if getattr(self.space, "spiking", False):
            return  # already spiking: nothing to convert
        with torch.device("meta"):
            supernet = create_supernet(self.space.name, num_classes=self.num_classes)
        check_conversion_friendly(supernet.extract(self.space.largest()))

    def _check_supernet_metrics(self) -> None:
        """Spiking metrics need a spiking supernet; converted accuracy needs a QCFS (conversion-friendly) one."""
        if not self.supernet_metrics:
            return
        spiking = bool(getattr(self.space, "spiking", False))
        for name in self.supernet_metrics:
            wanted = METRICS[name].source
            if (wanted == "spiking") != spiking or (wanted == "conversion" and self.space.name != "qcfs_resnet"):
                need = "a spiking supernet (spiking_resnet)" if wanted == "spiking" else "a qcfs_resnet supernet"
                raise ConfigError(
                    f"metric {name!r} needs {need}; this search's space is {self.space.name!r}",
                    field="objectives",
                    value=name,
                )
        if not self.config.supernet:
            raise ConfigError(
                f"{self.supernet_metrics[0]!r} is measured on the supernet: pass --supernet CKPT",
                field="objectives",
                value=self.supernet_metrics[0],
            )

    @property
    def budget_metrics(self) -> list[str]:
        return [budget.metric for budget in self.budgets]

    @property
    def measured(self) -> bool:
        """Whether accuracy comes from supernet evaluations on workers."""
        needed = [METRICS[n].source for n in [*self.config.objectives, *self.budget_metrics]]
        return bool(self.supernet_metrics) or (self.predictor is None and "accuracy" in needed)

    def _supernet_meta(self) -> dict[str, Any]:
        from nas.supernet import load_supernet

        supernet = load_supernet(self.config.supernet)  # type: ignore[arg-type]
        return {"space": supernet.space.name, "num_classes": supernet.num_classes}

    def _default_reference(self) -> list[float]:
        """Fixed before the search: chance-level accuracy/loss, 1.1x the largest arch's cheap metrics."""
        largest = self.cheap.compute(self.space.largest(), self.cheap_names)
        return [1.1 * largest[name] if name in largest else self.cheap.worst(name) for name in self.config.objectives]

    def guide(self) -> dict[str, Any]:
        """What the predictor-guided sampler needs: exact cheap objectives and cheap-budget violations per arch."""
        cheap_budgets = [b for b in self.budgets if METRICS[b.metric].source == "cheap"]

        def known(archs: Sequence[Arch]) -> np.ndarray:
            rows = [self.cheap.compute(arch, self.cheap_names) for arch in archs]
            return np.array([[row.get(name, np.nan) for name in self.config.objectives] for row in rows])

        def violations(archs: Sequence[Arch]) -> np.ndarray:
            rows = [self.cheap.compute(arch, self.cheap_names) for arch in archs]
            return np.array([constraint_values(cheap_budgets, row) for row in rows]).reshape(len(archs), -1)

        return {"space": self.space, "directions": self.directions, "known": known, "violations": violations}

    def sentinel(self, name: str) -> float:
        """The value told for a measured metric of a candidate a cheap budget ruled out."""
        return 2 * math.log(self.num_classes) if name == "loss" else self.cheap.worst(name)


def _suggest(space: SearchSpace, trial: optuna.Trial) -> Arch:
    """Every decision is asked (also those gated off), so genetic samplers carry whole genomes."""
    genes = {d.label: trial.suggest_categorical(d.label, list(d.choices)) for d in space.decisions()}
    return space.from_genes(genes)


def _storage(config: SearchConfig, run_dir: Path) -> Any:
    if config.storage:
        try:
            return optuna.storages.get_storage(config.storage)
        except Exception as exc:  # database drivers raise many types
            raise ConfigError(
                f"cannot reach storage {config.storage!r}: {str(exc).splitlines()[0][:200]}",
                field="storage",
                value=config.storage,
            ) from None
    from optuna.storages import JournalStorage

    from nas.search.journal import TrialBatchedJournal

    return JournalStorage(TrialBatchedJournal(run_dir / JOURNAL))


def _pool(setup: _Setup) -> Any:
    from nas.workers.pool import EvaluationPool, EvaluatorSpec, connect_ray, start_local_ray

    config = setup.config
    spec = EvaluatorSpec(
        "nas.search.evaluators:supernet_evaluator",
        {
            "checkpoint": str(Path(config.supernet).resolve()),  # type: ignore[arg-type]
            "data": config.data,
            "data_root": config.data_root,
            "data_seed": config.data_seed,
            "resolution": config.resolution,
            "calibration_images": config.calibration_images,
            "split": config.split,
            "threads": max(1, int(config.cpus_per_worker)),
            "conversion_timesteps": (
                config.convert_timesteps if "converted_accuracy" in setup.supernet_metrics else None
            ),
        },
    )
    if not config.ray:
        return EvaluationPool(spec, 1, backend="local")
    if config.ray_address:
        connect_ray(config.ray_address)
    else:
        start_local_ray(max(os.cpu_count() or 1, math.ceil(config.workers * config.cpus_per_worker)))
    return EvaluationPool(
        spec,
        config.workers,
        backend="ray",
        cpus_per_worker=config.cpus_per_worker,
        gpus_per_worker=config.gpus_per_worker,
    )


class _Driver:
    """Batched ask-and-tell over one study."""

    def __init__(self, setup: _Setup, study: optuna.Study, progress: bool):
        self.setup, self.study, self.config = setup, study, setup.config
        self.optimizer_seconds = 0.0
        self.evaluation_seconds = 0.0
        self.pool = _pool(setup) if setup.measured else None
        self.in_flight = 2 * self.config.workers
        self.finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)))
        self.pending: dict[int, dict[str, Any]] = {}
        self.trials: dict[int, optuna.Trial] = {}
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=self.config.trials, initial=self.finished, desc="search", unit="trial")

    def run(self) -> None:
        try:
            self._dispatch(self._orphans())
            while self.finished < self.config.trials:
                room = self.config.trials - self.finished - len(self.pending)
                capacity = self.config.batch if self.pool is None else self.in_flight - len(self.pending)
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
            predicted, spread = setup.predictor.predict([r["arch"] for r in records])
            for record, value, width in zip(records, predicted, spread):
                record["values"][setup.accuracy_metric] = float(value)
                record["values"][f"{setup.accuracy_metric}_spread"] = float(width)
        for record in records:
            values = record["values"]
            if self.pool is None:
                self._tell(record, evaluated=True)
            elif any(b.violation(values[b.metric]) > 0 for b in setup.budgets if b.metric in values):
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
        self.study.tell(trial, [values[name] for name in self.config.objectives])
        self.optimizer_seconds += time.perf_counter() - started
        self._advance()

    def _advance(self) -> None:
        self.finished += 1
        if self.bar is not None:
            self.bar.update(1)


def _read_saved_config(saved: Path) -> SearchConfig:
    """The search config a run folder was started with, parsed (never trusted as keyword arguments)."""
    from nas.core.config import parse_config
    from search_spaces import safe_json

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
    from nas.search.results import write_results

    run_dir = Path(runs_root) / name
    if resume:
        saved = run_dir / "search_config.json"
        if not saved.is_file():
            raise ConfigError(f"{run_dir} has no search_config.json to resume", field="resume", value=str(run_dir))
        stored = _read_saved_config(saved)
        if config.trials != SearchConfig.trials:  # --trials given with --resume extends (or ends) the search
            stored.trials = config.trials
        config = stored
    setup = _Setup(config)
    sampler = create_sampler(config.sampler, config.seed, len(config.objectives), config.population, setup.guide())
    create_run_dir(name, runs_root, exist_ok=resume, create=False)
    storage = _storage(config, run_dir) if config.storage else None
    run_dir = create_run_dir(name, runs_root, exist_ok=resume)
    if not resume:
        from search_spaces.atomic import atomic_write_json

        atomic_write_json(run_dir / "search_config.json", asdict(config))
        write_manifest(run_dir, asdict(config), kind="search")
    storage = storage or _storage(config, run_dir)
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
