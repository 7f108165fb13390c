"""Exporting subnets of a trained supernet: extract, recalibrate batch norm, optionally fine-tune, write every
requested format, load each back and check it against the supernet, measure, and write a model card; all into a
temporary folder renamed into place only when everything passed."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from nas.data import DataSplits, load_dataset
from nas.data.preprocessing import Preprocessing, evaluation_preprocessing
from nas.export.card import CARD_FORMAT, CARD_VERSION, describe_files, export_versions, write_card
from nas.export.errors import ExportError
from nas.export.finetune import finetune
from nas.export.formats import FORMATS, check_formats
from nas.export.int8 import FormatData, relative_diff
from nas.export.latency import measure_latency
from nas.export.publish import check_destination, staged_folder
from nas.export.sources import ArchChoice, front_choices, resolve_arch
from nas.export.verify import DEFAULT_TOLERANCE, check_parity, max_abs_diff, supernet_outputs
from nas.supernet.checkpoint import load_supernet
from nas.supernet.registry import cost_model, family_of
from nas.training.evaluation import calibrate_bn, file_digest, resize, score
from search_spaces import Arch, CheckpointError, ConfigError
from search_spaces.checks import check_at_least, require
from search_spaces.table import write_table

__all__ = ["INDEX_FILE", "ExportOptions", "SubnetExporter", "export_front", "export_subnet", "export_subnets"]

ArchLike = Arch | Mapping[str, Any] | str
Log = Callable[[str], None]
INDEX_FILE = "index.csv"


@dataclass(frozen=True)
class ExportOptions:
    """Settings of an export. ``space``, when given, is the space the supernet must be of; ``threads`` is for the
    latency measurements (None: torch's current count)."""

    formats: tuple[str, ...] = ("pytorch", "onnx")
    data: str = "digits"
    data_root: str | None = None
    data_seed: int = 0
    data_resolution: int = 32
    calibration_images: int = 512
    parity_images: int = 16
    tolerance: float = DEFAULT_TOLERANCE
    finetune_epochs: int = 0
    finetune_lr: float = 0.01
    finetune_batch: int = 64
    seed: int = 0
    threads: int | None = None
    latency: bool = True
    space: str | None = None

    def checked(self) -> ExportOptions:
        """A copy with the formats validated and de-duplicated; out-of-range settings raise ConfigError."""
        check_at_least(
            calibration_images=(self.calibration_images, 1),
            parity_images=(self.parity_images, 1),
            finetune_epochs=(self.finetune_epochs, 0),
            threads=(self.threads if self.threads is not None else 1, 1),
        )
        require(self.tolerance > 0, "tolerance", self.tolerance, "> 0")
        return replace(self, formats=check_formats(self.formats))


class SubnetExporter:
    """A loaded supernet (a private copy: verification overwrites its BN buffers) and data set, exporting subnets
    into folders. Everything about the inputs is checked on construction, before anything is written."""

    def __init__(
        self,
        supernet_path: str | Path,
        options: ExportOptions | None = None,
        data: DataSplits | None = None,
        log: Log | None = None,
    ):
        self.options = (options or ExportOptions()).checked()
        self.path = Path(supernet_path)
        self.supernet = load_supernet(self.path).eval()
        space = self.supernet.space
        for fmt in self.options.formats:
            check = FORMATS[fmt].check
            if check is not None:
                check(space)
        family = family_of(space)
        if family is None or family.static_subnet is None:
            note = family.export_note if family is not None else "its subnets have no static form"
            raise ExportError(f"{self.path} is a {space.name!r} supernet, which nas export cannot write: {note}")
        if self.options.space is not None and self.options.space != space.name:
            raise CheckpointError(
                f"{self.path} is a supernet of space {space.name!r}, not of --space {self.options.space!r}"
            )
        self.data = data or load_dataset(
            self.options.data, self.options.data_root, self.options.data_resolution, self.options.data_seed
        )
        if self.data.num_classes != self.supernet.num_classes:
            raise ConfigError(
                f"{self.path} has {self.supernet.num_classes} classes but data set {self.data.name!r} has "
                f"{self.data.num_classes}",
                field="data",
                value=self.data.name,
            )
        self.digest = file_digest(self.path)
        self.costs = cost_model(space, self.supernet.num_classes)
        self.log = log or (lambda message: None)

    @property
    def space(self) -> Any:
        return self.supernet.space

    def resolve(self, value: ArchLike) -> ArchChoice:
        """The arch to export (see :func:`~nas.export.sources.resolve_arch`)."""
        return resolve_arch(value, self.space)

    def export_into(self, choice: ArchChoice, folder: Path, final: Path | None = None) -> dict[str, Any]:
        """Export ``choice`` into the empty ``folder`` (to be published as ``final``); return its card.

        Raises:
            ParityError: an artifact (or the extracted subnet) differs from the reference beyond the tolerance.
        """
        started = time.perf_counter()
        options, arch, data = self.options, choice.arch, self.data
        resolution = int(arch["resolution"])
        name = (final or folder).name
        subnet = self.supernet.extract(arch).eval()
        calibration = resize(data.train.images[: options.calibration_images], resolution)
        calibrate_bn(subnet, calibration)
        test_images, test_labels = resize(data.test.images, resolution), data.test.labels
        images = test_images[: options.parity_images]
        reference = supernet_outputs(self.supernet, arch, subnet, images)
        extraction_diff = max_abs_diff(_eager(subnet, images), reference)
        check_parity("extracted subnet", extraction_diff, options.tolerance)
        reference_name = "supernet's active forward (eval mode, recalibrated BN)"
        accuracy = {"after": score(subnet, test_images, test_labels, 256), "before": None}
        tuned = None
        if options.finetune_epochs:
            self.log(f"{name}: fine-tuning {options.finetune_epochs} epochs")
            train_images = resize(data.train.images, resolution)
            tuned = finetune(
                subnet,
                train_images,
                data.train.labels,
                options.finetune_epochs,
                options.finetune_lr,
                options.finetune_batch,
                seed=options.seed,
            )
            calibrate_bn(subnet, calibration)
            reference = _eager(subnet, images)
            reference_name = "fine-tuned subnet's eager forward (eval mode, recalibrated BN)"
            accuracy = {"after": score(subnet, test_images, test_labels, 256), "before": accuracy["after"]}
        preprocessing = evaluation_preprocessing(data, resolution)
        data_for_formats = FormatData(calibration, test_images, test_labels, accuracy["after"].accuracy)
        formats, parity = self._write_formats(
            subnet, images, preprocessing, reference, reference_name, folder, name, data_for_formats
        )
        card = self._card(choice, name, final or folder, len(calibration), accuracy)
        card.update(
            {
                "finetune": None if tuned is None else tuned.to_dict(),
                "latency": measure_latency(subnet, resolution, folder, options.threads) if options.latency else None,
                "parity": {
                    "tolerance": options.tolerance,
                    "reference": reference_name,
                    "images": len(images),
                    "extraction_max_abs_diff": extraction_diff,
                    "max_abs_diff": parity,
                },
                "formats": formats,
                "search": choice.search,
                "versions": export_versions(),
                "export_seconds": round(time.perf_counter() - started, 2),
            }
        )
        write_card(folder, card)
        return card

    def _write_formats(
        self,
        subnet: nn.Module,
        images: Tensor,
        preprocessing: Preprocessing,
        reference: Tensor,
        reference_name: str,
        folder: Path,
        name: str,
        data: FormatData,
    ) -> tuple[dict[str, Any], dict[str, float]]:
        """Write each format, load it back from disk, run it on ``images`` and check it against ``reference``
        (relative to the largest logit for a format with its own relative tolerance, e.g. int8)."""
        formats: dict[str, Any] = {}
        parity: dict[str, float] = {}
        for fmt in self.options.formats:
            spec = FORMATS[fmt]
            began = time.perf_counter()
            extra = {"data": data} if spec.needs_data else {}
            details = spec.write(subnet, images, folder, preprocessing, **extra)
            seconds = time.perf_counter() - began
            output = spec.load(folder)(images)
            if spec.relative_tolerance is not None:
                parity[fmt] = relative_diff(output, reference)
                self.log(f"{name}: {fmt} written in {seconds:.2f} s, relative max diff {parity[fmt]:.3g}")
                check_parity(fmt, parity[fmt], spec.relative_tolerance, reference_name + ", relative")
            else:
                parity[fmt] = max_abs_diff(output, reference)
                self.log(f"{name}: {fmt} written in {seconds:.2f} s, max abs diff {parity[fmt]:.3g}")
                check_parity(fmt, parity[fmt], self.options.tolerance, reference_name)
            formats[fmt] = {
                "files": describe_files(folder, spec.files),
                "summary": spec.summary,
                "export_seconds": round(seconds, 3),
            }
            if details:
                formats[fmt]["details"] = dict(details)
        return formats, parity

    def _card(
        self, choice: ArchChoice, name: str, folder: Path, calibration_images: int, accuracy: dict[str, Any]
    ) -> dict[str, Any]:
        """The card's description of the arch, its input, its costs and its measured accuracy."""
        arch, space, data = choice.arch, self.space, self.data
        resolution = int(arch["resolution"])
        after, before = accuracy["after"], accuracy["before"]
        return {
            "card_format": CARD_FORMAT,
            "card_version": CARD_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "name": name,
            "folder": str(folder),
            "given": choice.given,
            "space": space.name,
            "num_classes": self.supernet.num_classes,
            "arch_key": arch.key,
            "arch": arch.to_dict(),
            "ofa_config": space.to_ofa_config(arch),
            "input": {
                "shape": [1, 3, resolution, resolution],
                "dtype": "float32",
                "layout": "NCHW",
                "data": data.name,
                "mean": list(getattr(data.train, "mean", (0.0, 0.0, 0.0))),  # the train split's normalization
                "std": list(getattr(data.train, "std", (1.0, 1.0, 1.0))),
                "class_names": list(data.class_names),
            },
            "supernet": {"path": str(self.path), "sha256": self.digest},
            "macs": self.costs.macs(arch),
            "params": self.costs.params(arch),
            "memory": self.costs.memory_report(arch),
            "accuracy": {
                "data": data.name,
                "split": "test",
                "accuracy": after.accuracy,
                "loss": after.loss,
                "images": after.images,
                "calibration_images": calibration_images,
                "before_finetune": None if before is None else asdict(before),
            },
        }


def _eager(model: nn.Module, images: Tensor) -> Tensor:
    with torch.no_grad():
        return model.eval()(images)


def _options(formats: Sequence[str], data: str | DataSplits | None, options: dict[str, Any]) -> ExportOptions:
    if isinstance(formats, str):
        formats = [formats]
    if isinstance(data, DataSplits):
        options = {**options, "data": data.name}
    elif data is not None:
        options = {**options, "data": data}
    try:
        return ExportOptions(formats=tuple(formats), **options).checked()
    except TypeError as exc:
        raise ConfigError(f"unknown export option: {exc}", field="options") from None


def export_subnet(
    supernet_path: str | Path,
    arch: ArchLike,
    out_dir: str | Path,
    formats: Sequence[str] = ("pytorch", "onnx"),
    data: str | DataSplits | None = "digits",
    *,
    overwrite: bool = False,
    log: Log | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Export one subnet into ``out_dir`` (its files, ``card.json`` and ``card.md``); return its card.

    ``arch``: an :class:`Arch`, labels, or any ARCH text (``smallest``, JSON file, inline JSON, OFA config,
    ``RUN:rank``). ``options`` are :class:`ExportOptions` fields. An existing ``out_dir`` is refused unless
    ``overwrite``, and then replaced only after the new export passed every check.
    """
    settings = _options(formats, data, options)
    check_destination(out_dir, overwrite)
    exporter = SubnetExporter(supernet_path, settings, data if isinstance(data, DataSplits) else None, log)
    choice = exporter.resolve(arch)
    with staged_folder(out_dir, overwrite) as folder:
        return exporter.export_into(choice, folder, Path(out_dir))


def export_subnets(
    supernet_path: str | Path,
    archs: Sequence[ArchLike],
    out_dir: str | Path,
    formats: Sequence[str] = ("pytorch", "onnx"),
    data: str | DataSplits | None = "digits",
    *,
    names: Sequence[str] | None = None,
    overwrite: bool = False,
    log: Log | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Export several subnets into ``out_dir/<name>/`` (default names ``subnet-<i>``) plus ``out_dir/index.csv``;
    return their cards. All or nothing: one failed check leaves no ``out_dir``."""
    settings = _options(formats, data, options)
    check_destination(out_dir, overwrite)
    exporter = SubnetExporter(supernet_path, settings, data if isinstance(data, DataSplits) else None, log)
    choices = [exporter.resolve(arch) for arch in archs]
    folders = list(names) if names is not None else [f"subnet-{i}" for i in range(len(choices))]
    return _export_many(exporter, choices, folders, Path(out_dir), overwrite)


def export_front(
    supernet_path: str | Path,
    run_dir: str | Path,
    out_dir: str | Path,
    formats: Sequence[str] = ("pytorch", "onnx"),
    data: str | DataSplits | None = "digits",
    *,
    overwrite: bool = False,
    log: Log | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Export every distinct arch of a search run's Pareto front into ``out_dir/rank-<i>/`` (``i``: its row in
    ``front.csv``; a row repeating an earlier row's arch is skipped) plus ``out_dir/index.csv``."""
    settings = _options(formats, data, options)
    check_destination(out_dir, overwrite)
    exporter = SubnetExporter(supernet_path, settings, data if isinstance(data, DataSplits) else None, log)
    choices, folders, seen = [], [], set()
    for rank, choice in enumerate(front_choices(run_dir, exporter.space)):
        if choice.arch not in seen:
            seen.add(choice.arch)
            choices.append(choice)
            folders.append(f"rank-{rank}")
    if not choices:
        raise ConfigError(f"the front of {run_dir} is empty; nothing to export", field="front", value=str(run_dir))
    return _export_many(exporter, choices, folders, Path(out_dir), overwrite)


def _export_many(
    exporter: SubnetExporter, choices: list[ArchChoice], folders: list[str], out_dir: Path, overwrite: bool
) -> list[dict[str, Any]]:
    if len(folders) != len(choices) or len(set(folders)) != len(folders):
        raise ConfigError(f"need {len(choices)} distinct folder names, got {folders}", field="names", value=folders)
    for folder in folders:
        if not folder or folder.startswith(".") or "/" in folder or "\\" in folder:
            raise ConfigError(f"folder name {folder!r} must be a plain name", field="names", value=folder)
    cards = []
    with staged_folder(out_dir, overwrite) as staging:
        for folder, choice in zip(folders, choices):
            (staging / folder).mkdir()
            exporter.log(f"exporting {choice.given} into {out_dir / folder}")
            cards.append(exporter.export_into(choice, staging / folder, out_dir / folder))
        write_table(pd.DataFrame([index_row(i, card) for i, card in enumerate(cards)]), staging / INDEX_FILE)
    return cards


def index_row(position: int, card: dict[str, Any]) -> dict[str, Any]:
    """One row of ``index.csv``: rank (front row, else position), folder, arch key, cost, accuracy, latencies,
    parity, and the search's predicted objectives when the arch came from a front."""
    search, latency = card.get("search") or {}, card.get("latency") or {}
    parity = card["parity"]["max_abs_diff"]
    row: dict[str, Any] = {
        "rank": search.get("rank", position),
        "folder": card["name"],
        "arch_key": card["arch_key"],
        "resolution": card["input"]["shape"][-1],
        "macs": card["macs"],
        "params": card["params"],
        "test_accuracy": card["accuracy"]["accuracy"],
        "latency_pytorch_ms": (latency.get("pytorch") or {}).get("median_ms"),
        "latency_onnxruntime_ms": (latency.get("onnxruntime") or {}).get("median_ms"),
        "parity_max_abs_diff": max(parity.values()),
    }
    row.update({f"parity_{fmt}": diff for fmt, diff in parity.items()})
    row.update({f"predicted_{name}": value for name, value in search.get("objectives", {}).items()})
    return row
