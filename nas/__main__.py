"""``python -m nas`` runs the command line."""

from __future__ import annotations

import sys

from nas.cli import main

sys.exit(main())
