"""``nas predictor dataset | fit | eval``: accuracy tables from a supernet, and predictors fitted on them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from nas.cli.common import Commands, actions, add_data_arguments, emit_report, load_data
from nas.supernet.checkpoint import load_supernet
from nas.supernet.features import arch_featurizer
from nas.training.evaluation import SPLITS, EvalCache, file_digest
from nas.training.tables import build_accuracy_table
from predictors.base import create_predictor, load_predictor, predictor_kinds
from predictors.metrics import ranking_report
from search_spaces import CheckpointError, ConfigError, get_space
from search_spaces.table import read_arch_table, write_table

__all__ = ["register"]


def _dataset(args: argparse.Namespace) -> dict[str, Any]:
    supernet = load_supernet(args.supernet).eval()
    data = load_data(args)
    if data.num_classes != supernet.num_classes:
        raise ConfigError(
            f"{args.supernet} has {supernet.num_classes} classes, data set has {data.num_classes}", field="data"
        )
    cache = EvalCache(Path(args.supernet).with_name("eval_cache.jsonl"), file_digest(args.supernet), args.data)
    table = build_accuracy_table(
        supernet, data, args.n, args.seed, tuple(args.splits), args.calibration_images, cache, progress=not args.json
    )
    path = write_table(table, args.out)
    return {"table": str(path), "rows": len(table), "columns": list(table.columns)}


def _split(count: int, train: int, test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if train + test > count:
        raise ConfigError(
            f"--train-size {train} + --test-size {test} exceeds the table's {count} rows",
            field="train_size",
            value=train,
        )
    order = np.random.default_rng(seed).permutation(count)
    return order[:train], order[train : train + test]


def _fit(args: argparse.Namespace) -> dict[str, Any]:
    space = get_space(args.space)
    table = read_arch_table(args.table, metric_columns=[args.metric], space=space)
    target = table.column(args.metric)
    featurizer = arch_featurizer(space, args.num_classes)
    features = featurizer.matrix(table.archs)
    train, test = _split(len(table), args.train_size or len(table) - args.test_size, args.test_size, args.seed)
    model = create_predictor(args.kind, feature_names=featurizer.names, target=args.metric, seed=args.seed)
    model.fit(features[train], target[train])
    report = ranking_report(target[test], model.predict(features[test]))
    path = model.save(args.out)
    return {
        "predictor": str(path),
        "kind": args.kind,
        "metric": args.metric,
        "space": space.name,
        "train_rows": len(train),
        "test_rows": len(test),
        **report,
    }


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    model = load_predictor(args.predictor)
    space = get_space(args.space)
    featurizer = arch_featurizer(space, args.num_classes)
    if model.feature_names != featurizer.names:
        raise CheckpointError(
            f"{args.predictor} was fitted on other features than space {space.name!r} gives "
            f"({len(model.feature_names or [])} vs {len(featurizer.names)} columns)"
        )
    metric = args.metric or model.target
    table = read_arch_table(args.table, metric_columns=[metric], space=space)
    report = ranking_report(table.column(metric), model.predict(featurizer.matrix(table.archs)))
    return {"predictor": args.predictor, "metric": metric, "rows": len(table), **report}


def register(commands: Commands) -> None:
    """Add ``nas predictor`` and its three actions."""
    parser = commands.add(
        "predictor",
        "accuracy tables and predictors",
        "dataset: sample subnets of a trained supernet and evaluate them (BN recalibrated) into a "
        "table; fit: fit a predictor on a table and report Kendall tau, Spearman, RMSE, MAE and "
        "top-10 overlap on held-out rows; eval: the same report for a saved predictor on a table.",
    )
    action = actions(parser)

    dataset = action("dataset", "evaluate sampled subnets into a table")
    dataset.add_argument("--supernet", required=True)
    dataset.add_argument("--n", type=int, default=700, help="distinct subnets to sample")
    dataset.add_argument("--seed", type=int, default=0)
    dataset.add_argument("--splits", nargs="+", default=["val", "test"], choices=SPLITS)
    add_data_arguments(dataset)
    dataset.add_argument("--out", required=True, help="table file (.csv, .parquet or .jsonl)")
    dataset.set_defaults(func=lambda a: emit_report(a, _dataset(a)))

    fit = action("fit", "fit a predictor on a table")
    fit.add_argument("--table", required=True)
    fit.add_argument("--space", required=True)
    fit.add_argument("--metric", required=True, help="column to predict, e.g. val_loss or test_accuracy")
    fit.add_argument("--kind", default="mlp_ensemble", help=f"predictor kind: {', '.join(predictor_kinds())}")
    fit.add_argument("--train-size", type=int, default=0, help="training rows (0: all but the test rows)")
    fit.add_argument("--test-size", type=int, default=200, help="held-out rows for the report")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--num-classes", type=int, default=10, help="classes, for the MACs/params features")
    fit.add_argument("--out", required=True, help="folder to save the predictor in")
    fit.set_defaults(func=lambda a: emit_report(a, _fit(a)))

    evaluation = action("eval", "report a saved predictor's ranking quality on a table")
    evaluation.add_argument("--predictor", required=True)
    evaluation.add_argument("--table", required=True)
    evaluation.add_argument("--space", required=True)
    evaluation.add_argument("--metric", help="column to compare with (default: the one it was fitted on)")
    evaluation.add_argument("--num-classes", type=int, default=10)
    evaluation.set_defaults(func=lambda a: emit_report(a, _evaluate(a)))
