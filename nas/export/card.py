"""Model cards: ``card.json`` (every figure, machine-readable) and ``card.md`` (the same for people) beside an
exported subnet's files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from nas.core.runs import package_versions
from nas.training.evaluation import file_digest
from search_spaces.atomic import atomic_write_json, atomic_write_text

__all__ = ["CARD_FORMAT", "CARD_VERSION", "describe_files", "export_versions", "render_card", "write_card"]

CARD_FORMAT = "nas-model-card"
CARD_VERSION = 1
_EXPORT_PACKAGES = ("onnx", "onnxruntime", "onnxscript", "safetensors")


def export_versions() -> dict[str, str | None]:
    """The run's package versions (:func:`nas.core.runs.package_versions`) plus the exporters' and runtimes'."""
    return package_versions(_EXPORT_PACKAGES)


def describe_files(folder: Path, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Name, size and SHA-256 of each written file."""
    return [
        {"name": name, "bytes": (folder / name).stat().st_size, "sha256": file_digest(folder / name)} for name in names
    ]


def write_card(folder: Path, card: dict[str, Any]) -> None:
    """Write ``card.json`` and ``card.md`` into ``folder``."""
    atomic_write_json(folder / "card.json", card)
    atomic_write_text(folder / "card.md", render_card(card))


def _mib(size: float) -> str:
    return f"{size / 2**20:.2f} MiB"


def _ms(timing: dict[str, Any] | None) -> str:
    return "-" if not timing else f"{timing['median_ms']:.3f} ms (IQR {timing['iqr_ms']:.3f}, {timing['repeats']} runs)"


def render_card(card: dict[str, Any]) -> str:
    """The Markdown model card."""
    accuracy, memory, parity, image = card["accuracy"], card["memory"], card["parity"], card["input"]
    resolution = image["shape"][-1]
    rows = [
        ("space", f"`{card['space']}`, {card['num_classes']} classes"),
        (
            "input",
            f"float32 NCHW `(N, 3, {resolution}, {resolution})`, normalized per channel with mean "
            f"{_floats(image['mean'])} and std {_floats(image['std'])} (data set `{image['data']}`)",
        ),
        ("MACs (batch 1)", f"{card['macs']:,}"),
        ("parameters", f"{card['params']:,}"),
        (
            "test accuracy",
            f"{100 * accuracy['accuracy']:.2f} % on {accuracy['images']} `{accuracy['data']}` "
            f"{accuracy['split']} images (loss {accuracy['loss']:.4f}; BN recalibrated on "
            f"{accuracy['calibration_images']} training images)",
        ),
        ("weights", f"{_mib(memory['weights_bytes_fp32'])} fp32, {_mib(memory['weights_bytes_int8'])} int8"),
        (
            "inference peak memory",
            f"{_mib(memory['inference_peak_bytes'])} (fp32, batch 1, eager); MCUNet int8 "
            f"peak {_mib(memory['mcunet_int8_peak_bytes'])}",
        ),
        ("training memory", f"{_mib(memory['training']['total_bytes'])} (batch 2, SGD momentum)"),
    ]
    latency = card.get("latency")
    if latency:
        where = f"{latency['cpu']}, batch {latency['batch']}, {_count(latency['threads'], 'thread')}"
        rows.append(("latency, PyTorch eager", f"{_ms(latency.get('pytorch'))} on {where}"))
        if latency.get("onnxruntime"):
            rows.append(("latency, ONNX Runtime", f"{_ms(latency['onnxruntime'])} on {where}"))
        if latency.get("onnxruntime_int8"):
            rows.append(("latency, ONNX Runtime int8", f"{_ms(latency['onnxruntime_int8'])} on {where}"))
    int8 = (card["formats"].get("onnx-int8") or {}).get("details")
    if int8:
        rows.append(
            (
                "int8 test accuracy",
                f"{100 * int8['accuracy_int8']:.2f} % ({100 * int8['accuracy_change']:+.2f} points against float32's "
                f"{100 * int8['accuracy_float32']:.2f} %; ONNX Runtime static quantization calibrated on "
                f"{int8['calibration_images']} training images)",
            )
        )
    if card.get("finetune"):
        tune, before = card["finetune"], accuracy.get("before_finetune") or {}
        rows.append(
            (
                "fine-tuned",
                f"{_count(tune['epochs'], 'epoch')} of SGD (lr {tune['lr']}, batch {tune['batch_size']}); "
                f"test accuracy before {100 * before.get('accuracy', float('nan')):.2f} %",
            )
        )
    lines = [
        f"# Subnet `{card['arch_key']}` of `{card['space']}`",
        "",
        f"Exported {card['created']} from supernet `{card['supernet']['path']}` "
        f"(sha256 `{card['supernet']['sha256'][:16]}...`); arch given as `{card['given']}`.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in rows),
        "",
        "## Formats and parity",
        "",
        f"Every artifact was loaded back from disk and run on {parity['images']} test images; its outputs are "
        f"compared with the {parity['reference']}: maximum absolute difference, tolerance {parity['tolerance']:g} "
        "(int8: relative to the largest logit, within the format's own tolerance). "
        f"The extracted subnet itself differs from the supernet by {parity['extraction_max_abs_diff']:.3g}.",
        "",
        "| format | files | max abs diff | how to load |",
        "|---|---|---|---|",
    ]
    for name, entry in card["formats"].items():
        files = ", ".join(f"`{f['name']}` ({_mib(f['bytes'])})" for f in entry["files"])
        lines.append(f"| {name} | {files} | {parity['max_abs_diff'][name]:.3g} | {entry['summary']} |")
    lines += _timm_section(card)
    lines += ["", "## Architecture", "", "```json", json.dumps(card["arch"]), "```"]
    if card.get("ofa_config"):
        lines += ["", "OFA config:", "", "```json", json.dumps(card["ofa_config"]), "```"]
    search = card.get("search")
    if search:
        objectives = ", ".join(f"{k} {_number(v)}" for k, v in search["objectives"].items())
        lines += [
            "",
            "## Search",
            "",
            f"Rank {search['rank']} of the front ({search['front_size']} rows) of search run `{search['run']}` "
            f"(trial {search['trial']}); predicted: {objectives}; budgets: {', '.join(search['budgets']) or 'none'}.",
            "",
            "| metric | predicted by the search |",
            "|---|---|",
            *(f"| {k} | {_number(v)} |" for k, v in search["metrics"].items()),
        ]
        if search.get("in_domain") is not None:
            lines += ["", _domain_sentence(search["in_domain"])]
    versions = ", ".join(f"{k} {v}" for k, v in card["versions"].items() if v)
    lines += ["", "## Versions", "", versions, ""]
    return "\n".join(lines)


def _timm_section(card: dict[str, Any]) -> list[str]:
    """How to load the ``timm`` format's model and what its ``pretrained_cfg`` says (nothing without it)."""
    details = (card["formats"].get("timm") or {}).get("details")
    if not details:
        return []
    folder = f"{card['folder']}/{details['folder']}"
    cfg = details["pretrained_cfg"]
    size = cfg["input_size"][-1]
    if cfg["crop_mode"] == "center":
        side = math.floor(size / cfg["crop_pct"])
        steps = f"shorter side resized to {side} px ({cfg['interpolation']}), centre crop {size} x {size}"
    else:
        steps = f"stretched whole to {size} x {size} ({cfg['interpolation']})"
    return [
        "",
        "## timm",
        "",
        f"`{details['folder']}/` holds the subnet as timm's own `{details['timm_class']}`: `model.safetensors` (the "
        "weights under timm's names), `config.json` (the class, its constructor options, the arch and a "
        "`pretrained_cfg`) and `load_timm.py`, which rebuilds the model with torch, timm and safetensors only and "
        "loads the weights with `strict=True`; the parity check above ran this very file.",
        "",
        "```python",
        "import sys",
        "",
        "import timm",
        "",
        f"sys.path.insert(0, {folder!r})",
        "from load_timm import load_timm_model",
        "",
        f"model = load_timm_model({folder!r})  # eval mode",
        "transform = timm.data.create_transform(**timm.data.resolve_data_config(model=model))",
        "```",
        "",
        f"`python {folder}/load_timm.py` loads it and prints a one-line summary. The `pretrained_cfg` (which "
        f"`resolve_data_config` reads) prepares an image as the export's evaluation did: {steps}, normalized with "
        f"mean {_floats(cfg['mean'])} and std {_floats(cfg['std'])}:",
        "",
        "```json",
        json.dumps(cfg),
        "```",
    ]


def _domain_sentence(inside: bool) -> str:
    """Whether the predicted figures above are interpolation or extrapolation."""
    if inside:
        return "In domain: the subnet lies within what the accuracy predictor's training rows covered."
    return (
        "**Out of domain**: the subnet lies outside what the accuracy predictor's training rows covered (an unseen "
        "resolution or block choice, or a cost outside the seen range); its predicted accuracy is an extrapolation."
    )


def _floats(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ")"


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e4:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
