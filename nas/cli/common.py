"""What every ``nas`` command shares: sub-command and action parsers that take ``--json``, emitting one JSON object
or a rendering, the one table renderer, and the data flags (declared once, defaults from the library)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nas.core.config import default
from nas.data import DataSplits, load_dataset
from nas.search.config import EvaluationConfig

__all__ = [
    "Commands",
    "DefaultsFormatter",
    "Handler",
    "actions",
    "add_data_arguments",
    "emit",
    "emit_report",
    "fmt",
    "load_data",
    "mib",
    "table",
]

Handler = Callable[[argparse.Namespace], dict[str, Any]]
Renderer = Callable[[dict[str, Any]], None]


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless it has none (``None``, an off switch) or its help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            action.default is None
            or action.default is False
            or action.default == argparse.SUPPRESS
            or "default" in text
        ):
            return text
        return super()._get_help_string(action)


class Commands:
    """The ``nas`` sub-commands: ``add`` makes one that takes ``--json``."""

    def __init__(self, parser: argparse.ArgumentParser):
        self._sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(self, name: str, help_text: str, description: str, raw: bool = False) -> argparse.ArgumentParser:
        """A sub-command; ``raw`` keeps the description's line breaks."""
        formatter = argparse.RawDescriptionHelpFormatter if raw else DefaultsFormatter
        parser = self._sub.add_parser(name, help=help_text, description=description, formatter_class=formatter)
        parser.add_argument("--json", action="store_true", help="print one JSON object on stdout (logs go to stderr)")
        return parser


def actions(parser: argparse.ArgumentParser) -> Callable[[str, str], argparse.ArgumentParser]:
    """A function adding ``ACTION`` sub-commands (each with ``--json``) under ``parser``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text, formatter_class=DefaultsFormatter)
        parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        return parser

    return action


def emit(args: argparse.Namespace, report: dict[str, Any], render: Renderer) -> int:
    """Print ``report`` as one JSON object with ``--json``, else through ``render``."""
    if args.json:
        print(json.dumps(report, default=str))
    else:
        render(report)
    return 0


def emit_report(args: argparse.Namespace, report: dict[str, Any]) -> int:
    """Print a flat report as aligned ``key: value`` lines (or JSON)."""
    return emit(args, report, lambda r: print("\n".join(f"{k:>16}: {fmt(v)}" for k, v in r.items() if k != "columns")))


def handled(handler: Handler, render: Renderer | None = None) -> Callable[[argparse.Namespace], int]:
    """The parser default ``func`` of a handler: run it and emit its report."""
    if render is None:
        return lambda args: emit_report(args, handler(args))
    return lambda args: emit(args, handler(args), render)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Rows as a right-aligned text table; ``columns`` are ``(key, header)`` pairs."""
    cells = [[header for _, header in columns]] + [[fmt(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def mib(size: float) -> str:
    return f"{size / 2**20:.2f} MiB"


def add_data_arguments(
    parser: argparse.ArgumentParser, resolution: int | None = None, calibration: bool = True
) -> None:
    """``--data``, ``--data-root``, ``--data-seed``, ``--resolution`` (and ``--calibration-images``), with the
    library's defaults (:class:`~nas.search.config.EvaluationConfig`)."""
    parser.add_argument("--data", default=default(EvaluationConfig, "data"), help="digits, cifar10 or imagefolder")
    parser.add_argument("--data-root", help="folder of the data set (cifar10, imagefolder)")
    parser.add_argument(
        "--data-seed", type=int, default=default(EvaluationConfig, "data_seed"), help="seed of the train/val/test split"
    )
    parser.add_argument(
        "--resolution",
        type=int,
        default=resolution or default(EvaluationConfig, "resolution"),
        help="stored image resolution",
    )
    if calibration:
        parser.add_argument(
            "--calibration-images",
            type=int,
            default=default(EvaluationConfig, "calibration_images"),
            help="training images for BN recalibration",
        )


def load_data(args: argparse.Namespace) -> DataSplits:
    """The data set the data flags name."""
    return load_dataset(args.data, args.data_root, resolution=args.resolution, seed=args.data_seed)
