"""Three small-table models averaged (kind ``blend``): ridge regression, an MLP ensemble and a Gaussian process,
each on the encoding widened by terms a linear model cannot form itself.

Accuracy saturates with compute, so each count-like column (MACs, parameters, total depth: any column holding more
than 0 and 1) also enters as a cubic in its standardised logarithm. Where the feature names follow the project's
label vocabulary (``s2_b1_kernel=3``), the one-hot columns are decoded back into numbers and summed per stage
(``s2`` kernel sum, expand sum, and the sum over blocks of kernel x expand), which ranks stages by their capacity.
Ridge reads everything (its strength chosen by exact leave-one-out error), the MLP ensemble the same columns, the
Gaussian process (linear plus RBF kernel, hyperparameters by marginal likelihood) the stage sums and the count
columns only. The three disagree in different places, so their mean ranks better than any one: on real ImageNet
accuracies of once-for-all subnets with 100 training rows, Kendall tau 0.930 where the MLP ensemble alone reaches
0.91, LightGBM 0.90 and ridge on the one-hot encoding 0.87 (benchmarks/ofa_imagenet_predictor.py, 5 splits; on 10
fresh splits 0.927: the settings here were chosen on that table).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from predictors.base import Predictor, register_predictor
from predictors.mlp import MLPEnsemble, _finite_array
from predictors.ridge_gbm import _ridge_loo, count_columns
from search_spaces.errors import ConfigError

__all__ = ["COST_WEIGHT", "Blend", "widen"]

COST_WEIGHT = 2.5
"""How much more the Gaussian process's single RBF length scale weighs a count column (MACs, parameters, depth)
than a stage sum: cost decides accuracy most, and one shared length scale is steadier on 100 rows than one per
column (which does worse on the once-for-all ImageNet table)."""

_ONE_HOT = re.compile(r"^(?P<label>.+)=(?P<value>-?\d+(?:\.\d+)?)$")
_BLOCK = re.compile(r"^(?P<stage>s\d+)_b\d+_(?P<what>\w+)$")


def _stage_terms(names: Sequence[str] | None) -> list[tuple[str, list[list[tuple[int, float]]]]]:
    """Per stage and block decision (``s2`` x ``kernel``), the blocks' (column, value) pairs decoded from one-hot
    names; the block structure comes from the labels ``s<stage>_b<block>_<what>``."""
    if names is None:
        return []
    labels: dict[str, list[tuple[int, float]]] = {}
    for column, name in enumerate(names):
        match = _ONE_HOT.match(name)
        if match and _BLOCK.match(match["label"]):
            labels.setdefault(match["label"], []).append((column, float(match["value"])))
    groups: dict[tuple[str, str], list[list[tuple[int, float]]]] = {}
    for label, pairs in labels.items():
        block = _BLOCK.match(label)
        assert block is not None
        groups.setdefault((block["stage"], block["what"]), []).append(pairs)
    return [(f"{stage}_{what}", blocks) for (stage, what), blocks in groups.items()]


def _decode(x: np.ndarray, pairs: list[tuple[int, float]]) -> np.ndarray:
    return sum((x[:, column] * value for column, value in pairs), np.zeros(len(x)))


def count_values(x: np.ndarray, counts: Sequence[int], logs: Sequence[bool]) -> np.ndarray:
    """The count columns, each as its logarithm where ``logs`` says (a positive column of a cost)."""
    columns = [np.log(np.maximum(x[:, c], 1e-12)) if use_log else x[:, c] for c, use_log in zip(counts, logs)]
    return np.stack(columns, axis=1) if columns else np.zeros((len(x), 0))


def widen(
    x: np.ndarray,
    names: Sequence[str] | None,
    counts: Sequence[int],
    logs: Sequence[bool],
    centre: np.ndarray,
    spread: np.ndarray,
) -> np.ndarray:
    """The dense extra columns: per-stage sums (and the per-stage sum of block products), then each count column
    (its log where ``logs`` says), standardised by ``centre`` and ``spread``, with its square and cube (standardised
    first, so the three are not collinear)."""
    extra: list[np.ndarray] = []
    terms = _stage_terms(names)
    by_stage: dict[str, list[list[np.ndarray]]] = {}
    for label, blocks in terms:
        decoded = [_decode(x, pairs) for pairs in blocks]
        extra.append(sum(decoded, np.zeros(len(x))))
        by_stage.setdefault(label.split("_", 1)[0], []).append(decoded)
    for per_what in by_stage.values():
        if len(per_what) > 1 and len({len(blocks) for blocks in per_what}) == 1:
            products = [np.prod(np.stack(block), axis=0) for block in zip(*per_what)]
            extra.append(sum(products, np.zeros(len(x))))
    for value in ((count_values(x, counts, logs) - centre) / spread).T:
        extra += [value, value**2, value**3]
    return np.stack(extra, axis=1) if extra else np.zeros((len(x), 0))


@register_predictor
class Blend(Predictor):
    """Mean of ridge, an MLP ensemble and a Gaussian process on the widened encoding (see the module docstring).

    Args:
        members, hidden, steps: the MLP ensemble's size and training steps.
        alphas: ridge strengths to choose from by leave-one-out error.
    """

    kind = "blend"

    def __init__(
        self,
        feature_names: list[str] | None = None,
        target: str = "metric",
        seed: int = 0,
        members: int = 10,
        hidden: tuple[int, ...] = (128, 128),
        steps: int = 600,
        alphas: Sequence[float] = tuple(np.logspace(-3, 3, 25)),
    ):
        super().__init__(feature_names, target, seed)
        self.members, self.hidden, self.steps = int(members), tuple(int(h) for h in hidden), int(steps)
        self.alphas = tuple(float(a) for a in alphas)
        if not self.alphas or not all(np.isfinite(a) and a > 0 for a in self.alphas):
            raise ConfigError(
                f"alphas={list(alphas)!r}: need at least one finite ridge strength > 0",
                field="alphas",
                value=list(alphas),
                allowed="finite floats > 0",
            )
        self.inputs_ = 0
        self.counts_: list[int] = []
        self.logs_: list[bool] = []
        self.centre_ = self.spread_ = np.zeros(0)
        self.mean_ = self.scale_ = self.coef_ = np.zeros(0)
        self.alpha_ = self.intercept_ = 0.0
        self.dense_ = 0  # columns the Gaussian process reads (see _dense)
        self.gp_theta_ = self.gp_x_ = self.gp_alpha_ = np.zeros(0)
        self.gp_mean_, self.gp_scale_ = 0.0, 1.0
        self.mlp = MLPEnsemble(target=target, seed=seed, members=members, hidden=hidden, steps=steps)

    # ------------------------------------------------------------------ the widened, standardised matrix
    def _matrix(self, x: np.ndarray) -> np.ndarray:
        wide = np.hstack([x, self._widen(x)])
        return (wide - self.mean_) / self.scale_

    def _widen(self, x: np.ndarray) -> np.ndarray:
        return widen(x, self.feature_names, self.counts_, self.logs_, self.centre_, self.spread_)

    def _kernel(self) -> Any:
        """Linear plus RBF (one length scale: the columns are standardised) plus noise."""
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, DotProduct, WhiteKernel

        return ConstantKernel() * DotProduct() + ConstantKernel() * RBF(1.0) + WhiteKernel()

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.gaussian_process import GaussianProcessRegressor

        self.inputs_ = x.shape[1]
        self.counts_ = count_columns(x)
        self.logs_ = [bool(np.all(x[:, c] > 0)) for c in self.counts_]
        values = count_values(x, self.counts_, self.logs_)
        self.centre_ = values.mean(axis=0)
        self.spread_ = np.where(values.std(axis=0) > 1e-12, values.std(axis=0), 1.0)
        wide = np.hstack([x, self._widen(x)])
        self.mean_ = wide.mean(axis=0)
        scale = wide.std(axis=0)
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        z = (wide - self.mean_) / self.scale_
        self.alpha_, self.intercept_, self.coef_ = _ridge_loo(z, y, self.alphas)
        self.mlp.fit(z, y)
        dense = self._dense(z)
        self.dense_ = dense.shape[1]
        self.gp_mean_, self.gp_scale_ = float(y.mean()), float(y.std() + 1e-12)
        process = GaussianProcessRegressor(self._kernel(), random_state=self.seed)
        with warnings.catch_warnings():  # a hyperparameter at its bound is fine for ranking
            warnings.simplefilter("ignore")
            process.fit(dense, (y - self.gp_mean_) / self.gp_scale_)
        self.gp_theta_, self.gp_x_ = np.asarray(process.kernel_.theta), dense
        self.gp_alpha_ = np.asarray(process.alpha_, dtype=np.float64).reshape(-1)

    def _dense(self, z: np.ndarray) -> np.ndarray:
        """The columns the Gaussian process reads: the count columns as given and (logged, where they are costs)
        weighted by :data:`COST_WEIGHT`, and the stage sums; no squares or cubes (the RBF bends by itself)."""
        wide = z[:, self.inputs_ :]
        if wide.shape[1] == 0:  # a plain one-hot encoding: nothing dense, the process reads it all
            return z
        split = wide.shape[1] - 3 * len(self.counts_)
        return np.hstack([z[:, self.counts_], wide[:, :split], COST_WEIGHT * wide[:, split::3]])

    def _columns(self) -> int:
        return self.inputs_

    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = self._matrix(x)
        ridge = self.intercept_ + z @ self.coef_
        mlp, mlp_spread = self.mlp.predict_with_spread(z)
        kernel = self._kernel().clone_with_theta(self.gp_theta_)
        process = kernel(self._dense(z), self.gp_x_) @ self.gp_alpha_ * self.gp_scale_ + self.gp_mean_
        stacked = np.stack([ridge, mlp, process])
        return stacked.mean(axis=0), np.sqrt(stacked.var(axis=0) + mlp_spread**2)

    # ------------------------------------------------------------------ file format
    def _settings(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "hidden": list(self.hidden),
            "steps": self.steps,
            "alphas": list(self.alphas),
            "inputs": self.inputs_,
            "counts": self.counts_,
            "logs": self.logs_,
            "centre": self.centre_.tolist(),
            "spread": self.spread_.tolist(),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "alpha": self.alpha_,
            "intercept": self.intercept_,
            "coef": self.coef_.tolist(),
            "gp_theta": self.gp_theta_.tolist(),
            "gp_x": self.gp_x_.tolist(),
            "gp_alpha": self.gp_alpha_.tolist(),
            "gp_mean": self.gp_mean_,
            "gp_scale": self.gp_scale_,
            "mlp": self.mlp._settings(),
        }

    def _write_extra(self, folder: Path) -> None:
        self.mlp._write_extra(folder)

    def _restore(self, settings: dict[str, Any], folder: Path) -> None:
        self.members, self.steps = int(settings["members"]), int(settings["steps"])
        self.hidden, self.alphas = tuple(int(h) for h in settings["hidden"]), tuple(settings["alphas"])
        self.inputs_ = int(settings["inputs"])
        self.counts_ = [int(c) for c in settings["counts"]]
        self.logs_ = [bool(flag) for flag in settings["logs"]]
        if len(self.logs_) != len(self.counts_) or not all(0 <= c < self.inputs_ for c in self.counts_):
            raise ValueError(f"counts {self.counts_} and logs do not fit {self.inputs_} inputs")
        if self.feature_names is not None and len(self.feature_names) != self.inputs_:
            raise ValueError(f"inputs={self.inputs_} but feature_names lists {len(self.feature_names)}")
        self.centre_ = _finite_array(settings["centre"], "centre")
        self.spread_ = _finite_array(settings["spread"], "spread")
        if not len(self.centre_) == len(self.spread_) == len(self.counts_) or np.any(self.spread_ <= 0):
            raise ValueError(f"centre and spread must hold {len(self.counts_)} entries, spread > 0")
        self.mean_, self.scale_ = _finite_array(settings["mean"], "mean"), _finite_array(settings["scale"], "scale")
        self.coef_ = _finite_array(settings["coef"], "coef")
        self.alpha_, self.intercept_ = float(settings["alpha"]), float(settings["intercept"])
        widened = self.inputs_ + self._widen(np.ones((1, self.inputs_))).shape[1]
        if not len(self.mean_) == len(self.scale_) == len(self.coef_) == widened or np.any(self.scale_ <= 0):
            raise ValueError(f"the linear part must hold {widened} columns with positive scales")
        self.dense_ = self._dense(np.zeros((1, widened))).shape[1]
        self.gp_theta_ = _finite_array(settings["gp_theta"], "gp_theta")
        self.gp_alpha_ = _finite_array(settings["gp_alpha"], "gp_alpha")
        self.gp_x_ = np.asarray(settings["gp_x"], dtype=np.float64)
        if self.gp_x_.shape != (len(self.gp_alpha_), self.dense_) or not np.all(np.isfinite(self.gp_x_)):
            raise ValueError(f"gp_x must be a {len(self.gp_alpha_)} x {self.dense_} matrix of finite numbers")
        if len(self.gp_theta_) != len(self._kernel().theta):
            raise ValueError(f"gp_theta must hold {len(self._kernel().theta)} hyperparameters")
        self.gp_mean_, self.gp_scale_ = float(settings["gp_mean"]), float(settings["gp_scale"])
        if not np.isfinite(self.gp_mean_) or not self.gp_scale_ > 0:
            raise ValueError("gp_mean must be finite and gp_scale > 0")
        self.mlp = MLPEnsemble(target=self.target, seed=self.seed)
        self.mlp._restore(settings["mlp"], folder)
        self.mlp.fitted = True
        if len(self.mlp.x_mean) != widened:
            raise ValueError(f"the MLP reads {len(self.mlp.x_mean)} columns, not the {widened} widened ones")
