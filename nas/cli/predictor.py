"""``nas predictor dataset | fit | eval``: accuracy tables from a supernet, and predictors fitted on them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from search_spaces import ConfigError, SearchSpace

__all__ = ["action_adder", "add_predictor_commands", "arch_featurizer"]


def arch_featurizer(space: SearchSpace, num_classes: int) -> Any:
    """The space's encoding plus free statistics (MACs and parameters, for MobileNetV3 spaces)."""
    from nas.supernet.families.mobilenetv3.static import subnet_macs, subnet_params
    from predictors.features import ArchFeaturizer
    from search_spaces import MobileNetV3Space

    if not isinstance(space, MobileNetV3Space):
        return ArchFeaturizer(space)
    return ArchFeaturizer(
        space,
        {
            "macs": lambda a: subnet_macs(space, a, num_classes),
            "params": lambda a: subnet_params(space, a, num_classes),
        },
    )


def _cmd_dataset(args: argparse.Namespace) -> dict[str, Any]:
    from nas.data import load_dataset
    from nas.supernet import load_supernet
    from nas.training.evaluation import EvalCache, file_digest
    from nas.training.tables import build_accuracy_table, write_table

    supernet = load_supernet(args.supernet).eval()
    data = load_dataset(args.data, args.data_root, resolution=args.resolution, seed=args.data_seed)
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


def _cmd_fit(args: argparse.Namespace) -> dict[str, Any]:
    import nas
    import predictors
    from nas.training.tables import metric_column, read_arch_table

    space = nas.get_space(args.space)
    archs, table = read_arch_table(args.table, space)
    target = metric_column(table, args.metric, args.table).to_numpy()
    featurizer = arch_featurizer(space, args.num_classes)
    features = featurizer.matrix(archs)
    train, test = _split(len(archs), args.train_size or len(archs) - args.test_size, args.test_size, args.seed)
    model = predictors.create_predictor(
        args.kind, feature_names=featurizer.names, target=args.metric, seed=args.seed
    ).fit(features[train], target[train])
    report = predictors.ranking_report(target[test], model.predict(features[test]))
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


def _cmd_eval(args: argparse.Namespace) -> dict[str, Any]:
    import nas
    import predictors
    from nas.training.tables import metric_column, read_arch_table
    from search_spaces import CheckpointError

    model = predictors.load_predictor(args.predictor)
    space = nas.get_space(args.space)
    archs, table = read_arch_table(args.table, space)
    featurizer = arch_featurizer(space, args.num_classes)
    if model.feature_names != featurizer.names:
        raise CheckpointError(
            f"{args.predictor} was fitted on other features than space {space.name!r} gives "
            f"({len(model.feature_names or [])} vs {len(featurizer.names)} columns)"
        )
    metric = args.metric or model.target
    target = metric_column(table, metric, args.table).to_numpy()
    report = predictors.ranking_report(target, model.predict(featurizer.matrix(archs)))
    return {"predictor": args.predictor, "metric": metric, "rows": len(archs), **report}


def action_adder(parser: argparse.ArgumentParser) -> Callable[[str, str], argparse.ArgumentParser]:
    """A function adding ``ACTION`` sub-commands (each with ``--json``) under ``parser``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        sub.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        return sub

    return action


def add_predictor_commands(command: Any, emit: Any) -> None:
    """Register ``nas predictor`` and its three actions on the top-level parser."""
    parser = command(
        "predictor",
        "accuracy tables and predictors",
        "dataset: sample subnets of a trained supernet and evaluate them (BN recalibrated) into a "
        "table; fit: fit a predictor on a table and report Kendall tau, Spearman, RMSE, MAE and "
        "top-10 overlap on held-out rows; eval: the same report for a saved predictor on a table.",
    )
    action = action_adder(parser)

    dataset = action("dataset", "evaluate sampled subnets into a table")
    dataset.add_argument("--supernet", required=True)
    dataset.add_argument("--n", type=int, default=700, help="distinct subnets to sample")
    dataset.add_argument("--seed", type=int, default=0)
    dataset.add_argument("--splits", nargs="+", default=["val", "test"], choices=["train", "val", "test"])
    dataset.add_argument("--data", default="digits")
    dataset.add_argument("--data-root")
    dataset.add_argument("--data-seed", type=int, default=0)
    dataset.add_argument("--resolution", type=int, default=32)
    dataset.add_argument("--calibration-images", type=int, default=512)
    dataset.add_argument("--out", required=True, help="table file (.csv, .parquet or .jsonl)")
    dataset.set_defaults(func=lambda a: emit(a, _cmd_dataset(a)))

    fit = action("fit", "fit a predictor on a table")
    fit.add_argument("--table", required=True)
    fit.add_argument("--space", required=True)
    fit.add_argument("--metric", required=True, help="column to predict, e.g. val_loss or test_accuracy")
    fit.add_argument("--kind", default="mlp_ensemble", help="predictor kind: mlp_ensemble or gbm")
    fit.add_argument("--train-size", type=int, default=0, help="training rows (0: all but the test rows)")
    fit.add_argument("--test-size", type=int, default=200, help="held-out rows for the report")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--num-classes", type=int, default=10, help="classes, for the MACs/params features")
    fit.add_argument("--out", required=True, help="folder to save the predictor in")
    fit.set_defaults(func=lambda a: emit(a, _cmd_fit(a)))

    evaluate = action("eval", "report a saved predictor's ranking quality on a table")
    evaluate.add_argument("--predictor", required=True)
    evaluate.add_argument("--table", required=True)
    evaluate.add_argument("--space", required=True)
    evaluate.add_argument("--metric", help="column to compare with (default: the one it was fitted on)")
    evaluate.add_argument("--num-classes", type=int, default=10)
    evaluate.set_defaults(func=lambda a: emit(a, _cmd_eval(a)))
