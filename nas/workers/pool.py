"""Evaluation workers for a search driver: heavy evaluators (a supernet checkpoint, a latency rig) are built once per
worker from an importable factory and a few plain arguments, never shipped as pickled models.

The driver loop is the same for both backends::

    with EvaluationPool(EvaluatorSpec("pkg.mod:make_evaluator", {"checkpoint": path}), workers=2) as pool:
        pool.submit(0, {"arch": {...}})
        for done in pool.completed():
            ...

``backend="ray"`` runs one Ray actor per worker (Ray is imported lazily, so this module imports without it);
``backend="local"`` builds the evaluator in this process and ``completed()`` runs the next queued task.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nas.workers.cluster import BACKENDS, import_ray, start_local_ray
from search_spaces import ConfigError, NasError
from search_spaces.checks import check_count

__all__ = ["Completed", "EvaluationPool", "EvaluatorSpec"]

logger = logging.getLogger(__name__)

Evaluate = Callable[[dict[str, Any]], dict[str, Any]]


def _is_dotted_name(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


@dataclass(frozen=True)
class EvaluatorSpec:
    """How a worker builds its evaluator: ``factory`` ("package.module:function") called with ``kwargs``.

    The factory runs once per worker and returns ``evaluate(payload: dict) -> dict``; ``kwargs`` should be small
    plain values (paths, names, numbers) since they travel to every worker.
    """

    factory: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        module, sep, attr = self.factory.partition(":") if isinstance(self.factory, str) else ("", "", "")
        if not sep or not _is_dotted_name(module) or not _is_dotted_name(attr):
            raise ConfigError(
                f"evaluator factory {self.factory!r} is not of the form 'package.module:function'",
                field="factory",
                value=self.factory,
                allowed="'package.module:function'",
            )
        if not isinstance(self.kwargs, dict):
            raise ConfigError(
                f"evaluator kwargs must be a dict, not {type(self.kwargs).__name__}",
                field="kwargs",
                value=self.kwargs,
            )

    def resolve(self) -> Callable[..., Evaluate]:
        """Import the factory function without calling it (a cheap check the driver can make)."""
        module_name, _, attr = self.factory.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"evaluator factory {self.factory!r}: cannot import module {module_name!r} ({exc})",
                field="factory",
                value=self.factory,
            ) from exc
        for part in attr.split("."):
            try:
                target = getattr(target, part)
            except AttributeError:
                raise ConfigError(
                    f"evaluator factory {self.factory!r}: module {module_name!r} has no attribute {attr!r}",
                    field="factory",
                    value=self.factory,
                ) from None
        if not callable(target):
            raise ConfigError(
                f"evaluator factory {self.factory!r} is a {type(target).__name__}, not a function",
                field="factory",
                value=self.factory,
            )
        return target

    def build(self) -> Evaluate:
        """Import the factory, call it with ``kwargs`` and return the evaluate function."""
        evaluate = self.resolve()(**self.kwargs)
        if not callable(evaluate):
            raise ConfigError(
                f"evaluator factory {self.factory!r} returned a {type(evaluate).__name__}, not evaluate(payload)",
                field="factory",
                value=self.factory,
            )
        return evaluate


@dataclass
class Completed:
    """One finished task: ``result`` on success, else ``error`` ("ExceptionType: message"; ``traceback`` has the
    evaluator's traceback). ``seconds``: time inside the evaluator (for a lost worker: dispatch to detection);
    ``attempts``: 1 plus the retries after a worker died."""

    task_id: int
    payload: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    worker: int
    seconds: float
    attempts: int = 1
    traceback: str | None = None


def _exception_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _actor_error(exc: BaseException) -> str:
    """The last line of the traceback inside a Ray actor error (the exception that killed or failed the actor)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _run_one(
    evaluate: Evaluate, payload: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None, str | None, float]:
    """Evaluate one payload: (result, error line, traceback, seconds); evaluator exceptions become data."""
    started = time.perf_counter()
    try:
        result = evaluate(payload)
    except Exception as exc:
        return None, _exception_line(exc), traceback.format_exc(), time.perf_counter() - started
    seconds = time.perf_counter() - started
    if not isinstance(result, dict):
        return None, f"TypeError: evaluator returned a {type(result).__name__}, expected a dict", None, seconds
    return result, None, None, seconds


class _EvaluatorActor:
    """Body of a Ray worker actor: builds the evaluator once, then evaluates payloads one at a time."""

    def __init__(self, spec: EvaluatorSpec) -> None:
        self._evaluate = spec.build()

    def evaluate(self, payload: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None, str | None, float]:
        return _run_one(self._evaluate, payload)

    def ready(self) -> int:
        return os.getpid()


@dataclass
class _Task:
    task_id: int
    payload: dict[str, Any]
    lost: int = 0  # attempts lost to a dead worker


@dataclass
class _Running:
    task: _Task
    worker: int
    started: float


class EvaluationPool:
    """Workers that each build the evaluator once and evaluate submitted payloads.

    ``submit`` queues a task; at most ``max_in_flight`` tasks run at a time, one per idle worker (the rest wait in
    the queue, so a driver that keeps ``pending`` at ``max_in_flight`` never leaves a worker waiting for it).
    ``completed`` blocks until at least one task finishes. A worker that dies mid-task is replaced and the task
    re-queued (at most ``max_retries`` times) for the first worker free: the replacement takes tasks once it is
    ready, so a worker whose node left the cluster holds nothing up; an exception from the evaluator comes back as
    ``error``.
    ``busy_seconds[worker]`` adds up the ``seconds`` of each worker's tasks (utilisation = busy / wall time).
    The local backend has one in-process worker and runs the next queued task inside ``completed``.
    """

    def __init__(
        self,
        spec: EvaluatorSpec,
        workers: int = 1,
        backend: str = "ray",
        cpus_per_worker: float = 1.0,
        gpus_per_worker: float = 0.0,
        max_in_flight: int | None = None,
        max_retries: int = 2,
    ) -> None:
        if not isinstance(spec, EvaluatorSpec):
            raise ConfigError(f"spec must be an EvaluatorSpec, not {type(spec).__name__}", field="spec", value=spec)
        if backend not in BACKENDS:
            raise ConfigError(
                f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}",
                field="backend",
                value=backend,
                allowed=list(BACKENDS),
            )
        check_count("workers", workers, 1)
        check_count("max_retries", max_retries, 0)
        if max_in_flight is not None:
            check_count("max_in_flight", max_in_flight, 1)
        for name, value, positive in (
            ("cpus_per_worker", cpus_per_worker, True),
            ("gpus_per_worker", gpus_per_worker, False),
        ):
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not number or value < 0 or (positive and backend == "ray" and value <= 0):
                bound = "> 0" if positive else ">= 0"
                raise ConfigError(f"{name} must be a number {bound}, got {value!r}", field=name, value=value)
        spec.resolve()  # a wrong factory fails here, in the driver, not on every worker
        self.spec = spec
        self.backend = backend
        self.workers = workers if backend == "ray" else 1
        self.cpus_per_worker = float(cpus_per_worker)
        self.gpus_per_worker = float(gpus_per_worker)
        self.max_in_flight = 2 * self.workers if max_in_flight is None else max_in_flight
        self.max_retries = max_retries
        self.busy_seconds: dict[int, float] = {worker: 0.0 for worker in range(self.workers)}
        self.restarts = 0
        self._starting: dict[Any, int] = {}  # replacement workers building their evaluator, by their ready() ref
        self._queue: deque[_Task] = deque()
        self._ids: set[int] = set()
        self._running: dict[Any, _Running] = {}
        self._idle: deque[int] = deque(range(self.workers))
        self._actors: list[Any] = []
        self._closed = False
        self._ray: Any = None
        self._evaluate: Evaluate | None = None
        if backend == "local":
            self._evaluate = spec.build()
            return
        self._ray = ray = import_ray()
        if not ray.is_initialized():
            start_local_ray(max(1, math.ceil(self.workers * self.cpus_per_worker)))
        self._check_resources()
        self._actor_class = ray.remote(_EvaluatorActor)
        self._actors = [self._new_actor() for _ in range(self.workers)]

    def _check_resources(self) -> None:
        """Refuse a pool the cluster can never place (its tasks would wait forever)."""
        total = self._ray.cluster_resources()
        for resource, per_worker, name in (
            ("CPU", self.cpus_per_worker, "cpus_per_worker"),
            ("GPU", self.gpus_per_worker, "gpus_per_worker"),
        ):
            need, have = self.workers * per_worker, float(total.get(resource, 0.0))
            if need > have + 1e-9:
                raise ConfigError(
                    f"{self.workers} workers x {per_worker:g} {resource} need {need:g} {resource}s but the Ray "
                    f"cluster has {have:g}; use fewer workers or a smaller {name}",
                    field=name,
                    value=per_worker,
                )

    def _new_actor(self) -> Any:
        return self._actor_class.options(
            num_cpus=self.cpus_per_worker,
            num_gpus=self.gpus_per_worker,
            max_restarts=0,
            max_task_retries=0,
        ).remote(self.spec)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until every worker has built its evaluator (call before submitting, e.g. to time a benchmark)."""
        if self._ray is None or self._closed:
            return
        from ray.exceptions import GetTimeoutError, RayActorError

        try:
            self._ray.get([actor.ready.remote() for actor in self._actors], timeout=timeout)
        except GetTimeoutError:
            raise NasError(f"the workers did not build evaluator {self.spec.factory!r} within {timeout:g} s") from None
        except RayActorError as exc:
            raise NasError(
                f"a worker could not build the evaluator {self.spec.factory!r}: {_actor_error(exc)}"
            ) from None

    @property
    def pending(self) -> int:
        """Tasks submitted and not yet returned by ``completed`` (queued + running)."""
        return len(self._queue) + len(self._running)

    @property
    def free_slots(self) -> int:
        """How many more tasks to submit to keep ``max_in_flight`` pending."""
        return max(0, self.max_in_flight - self.pending)

    def submit(self, task_id: int, payload: dict[str, Any]) -> None:
        """Queue ``payload`` for evaluation; it starts as soon as a worker (and the in-flight limit) allows."""
        if self._closed:
            raise NasError("the evaluation pool is closed")
        if isinstance(task_id, bool) or not isinstance(task_id, int):
            raise ConfigError(f"task_id must be an int, got {task_id!r}", field="task_id", value=task_id)
        if task_id in self._ids:
            raise ConfigError(f"task {task_id} is already pending", field="task_id", value=task_id)
        if not isinstance(payload, dict):
            raise ConfigError(f"payload must be a dict, not {type(payload).__name__}", field="payload", value=payload)
        self._ids.add(task_id)
        self._queue.append(_Task(task_id, payload))
        self._dispatch()

    def _dispatch(self) -> None:
        if self._ray is None:
            return
        while self._queue and self._idle and len(self._running) < self.max_in_flight:
            worker = self._idle.popleft()
            task = self._queue.popleft()
            ref = self._actors[worker].evaluate.remote(task.payload)
            self._running[ref] = _Running(task, worker, time.perf_counter())

    def completed(self, timeout: float | None = None) -> list[Completed]:
        """Finished tasks, waiting (up to ``timeout`` seconds, None: no limit) for at least one; [] if none.

        The local backend runs the next queued task here and ignores ``timeout``.
        """
        if self._closed:
            return []
        if self._ray is None:
            return self._run_local()
        ray = self._ray
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        done: list[Completed] = []
        while not done and (self._running or (self._queue and self._starting)):
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, rest = ray.wait([*self._running, *self._starting], num_returns=1, timeout=remaining)
            if not ready:
                break
            if rest:
                ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
            for ref in ready:
                if ref in self._starting:
                    self._started(ref)
                    continue
                item = self._finish(ref)
                if item is not None:
                    done.append(item)
            self._dispatch()
        return done

    def _finish(self, ref: Any) -> Completed | None:
        """Turn a ready reference into a Completed, or re-queue its task when the worker died."""
        from ray.exceptions import (
            NodeDiedError,
            ObjectLostError,
            RayActorError,
            RayError,
            RayTaskError,
            WorkerCrashedError,
        )

        run = self._running.pop(ref)
        task, worker = run.task, run.worker
        elapsed = time.perf_counter() - run.started
        try:
            result, error, trace, seconds = self._ray.get(ref)
        except RayTaskError as exc:  # raised around the evaluator (it catches its own), e.g. an unpicklable result
            cause = getattr(exc, "cause", None)
            error = _exception_line(cause) if isinstance(cause, BaseException) else str(exc).strip().splitlines()[-1]
            self._idle.append(worker)
            return self._done(task, None, error, worker, elapsed, str(exc))
        except (RayActorError, WorkerCrashedError, NodeDiedError, ObjectLostError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if isinstance(exc, RayActorError) and exc.actor_init_failed:
                raise NasError(
                    f"worker {worker} could not build the evaluator {self.spec.factory!r}: {_actor_error(exc)}"
                ) from None
            self.busy_seconds[worker] += elapsed
            self._replace(worker)
            task.lost += 1
            if task.lost <= self.max_retries:
                logger.warning(
                    "worker %d died during task %d (%s); retrying (%d/%d)",
                    worker,
                    task.task_id,
                    reason,
                    task.lost,
                    self.max_retries,
                )
                self._queue.appendleft(task)
                return None
            self._ids.discard(task.task_id)
            return Completed(
                task.task_id,
                task.payload,
                None,
                f"WorkerDied: the worker died {task.lost} times evaluating this task; last: {reason}",
                worker,
                elapsed,
                attempts=task.lost,
            )
        except RayError as exc:
            self._idle.append(worker)
            return self._done(task, None, _exception_line(exc), worker, elapsed, None)
        self._idle.append(worker)
        return self._done(task, result, error, worker, seconds, trace)

    def _done(
        self, task: _Task, result: dict | None, error: str | None, worker: int, seconds: float, trace: str | None
    ) -> Completed:
        self.busy_seconds[worker] += seconds
        self._ids.discard(task.task_id)
        return Completed(task.task_id, task.payload, result, error, worker, seconds, task.lost + 1, trace)

    def _replace(self, worker: int) -> None:
        """Kill (if still alive) and replace the actor of ``worker``; the new one builds its evaluator afresh and
        takes tasks once it is ready, so a replacement the cluster has no room for (its node left) holds up no task:
        the others take them."""
        try:
            self._ray.kill(self._actors[worker], no_restart=True)
        except Exception:  # already gone
            pass
        self._actors[worker] = self._new_actor()
        self._starting[self._actors[worker].ready.remote()] = worker
        self.restarts += 1

    def _started(self, ref: Any) -> None:
        """A replacement worker is ready (it joins the idle ones) or died starting (it is replaced again)."""
        from ray.exceptions import RayActorError, RayError

        worker = self._starting.pop(ref)
        try:
            self._ray.get(ref)
        except RayActorError as exc:
            if exc.actor_init_failed:
                raise NasError(
                    f"worker {worker} could not build the evaluator {self.spec.factory!r}: {_actor_error(exc)}"
                ) from None
            self._replace(worker)
            return
        except RayError:
            self._replace(worker)
            return
        self._idle.append(worker)

    def _run_local(self) -> list[Completed]:
        if not self._queue:
            return []
        assert self._evaluate is not None
        task = self._queue.popleft()
        result, error, trace, seconds = _run_one(self._evaluate, task.payload)
        return [self._done(task, result, error, 0, seconds, trace)]

    def close(self) -> None:
        """Kill the workers and drop queued tasks; the pool cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        if self.pending:
            logger.debug("closing the evaluation pool with %d pending tasks", self.pending)
        for actor in self._actors:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # already gone, or Ray shut down first
                pass
        self._actors.clear()
        self._starting.clear()
        self._running.clear()
        self._queue.clear()
        self._ids.clear()
        self._evaluate = None

    def __enter__(self) -> EvaluationPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
