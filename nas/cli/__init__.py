"""The ``nas`` command line: thin modules, one per command group, that parse flags into the library's typed
configs and call it.

Every subcommand that produces figures takes ``--json`` and then prints exactly one JSON object on stdout; logs and
progress go to stderr. Errors in user input print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from nas.cli import archs, bench, export, imports, latency, predictor, quickstart, search, spiking, training
from nas.cli.common import Commands, DefaultsFormatter
from search_spaces import NasError

__all__ = ["EXIT_USAGE", "build_parser", "main"]

EXIT_USAGE = 2
_GROUPS = (quickstart, training, imports, archs, predictor, latency, search, bench, export, spiking)


def build_parser() -> argparse.ArgumentParser:
    """The ``nas`` parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="nas",
        description="Hardware-aware neural architecture search on once-for-all supernets. Every command writes "
        "its outputs under runs/<name>/; add --json for one machine-readable JSON object on stdout.",
        formatter_class=DefaultsFormatter,
    )
    commands = Commands(parser)
    for group in _GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nas`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except NasError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
