"""The one architecture parser: a name (``smallest``, ``largest``), a JSON file, inline JSON of labels, or a config
in the space's once-for-all format, each validated against its space."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from search_spaces import safe_json
from search_spaces.arch import Arch
from search_spaces.base import SearchSpace
from search_spaces.errors import InvalidArchError, short_repr
from search_spaces.registry import get_space

__all__ = ["arch_from_json", "parse_arch"]

_NAMED = ("smallest", "largest")


def arch_from_json(text: str | bytes | Mapping[str, Any], space: str | None = None) -> Arch:
    """Parse and validate a JSON object of labels (text or already decoded) against its space.

    The space comes from the ``"space"`` key or the ``space`` argument; if both are given they must agree.
    """
    data = _decode(text) if isinstance(text, (str, bytes)) else text
    if not isinstance(data, Mapping):
        raise InvalidArchError(
            f"arch must be a JSON object, got {type(data).__name__}", field="arch", value=data, allowed="object"
        )
    named = data.get("space", space)
    if named is None:
        raise InvalidArchError("arch has no 'space' key and no space was given", field="space")
    if space is not None and named != space:
        raise InvalidArchError(
            f"space={short_repr(named)} does not match the expected space {space!r}", field="space", value=named
        )
    return get_space(str(named)).validate(data)


def parse_arch(text: str, space: SearchSpace) -> Arch:
    """``smallest``, ``largest``, a path to a JSON file, or inline JSON (labels or the space's OFA format)."""
    if text in _NAMED:
        return space.smallest() if text == "smallest" else space.largest()
    stripped = text.strip()
    if not stripped.startswith("{") and not stripped.startswith("["):
        path = Path(text)
        if not path.is_file():
            raise InvalidArchError(
                f"arch {text!r} is neither 'smallest', 'largest', a JSON file nor inline JSON",
                field="arch",
                value=text,
                allowed=["smallest", "largest", "FILE.json", "{...}"],
            )
        try:
            stripped = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidArchError(f"cannot read arch file {path}: {exc}", field="arch", value=text) from None
    data = _decode(stripped)
    if isinstance(data, dict) and space.is_ofa_config(data):
        return space.from_ofa_config(data)
    return space.validate(data) if isinstance(data, dict) else arch_from_json(data, space=space.name)


def _decode(text: str | bytes) -> Any:
    try:
        return safe_json.loads(text)
    except ValueError as exc:
        raise InvalidArchError(f"arch is {exc}", field="arch", value=text[:80]) from None
