"""Gradient-boosted trees (LightGBM), saved as LightGBM's own text model inside the predictor's JSON."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from predictors.base import Predictor, register_predictor
from search_spaces.errors import short_repr

__all__ = ["GradientBoosting", "booster_params", "safe_model_text"]


def booster_params(learning_rate: float, num_leaves: int, min_data_in_leaf: int, seed: int, threads: int) -> dict:
    """LightGBM regression settings shared by the boosting predictors: small-data friendly, deterministic."""
    return {
        "objective": "regression",
        "learning_rate": learning_rate,
        "num_leaves": num_leaves,
        "min_data_in_leaf": min_data_in_leaf,
        "min_data_in_bin": 1,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.9,
        "bagging_freq": 1,
        "seed": seed,
        "deterministic": True,
        "num_threads": threads,
        "verbosity": -1,
    }


_INT = r"-?\d+"
_FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan"
_HEADER_KEYS = (
    "version",
    "num_class",
    "num_tree_per_iteration",
    "label_index",
    "max_feature_idx",
    "objective",
    "feature_names",
    "feature_infos",
    "tree_sizes",
)
_TREE_KEYS = frozenset(
    "num_leaves num_cat split_feature split_gain threshold decision_type left_child right_child leaf_value "
    "leaf_weight leaf_count internal_value internal_weight internal_count is_linear shrinkage".split()
)


def safe_model_text(text: Any) -> tuple[str, int]:
    """LightGBM model text reduced to what LightGBM needs and checked line by line; returns it and the number of
    features the model reads.

    LightGBM's C++ parser aborts or crashes the whole process (no Python exception) on some truncated or altered
    texts, so a predictor file is checked here first: a header of exactly the keys a regression model has, every
    tree where the header's byte sizes put it, with numeric node arrays of the right lengths, features in range and
    child links that form one tree (each node and leaf reached once, so traversal ends). What follows the trees
    (feature importances, training parameters) is dropped: LightGBM does not need it to predict.

    Raises:
        ValueError: naming what is wrong.
    """
    if not isinstance(text, str) or not text.startswith("tree\n"):
        raise ValueError("LightGBM model text must start with its 'tree' header")
    header_end = text.find("\n\n")
    lines = text[5:header_end].split("\n") if header_end > 0 else []
    keys = tuple(line.split("=", 1)[0] for line in lines)
    if keys != _HEADER_KEYS:
        raise ValueError(
            f"LightGBM model header must list {', '.join(_HEADER_KEYS)} in order; found {short_repr(keys)}"
        )
    header = dict(line.split("=", 1) for line in lines)
    fixed = {"version": "v4", "num_class": "1", "num_tree_per_iteration": "1", "label_index": "0"}
    if any(header[key] != value for key, value in fixed.items()) or header["objective"] != "regression":
        raise ValueError("LightGBM model header is not that of a v4 single-output regression model")
    if not re.fullmatch(_INT, header["max_feature_idx"]) or not re.fullmatch(r"\d+(?: \d+)*", header["tree_sizes"]):
        raise ValueError("LightGBM model header has a malformed max_feature_idx or tree_sizes")
    features, sizes = int(header["max_feature_idx"]) + 1, [int(size) for size in header["tree_sizes"].split()]
    infos = header["feature_infos"].split(" ")
    interval = re.compile(rf"\[(?:{_FLOAT}):(?:{_FLOAT})\]|none")
    valid_infos = all(interval.fullmatch(info) for info in infos)
    if not 1 <= features == len(header["feature_names"].split(" ")) == len(infos) or not valid_infos:
        raise ValueError(f"LightGBM model header does not describe its {features} features consistently")
    position = header_end + 2
    for index, size in enumerate(sizes):
        _check_tree(text[position : position + size], index, features)
        position += size
    if not text.startswith("end of trees\n", position):
        raise ValueError("LightGBM model text is truncated or altered: 'end of trees' does not follow the trees")
    return text[:position] + "end of trees\n", features


def _check_tree(block: str, index: int, features: int) -> None:
    """One ``Tree=`` block: known keys with numeric values, node arrays of consistent lengths, values within
    bounds, links forming a tree."""
    lines = block.split("\n")
    if len(lines) < 4 or lines[-3:] != ["", "", ""] or lines[0] != f"Tree={index}":
        raise ValueError(f"LightGBM tree {index} is not where tree_sizes says (truncated or altered text)")
    fields = dict(line.split("=", 1) if "=" in line else (line, "") for line in lines[1:-3])
    if not set(fields) <= _TREE_KEYS or len(fields) != len(lines) - 4:
        raise ValueError(f"LightGBM tree {index} has unknown or repeated lines")

    def numbers(key: str, count: int, integer: bool = False, low: float = -math.inf, high: float = math.inf) -> list:
        tokens = fields.get(key, "").split(" ")
        pattern = _INT if integer else _FLOAT
        if len(tokens) != count or not all(re.fullmatch(pattern, token) for token in tokens):
            raise ValueError(f"LightGBM tree {index}: {key} must hold {count} numbers")
        values = [int(token) if integer else float(token) for token in tokens]
        if not all(low <= value <= high for value in values):
            raise ValueError(f"LightGBM tree {index}: {key} must lie in [{low}, {high}]")
        return values

    (leaves,) = numbers("num_leaves", 1, True, 1, 1 << 20)
    if numbers("num_cat", 1, True) != [0] or numbers("is_linear", 1, True) != [0]:
        raise ValueError(f"LightGBM tree {index}: categorical or linear trees are not supported")
    numbers("shrinkage", 1)
    numbers("leaf_value", leaves)
    if leaves == 1:
        return
    nodes = leaves - 1
    numbers("split_feature", nodes, True, 0, features - 1)
    numbers("decision_type", nodes, True, 0, 255)
    for key in ("split_gain", "threshold", "internal_value", "internal_weight", "internal_count"):
        numbers(key, nodes)
    for key in ("leaf_weight", "leaf_count"):
        numbers(key, leaves)
    children = numbers("left_child", nodes, True, -leaves, nodes - 1)
    children += numbers("right_child", nodes, True, -leaves, nodes - 1)
    reached, stack = set(), [0]
    while stack:  # with every node but the root and every leaf linked exactly once, this walk cannot loop
        node = stack.pop()
        reached.add(node)
        stack += [child for child in (children[node], children[nodes + node]) if child > 0]
    if sorted(children) != [*range(-leaves, 0), *range(1, nodes)] or len(reached) != nodes:
        raise ValueError(f"LightGBM tree {index}: left_child/right_child do not link the nodes into one tree")


@register_predictor
class GradientBoosting(Predictor):
    """LightGBM regression; leaf sizes shrink with the training set so 10 rows still give a model."""

    kind = "gbm"

    def __init__(
        self,
        feature_names: list[str] | None = None,
        target: str = "metric",
        seed: int = 0,
        rounds: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        threads: int = 1,
    ):
        super().__init__(feature_names, target, seed)
        self.rounds, self.learning_rate, self.num_leaves = rounds, learning_rate, num_leaves
        self.threads = threads  # more threads pay only on large tables; on a busy machine they stall
        self.booster: Any = None

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        import lightgbm

        params = booster_params(
            self.learning_rate, self.num_leaves, max(1, min(20, len(x) // 10)), self.seed, self.threads
        )
        dataset = lightgbm.Dataset(x, y, params={"min_data_in_bin": 1, "verbosity": -1})
        self.booster = lightgbm.train(params, dataset, num_boost_round=self.rounds)

    def _columns(self) -> int:
        return int(self.booster.num_feature())

    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.asarray(self.booster.predict(x), dtype=np.float64)
        return mean, np.zeros_like(mean)

    def _settings(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "model": self.booster.model_to_string(),
        }

    def _restore(self, settings: dict[str, Any], folder: Path) -> None:
        import lightgbm

        self.rounds, self.learning_rate = settings["rounds"], settings["learning_rate"]
        self.num_leaves = settings["num_leaves"]
        model, features = safe_model_text(settings["model"])
        if self.feature_names is not None and features != len(self.feature_names):
            raise ValueError(f"the model reads {features} features but feature_names lists {len(self.feature_names)}")
        try:
            self.booster = lightgbm.Booster(model_str=model)
        except lightgbm.basic.LightGBMError as exc:
            raise ValueError(f"LightGBM model text is malformed ({str(exc)[:200]})") from None
