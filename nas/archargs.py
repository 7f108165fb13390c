"""Reading an architecture given on the command line: a name, a JSON file, inline JSON, or an OFA config."""

from __future__ import annotations

from pathlib import Path

from search_spaces import Arch, InvalidArchError, SearchSpace, safe_json

__all__ = ["parse_arch"]

_NAMED = ("smallest", "largest")
_OFA_KEYS = frozenset({"ks", "e", "d"})  # any of them: OFA's format (which then names what is missing)


def parse_arch(text: str, space: SearchSpace) -> Arch:
    """``smallest``, ``largest``, a path to a JSON file, or inline JSON (labels or OFA's ``ks/e/d/r`` format)."""
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
    try:
        data = safe_json.loads(stripped)
    except ValueError as exc:
        raise InvalidArchError(f"arch is {exc}", field="arch", value=text[:80]) from None
    if isinstance(data, dict) and _OFA_KEYS & set(data) and hasattr(space, "from_ofa_config"):
        return space.from_ofa_config(data)
    return space.validate(data) if isinstance(data, dict) else Arch.from_json(data, space=space.name)
