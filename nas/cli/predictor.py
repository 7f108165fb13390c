"""``nas predictor dataset | fit | eval``: accuracy tables from a supernet, and predictors fitted on them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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


SMALL_TABLE_ROWS = 1000
"""Up to this many training rows ``--kind auto`` fits ``blend`` (best ranking on small tables, see
benchmarks/ofa_imagenet_predictor.py; its Gaussian process grows as the cube of the rows), above it ``mlp_ensemble``."""


def _kind(requested: str, train_rows: int) -> str:
    if requested != "auto":
        return requested
    return "blend" if train_rows <= SMALL_TABLE_ROWS else "mlp_ensemble"


def _fit(args: argparse.Namespace) -> dict[str, Any]:
    metric = args.target or args.metric
    if not metric:
        raise ConfigError("name the column to predict with --target (or --metric)", field="target")
    space = get_space(args.space)
    arch_columns = [args.arch_column] if args.arch_column else []
    table = read_arch_table(args.table, arch_columns, [metric], space=space, duplicates="mean")
    target = table.column(metric)
    featurizer = arch_featurizer(space, args.num_classes)
    features = featurizer.matrix(table.archs)
    train, test = _split(len(table), args.train_size or len(table) - args.test_size, args.test_size, args.seed)
    kind = _kind(args.kind, len(train))
    model = create_predictor(kind, feature_names=featurizer.names, target=metric, seed=args.seed)
    model.space, model.num_classes = space.name, args.num_classes
    model.fit(features[train], target[train])
    report = ranking_report(target[test], model.predict(features[test])) if len(test) >= 2 else {}
    path = model.save(args.out)
    return {
        "predictor": str(path),
        "kind": kind,
        "metric": metric,
        "space": space.name,
        "repeats_averaged": table.merged,
        "train_rows": len(train),
        "test_rows": len(test),
        **report,
        "domain": model.describe_domain(),
    }


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    model = load_predictor(args.predictor)
    space_name = args.space or model.space
    if space_name is None:
        raise ConfigError(f"{args.predictor} does not record its space: pass --space", field="space")
    space = get_space(space_name)
    featurizer = arch_featurizer(space, args.num_classes or model.num_classes or 10)
    if model.feature_names != featurizer.names:
        raise CheckpointError(
            f"{args.predictor} was fitted on other features than space {space.name!r} gives "
            f"({len(model.feature_names or [])} vs {len(featurizer.names)} columns)"
        )
    metric = args.metric or model.target
    arch_columns = [args.arch_column] if args.arch_column else []
    table = read_arch_table(args.table, arch_columns, [metric], space=space, duplicates="mean")
    features = featurizer.matrix(table.archs)
    predicted, spread = model.predict_with_spread(features)
    inside = model.in_domain(features)
    report = ranking_report(table.column(metric), predicted)
    result = {
        "predictor": args.predictor,
        "metric": metric,
        "rows": len(table),
        "in_domain_rows": int(inside.sum()),
        **report,
    }
    if args.out:
        rows = pd.DataFrame([arch.to_dict() for arch in table.archs])
        rows[metric] = table.column(metric)
        rows["predicted"], rows["spread"], rows["in_domain"] = predicted, spread, inside
        result["predictions"] = str(write_table(rows, args.out))
    return result


def register(commands: Commands) -> None:
    """Add ``nas predictor`` and its three actions."""
    parser = commands.add(
        "predictor",
        "accuracy tables and predictors",
        "dataset: sample subnets of a trained supernet and evaluate them (BN recalibrated) into a "
        "table; fit: fit a predictor on a table (repeated architectures averaged) and report Kendall tau, "
        "Spearman, RMSE, MAE and top-10 overlap on held-out rows, and the domain its training rows covered; "
        "eval: the same report for a saved predictor on a table, each row flagged in_domain or not (--out).",
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
    fit.add_argument("--target", help="column to predict, e.g. val_loss, test_accuracy or 'Top-1 Acc (%%)'")
    fit.add_argument("--metric", help="the same as --target (older name)")
    fit.add_argument(
        "--arch-column",
        help="column of once-for-all specs (JSON or a Python dict literal, as DyNAS-T's 'Sub-network'); default: "
        "the space's label or spec columns, else the first column holding specs",
    )
    fit.add_argument(
        "--kind",
        default="auto",
        help=f"predictor kind: auto (blend up to {SMALL_TABLE_ROWS} training rows, else mlp_ensemble), "
        f"{', '.join(predictor_kinds())}",
    )
    fit.add_argument("--train-size", type=int, default=0, help="training rows (0: all but the test rows)")
    fit.add_argument("--test-size", type=int, default=200, help="held-out rows for the report")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--num-classes", type=int, default=10, help="classes, for the MACs/params features")
    fit.add_argument("--out", required=True, help="folder to save the predictor in")
    fit.set_defaults(func=lambda a: emit_report(a, _fit(a)))

    evaluation = action("eval", "report a saved predictor's ranking quality on a table")
    evaluation.add_argument("--predictor", required=True)
    evaluation.add_argument("--table", required=True)
    evaluation.add_argument("--space", help="default: the space the predictor records")
    evaluation.add_argument("--metric", help="column to compare with (default: the one it was fitted on)")
    evaluation.add_argument("--arch-column", help="column of once-for-all specs (see fit)")
    evaluation.add_argument("--num-classes", type=int, help="default: the count the predictor records, else 10")
    evaluation.add_argument("--out", help="also write each row's prediction, spread and in_domain to this table")
    evaluation.set_defaults(func=lambda a: emit_report(a, _evaluate(a)))
