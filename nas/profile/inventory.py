"""The latency tables a project holds (``nas devices``), few-shot transfer files among them: which device, runtime
and batch each was measured on, when, and how well it predicted fresh subnets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nas.supernet.latency_transfer import TransferFile
from predictors.latency import LatencyTable
from search_spaces import NasError

__all__ = ["device_rows"]


def _device(table: LatencyTable) -> str:
    """The device a table was measured on: the cluster resource it was profiled through, else ``local``."""
    return str(table.machine.get("ray_resource") or "local")


def _row(path: Path, table: LatencyTable) -> dict[str, Any]:
    validation = table.validation or {}
    row: dict[str, Any] = {
        "device": _device(table),
        "host": table.machine.get("host", ""),
        "hardware": table.machine.get("name", ""),
        "runtime": table.device,
        "space": table.space,
        "batch": table.batch,
        "created": table.created,
        "parts": len(table.entries),
        "model": table.model.method if table.model is not None else "",
        "table": str(path),
    }
    if validation:
        row.update(
            subnets=validation.get("subnets"),
            mape=validation.get("mape"),
            floor_mape=validation.get("floor_mape"),
            meets_targets=validation.get("meets_targets"),
        )
    return row


def _transfer_row(path: Path, measured: TransferFile) -> dict[str, Any]:
    """A few-shot transfer file's row: measured here, predicted from its source tables."""
    validation = measured.validation or {}
    row: dict[str, Any] = {
        "device": str(measured.machine.get("ray_resource") or "local"),
        "host": measured.machine.get("host", ""),
        "hardware": measured.machine.get("name", ""),
        "runtime": measured.device,
        "space": measured.space,
        "batch": measured.batch,
        "created": measured.created,
        "parts": 0,
        "model": f"few-shot {len(measured.archs)} from {len(measured.sources)} tables",
        "table": str(path),
    }
    if validation:
        row.update(
            subnets=validation.get("subnets"), mape=validation.get("mape"), floor_mape=validation.get("floor_mape")
        )
    return row


def device_rows(root: str | Path = "runs/latency") -> tuple[list[dict[str, Any]], list[str]]:
    """One row per latency table under ``root`` (recursively; validation reports skipped), sorted by device,
    runtime, space and batch; and one line per file that is not a readable table."""
    rows, problems = [], []
    for path in sorted(Path(root).rglob("*.json")):
        if path.name.endswith(".validation.json"):
            continue
        try:
            table = LatencyTable.load(path)
        except NasError as error:
            try:
                rows.append(_transfer_row(path, TransferFile.load(path)))
            except NasError:
                problems.append(f"{path}: {error}")
            continue
        rows.append(_row(path, table))
    rows.sort(key=lambda row: (row["device"], row["runtime"], row["space"], row["batch"], row["created"]))
    return rows, problems
