"""JSON text read from users' files: every way hostile text can fail becomes one ``ValueError`` whose short message
completes "<what> is ...", so a reader catches ``ValueError`` alone (``json.JSONDecodeError`` is one) and raises its
typed error.

Besides malformed text, ``json.loads`` raises ``RecursionError`` for nesting deeper than the interpreter's stack
(``[[[[...`` of 100,000 brackets) and ``ValueError`` for integers longer than Python's 4,300-digit conversion limit.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["loads"]


def loads(text: str | bytes) -> Any:
    """``json.loads``, raising ``ValueError`` (never ``RecursionError`` or ``UnicodeDecodeError``) on bad text."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to read as JSON") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    except ValueError as exc:  # e.g. an integer beyond the digit limit
        raise ValueError(f"not usable JSON: {str(exc).split(';')[0]}") from None
