"""Predictor-guided search, the iterative tactic of LINAS (Cummings et al., 2022) as an Optuna sampler.

Evaluate a random start; then, repeatedly: fit a predictor of each expensive objective (by default ``ridge_gbm``: a
ridge regression on count-like features with LightGBM on its residual, fitted to ranks) on every trial evaluated so
far, score many unseen candidates with it (random archs plus mutations of the best ones found, from the table when the
space is one), and propose the next ``refit_every`` candidates in NSGA-II order (non-dominated front,
then crowding), a fifth of them drawn at random among the candidates to keep exploring. Objectives that are cheap
and exact (table latency, MACs, memory) are computed, not predicted, and candidates that break a cheap budget are
proposed only when no feasible one is left.

Because it is a sampler, the driver's journal, resume and Ray workers work unchanged, and a proposal that was asked
but not told yet is never proposed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState
from scipy.stats import rankdata

from nas.search.pareto import selection_order
from nas.search.samplers.child import ChildSampler
from nas.search.samplers.context import ArchMatrix
from predictors.base import create_predictor, predictor_kinds
from search_spaces import Arch, ConfigError, SearchSpace
from search_spaces.checks import check_at_least, require

__all__ = ["PredictorGuidedSampler"]


class PredictorGuidedSampler(ChildSampler):
    """Propose the archs a freshly fitted predictor ranks best among unseen candidates.

    Args:
        space: the search space (candidates, mutations and features come from it).
        directions: ``"minimize"``/``"maximize"`` per objective, in the study's order.
        known: exact values of the cheap objectives per arch (NaN columns are learned); ``None``: learn all.
        violations: relative violations of the cheap budgets per arch; ``None``: no cheap budgets.
        pool: every arch of an enumerable space (a table); candidates are then drawn from it.
        initial: random trials before the first fit.
        refit_every: proposals made per fit.
        candidates: candidates scored per fit (a pool with fewer unseen archs is scored whole).
        predictor: predictor kind (``predictors.predictor_kinds()``).
        explore: share of each batch of proposals drawn at random from the candidates (a tree model cannot
            rank what lies beyond the trials it was fitted on).
    """

    def __init__(
        self,
        space: SearchSpace,
        directions: Sequence[str],
        *,
        known: ArchMatrix | None = None,
        violations: ArchMatrix | None = None,
        pool: Sequence[Arch] | None = None,
        initial: int = 20,
        refit_every: int = 5,
        candidates: int = 2000,
        predictor: str = "ridge_gbm",
        explore: float = 0.2,
        seed: int = 0,
    ):
        check_at_least(initial=(initial, 1), refit_every=(refit_every, 1), candidates=(candidates, 1))
        if predictor not in predictor_kinds():
            raise ConfigError(
                f"unknown predictor kind {predictor!r}", field="predictor", value=predictor,
                allowed=predictor_kinds(),
            )  # fmt: skip
        self.space, self.directions = space, list(directions)
        self.known, self.violations, self.pool = known, violations, list(pool) if pool is not None else None
        self._pool_set = set(self.pool) if self.pool is not None else None
        self.initial, self.refit_every, self.candidates = max(2, initial), refit_every, candidates
        require(0 <= explore < 1, "explore", explore, "in [0, 1)")
        super().__init__(seed)
        self.predictor_kind, self.explore, self.seed = predictor, explore, seed
        self._queue: list[Arch] = []
        self._fitted_on = -1
        self._features: dict[Arch, list[float]] = {}
        self._trial_archs: dict[int, Arch] = {}

    def _make_child(self, study: Study) -> dict[str, Any]:
        return self.space.genes(self._propose(study), self._rng)

    # ------------------------------------------------------------------ proposals
    def _propose(self, study: Study) -> Arch:
        trials = study.get_trials(deepcopy=False)
        seen = {arch for arch in (self._arch(t) for t in trials) if arch is not None}
        seen.update(self.space.from_genes(child) for child in self._children.values())
        complete = [t for t in trials if t.state == TrialState.COMPLETE and self._arch(t) is not None]
        if len(complete) < self.initial:
            return self._unseen_random(seen)
        if not self._queue or len(complete) >= self._fitted_on + self.refit_every:
            self._queue = self._rank(complete, seen)
            self._fitted_on = len(complete)
        while self._queue:
            arch = self._queue.pop(0)
            if arch not in seen:
                return arch
        return self._unseen_random(seen)

    def _arch(self, trial: FrozenTrial) -> Arch | None:
        """The trial's arch (None while its parameters are incomplete); memoized once the trial is finished."""
        if trial.number in self._trial_archs:
            return self._trial_archs[trial.number]
        if any(d.label not in trial.params for d in self.space.decisions() if d.gate is None):
            return None
        arch = self.space.from_genes(trial.params)
        if trial.state.is_finished():
            self._trial_archs[trial.number] = arch
        return arch

    def _unseen_random(self, seen: set[Arch]) -> Arch:
        """A random unseen arch, one that meets the cheap budgets if one turns up within 100 draws."""
        fallback = None
        for _ in range(100):
            arch = self._rng.choice(self.pool) if self.pool else self.space.sample(self._rng)
            if arch in seen:
                continue
            if self.violations is None or np.all(np.asarray(self.violations([arch])) <= 0):
                return arch
            fallback = fallback or arch
        return fallback or arch

    def _rank(self, complete: list[FrozenTrial], seen: set[Arch]) -> list[Arch]:
        """Fit the predictors on the evaluated trials; the best ``refit_every`` unseen candidates, best first."""
        trained = [t for t in complete if t.user_attrs.get("evaluated", True)]
        archs = [self._arch(t) for t in trained]
        observed = np.array([t.values for t in trained], dtype=np.float64)
        candidates = self._candidates(complete, seen)
        if not candidates or len(trained) < 2:
            return []
        self._rng.shuffle(candidates)  # ties in the prediction (a model fitted on few trials) break at random
        if self.violations is not None:
            excess = np.clip(np.asarray(self.violations(candidates), dtype=np.float64), 0, None).sum(axis=1)
            feasible = np.flatnonzero(excess <= 0)
            if not feasible.size:  # nothing meets the cheap budgets: the least violating first
                return [candidates[i] for i in np.argsort(excess, kind="stable")[: self.refit_every]]
            candidates = [candidates[i] for i in feasible]
        scores = self._known(candidates)
        learned = np.flatnonzero(np.isnan(scores).any(axis=0))
        if learned.size:
            features, candidate_features = self._encode(archs), self._encode(candidates)
            for column in learned:  # ranks, not raw values: a far tail would dominate a fit on a few points
                target = rankdata(observed[:, column]) / len(observed)
                options = {"rounds": 100} if self.predictor_kind in ("gbm", "ridge_gbm") else {}
                model = create_predictor(self.predictor_kind, seed=self.seed, **options)
                scores[:, column] = model.fit(features, target).predict(candidate_features)
        explore = round(self.explore * self.refit_every)
        order = selection_order(scores, self.directions, limit=self.refit_every)[: self.refit_every - explore]
        chosen = {int(i) for i in order}
        unexplored = [i for i in range(len(candidates)) if i not in chosen]
        picks = [int(i) for i in order] + self._rng.sample(unexplored, min(explore, len(unexplored)))
        return [candidates[i] for i in picks]

    def _encode(self, archs: Sequence[Arch]) -> np.ndarray:
        """Feature rows, each arch encoded once per search."""
        for arch in archs:
            if arch not in self._features:
                self._features[arch] = self.space.encode(arch)
        return np.array([self._features[arch] for arch in archs], dtype=np.float64)

    def _known(self, archs: list[Arch]) -> np.ndarray:
        if self.known is None:
            return np.full((len(archs), len(self.directions)), np.nan)
        return np.array(self.known(archs), dtype=np.float64).reshape(len(archs), len(self.directions))

    def _candidates(self, complete: list[FrozenTrial], seen: set[Arch]) -> list[Arch]:
        """Random archs plus mutations of the best evaluated ones, ``candidates`` in all; from a pool, only its
        archs (all of its unseen ones when they are fewer)."""
        if self.pool is not None and len(self.pool) - len(seen) <= self.candidates:
            return [arch for arch in self.pool if arch not in seen]
        archs = [self._arch(t) for t in complete]
        values = np.array([t.values for t in complete], dtype=np.float64)
        parents = [archs[i] for i in selection_order(values, self.directions, limit=10)[:10]]
        rate = 1.0 / max(1, len(self.space.decisions()))
        found: dict[Arch, None] = {}
        for index in range(self.candidates):
            if index % 2:
                arch = self.space.mutate(parents[index % len(parents)], self._rng, rate)
            else:
                arch = self._rng.choice(self.pool) if self.pool is not None else self.space.sample(self._rng)
            if arch not in seen and (self._pool_set is None or arch in self._pool_set):
                found[arch] = None
        return list(found)
