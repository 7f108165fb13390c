"""``nas train`` (a supernet from a YAML config and flags, or resumed) and ``nas eval`` (subnets' accuracy)."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from nas.cli.common import Commands, add_data_arguments, handled, table
from nas.core.config import load_yaml, parse_config
from nas.data import load_dataset, parse_class_selection
from nas.supernet import family_of
from nas.supernet.checkpoint import load_supernet
from nas.training.config import TrainConfig, progressive_shrinking_phases
from nas.training.evaluation import SPLITS, EvalCache, evaluate, file_digest
from nas.training.trainer import Trainer
from search_spaces import ConfigError
from search_spaces.parsing import parse_arch

__all__ = ["register", "train_config"]


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The YAML config (if any) with the flags given on the command line laid over it, both over the training
    settings the supernet's family needs (e.g. AdamW for the vision transformers)."""
    data = load_yaml(args.config) if args.config else {}
    overrides = {
        "supernet": args.supernet,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "device": args.device,
        "threads": args.threads,
        "init_from": args.init_from,
        "init_net": args.net,
        "num_classes": args.num_classes,
    }
    data.update({k: v for k, v in overrides.items() if v is not None})
    data = _with_family_defaults(data)
    # flags merge into sections only where the file has a mapping (or nothing); any other type is left for
    # parse_config to reject with the field's name
    data_flags = {
        k: v
        for k, v in (
            ("name", args.data),
            ("root", args.data_root),
            ("resolution", args.resolution),
            ("classes", parse_class_selection(args.classes) if args.classes is not None else None),
        )
        if v is not None
    }
    if data_flags and isinstance(data.get("data", {}), dict):
        data["data"] = {**data.get("data", {}), **data_flags}
    if args.lr is not None and isinstance(data.get("optim", {}), dict):
        data["optim"] = {**data.get("optim", {}), "lr": args.lr}
    if args.recipe == "progressive":
        data["phases"] = [vars(phase) for phase in progressive_shrinking_phases(args.epochs or 5)]
    elif args.epochs is not None:
        phases = data.get("phases", [{}])
        if not isinstance(phases, list) or len(phases) != 1 or not isinstance(phases[0], dict):
            raise ConfigError(
                "--epochs sets the epochs of a one-phase recipe; edit the phases in the config file instead",
                field="epochs",
            )
        data["phases"] = [{**phases[0], "epochs": args.epochs}]
    return parse_config(TrainConfig, data)


