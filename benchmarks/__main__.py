"""``python -m benchmarks COMMAND``: ``reproduce`` re-runs the headline figures against their records; ``tables``
renders the README's benchmark table from the records (``--write`` / ``--check``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

COMMANDS = {"reproduce": "reproduce", "tables": "readme_tables"}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(
            f"usage: python -m benchmarks {{{','.join(COMMANDS)}}} [options]  (--help after a command)", file=sys.stderr
        )
        return 2
    module = __import__(COMMANDS[sys.argv[1]])
    sys.argv = [f"python -m benchmarks {sys.argv[1]}", *sys.argv[2:]]
    return module.main() or 0


if __name__ == "__main__":
    raise SystemExit(main())