def _with_family_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` laid over the training settings its supernet's family needs (``Family.train_defaults``), section
    by section; a section that is not a mapping is left for parse_config to reject."""
    space = data.get("supernet", TrainConfig.supernet)
    family = family_of(space) if isinstance(space, str) else None
    if family is None:
        return data
    merged = dict(data)
    for section, defaults in family.train_defaults.items():
        given = data.get(section, {})
        if isinstance(given, dict):
            merged[section] = {**defaults, **given}
    return merged


def _train(args: argparse.Namespace) -> dict[str, Any]:
    if args.resume:
        trainer = Trainer.resume(args.resume, progress=not args.quiet)
    else:
        config = train_config(args)
        name = args.name or datetime.now().strftime("train-%Y%m%d-%H%M%S")
        trainer = Trainer.start(config, name, progress=not args.quiet)
    summary = trainer.fit()
    return {
        "run_dir": str(summary.run_dir),
        "supernet": str(summary.supernet_path),
        "steps": summary.steps,
        "seconds": round(summary.seconds, 1),
        "final_loss": summary.final_loss,
    }


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    supernet = load_supernet(args.supernet).eval()
    classes = parse_class_selection(args.classes) if args.classes is not None else None
    data = load_dataset(args.data, args.data_root, resolution=args.resolution, seed=args.data_seed, classes=classes)
    if data.num_classes != supernet.num_classes:
        raise ConfigError(
            f"{args.supernet} has {supernet.num_classes} classes but data set {args.data!r} has {data.num_classes}",
            field="data",
            value=args.data,
        )
    data_key = args.data if classes is None else f"{args.data}[{','.join(classes)}]"
    cache = EvalCache(Path(args.supernet).with_name("eval_cache.jsonl"), file_digest(args.supernet), data_key)
    rows = []
    for text in args.arch:
        arch = parse_arch(text, supernet.space)
        result = evaluate(
            supernet,
            arch,
            data,
            args.split,
            args.calibration_images,
            cache=cache,
            calibration_batch=args.calibration_batch,
        )
        rows.append(
            {
                "arch": text if len(text) < 40 else arch.key,
                "accuracy": result.accuracy,
                "loss": result.loss,
                "images": result.images,
                "macs": supernet.macs(arch),
                "labels": arch.to_dict(),
            }
        )
    return {
        "split": args.split,
        "calibration_images": args.calibration_images,
        "calibration_batch": args.calibration_batch,
        "results": rows,
    }


def _render_evaluation(report: dict[str, Any]) -> None:
    columns = [("arch", "arch"), ("macs", "MACs"), ("accuracy", "accuracy"), ("loss", "loss"), ("images", "images")]
    print(table(report["results"], columns))


def register(commands: Commands) -> None:
    """Add ``nas train`` and ``nas eval``."""
    train = commands.add(
        "train",
        "train a supernet from a YAML config and flags",
        "Train a weight-sharing supernet. Flags override the YAML config, which overrides the settings the "
        "supernet's family needs (the vision transformers train with AdamW); unknown config keys are errors. "
        "--resume RUN_DIR continues a run from its last checkpoint exactly. --init-from FILE fine-tunes: "
        "every weight but the classifier's comes from FILE (a supernet file, or with --net a once-for-all "
        "checkpoint), the classifier starts fresh with the data set's classes, and every subnet stays trainable "
        "(sandwich or progressive recipe); such a run resumes like any other.",
    )
    train.add_argument("--config", help="YAML file of TrainConfig settings")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue this run folder from checkpoints/last.pt")
    train.add_argument("--name", help="run folder name under runs/ (default: train-<timestamp>)")
    train.add_argument("--supernet", help="registered supernet (see `nas spaces`)")
    train.add_argument("--data", help="data set: digits, cifar10 or imagefolder")
    train.add_argument("--data-root", help="folder of the data set (cifar10, imagefolder)")
    train.add_argument(
        "--resolution",
        type=int,
        help="stored image resolution; imagefolder from 128 up is preprocessed like once-for-all's ImageNet "
        "evaluation (shorter side to ceil(r/0.875), bilinear, centre crop r, ImageNet mean/std)",
    )
    train.add_argument(
        "--classes", metavar="SELECTION", help="keep only these classes, relabelled in order: 5-9, 0,2,4 or cat,dog"
    )
    train.add_argument(
        "--init-from",
        metavar="FILE",
        help="start from FILE's weights, all but the classifier's: a supernet file (supernet.pt or a training "
        "checkpoint) or, with --net, a once-for-all checkpoint; the run's supernet may be another space whose "
        "non-classifier tensors have the same shapes (once-for-all's w1.0 weights fit ofa_mbv3_small)",
    )
    train.add_argument(
        "--net",
        metavar="PUBLISHED_NET",
        help="the published net --init-from holds, e.g. ofa_mbv3_d234_e346_k357_w1.0 (see `nas import ofa --help`)",
    )
    train.add_argument(
        "--num-classes",
        type=int,
        help="outputs of the fresh classifier; must equal the data set's class count (default: that count)",
    )
    train.add_argument(
        "--recipe",
        choices=["sandwich", "progressive"],
        default="sandwich",
        help="sandwich rule (BigNAS) or once-for-all progressive shrinking",
    )
    train.add_argument("--epochs", type=int, help="epochs (sandwich) or epochs per phase (progressive)")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--threads", type=int, help="CPU threads (0: torch's default)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    render = lambda r: print(f"trained {r['steps']} steps in {r['seconds']} s; supernet: {r['supernet']}")  # noqa: E731
    train.set_defaults(func=handled(_train, render))

    evaluation = commands.add(
        "eval",
        "accuracy of subnets of a trained supernet",
        "Evaluate subnets (after BN recalibration on training images) on a split. Results are "
        "cached beside the checkpoint, keyed by checkpoint hash, arch and split. As once-for-all does: BN "
        "statistics from 2,000 training images in batches of 200, and imagefolder at --resolution 128 or more "
        "preprocessed like its ImageNet evaluation (shorter side to ceil(r/0.875), bilinear, centre crop r, "
        "ImageNet mean/std); pass --resolution equal to the subnets' resolution for numbers comparable with "
        "published ones (other resolutions are resized from the stored images).",
    )
    evaluation.add_argument("--supernet", required=True, help="supernet.pt or a training checkpoint")
    evaluation.add_argument(
        "--arch", required=True, nargs="+", help="smallest, largest, a JSON file, inline JSON labels or an OFA config"
    )
    add_data_arguments(evaluation, calibration=False)
    evaluation.add_argument(
        "--classes", metavar="SELECTION", help="keep only these classes, relabelled in order: 5-9, 0,2,4 or cat,dog"
    )
    evaluation.add_argument(
        "--calibration-images",
        type=int,
        default=2000,
        help="training images for BN recalibration (default: 2000, as once-for-all; all if fewer)",
    )
    evaluation.add_argument(
        "--calibration-batch",
        type=int,
        default=200,
        help="batch size of the BN recalibration; the variance estimate depends on it (default: 200)",
    )
    evaluation.add_argument("--split", default="test", choices=SPLITS)
    evaluation.set_defaults(func=handled(_evaluate, _render_evaluation))
