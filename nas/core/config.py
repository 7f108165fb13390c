"""Typed configuration: dataclasses filled from YAML or dicts, with unknown keys and wrong types as errors.

``parse_config(TrainConfig, mapping)`` checks every field against its type hint (int, float, str, bool,
``Literal[...]``, optional, lists and nested dataclasses) and raises :class:`ConfigError` naming the dotted path of
the field, the value and what is allowed; a float must be finite. YAML is parsed with PyYAML's safe loader, which
here also refuses repeated keys: configs are data, never code.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from search_spaces import ConfigError
from search_spaces.errors import short_repr

__all__ = ["config_to_dict", "default", "load_yaml", "parse_config"]

T = TypeVar("T")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that repeats a key (plain PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {short_repr(key_node.value)}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping from ``path`` (safe loader)."""
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"config file {source} does not exist", field="config", value=str(source))
    try:
        data = yaml.load(source.read_text(), Loader=_UniqueKeyLoader)  # a SafeLoader
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {source} is not valid YAML: {_yaml_problem(exc)}", field="config") from None
    except RecursionError:
        raise ConfigError(f"config file {source} is nested too deeply to read", field="config") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {source}: {exc.strerror or exc}", field="config") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"config file {source} must hold a mapping of settings, got {type(data).__name__}", field="config"
        )
    return dict(data)


def _yaml_problem(exc: Exception) -> str:
    """PyYAML's multi-line message as one line: the problem and where (line and column count from 1)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(exc).split())[:300]


def parse_config(cls: type[T], data: Mapping[str, Any], path: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; missing keys take their defaults."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{path or cls.__name__} must be a mapping, got {type(data).__name__}",
            field=path or None,
            value=data,
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = [key for key in data if key not in fields]
    if unknown:
        key = str(unknown[0])[:60]
        where = f"{path}.{key}" if path else key
        raise ConfigError(
            f"unknown config key {where!r}; allowed keys{' of ' + path if path else ''}: {', '.join(fields)}",
            field=where,
            value=data[unknown[0]],
            allowed=list(fields),
        )
    values = {
        name: _convert(data[name], hints[name], f"{path}.{name}" if path else name) for name in fields if name in data
    }
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path or cls.__name__}: {exc}", field=path or None) from None


def _convert(value: Any, hint: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0], field=path, value=value)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(
                f"{path}={short_repr(value)} not in {{{', '.join(map(repr, allowed))}}}",
                field=path,
                value=value,
                allowed=allowed,
            )
        return value
    if origin in (list, tuple):
        (item_hint, *_) = typing.get_args(hint) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path} must be a list, got {type(value).__name__}", field=path, value=value)
        items = [_convert(item, item_hint, f"{path}[{i}]") for i, item in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(hint):
        return parse_config(hint, value, path)
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}={short_repr(value)} must be true or false", field=path, value=value)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}={short_repr(value)} must be an integer", field=path, value=value)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}={short_repr(value)} must be a number", field=path, value=value)
        number = float(value) if isinstance(value, float) or abs(value) < 2**1000 else math.inf
        if not math.isfinite(number):
            raise ConfigError(f"{path}={short_repr(value)} must be a finite number", field=path, value=value)
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}={short_repr(value)} must be a string", field=path, value=value)
        return value
    raise TypeError(f"unsupported config type {hint!r} at {path}")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain dict (lists, not tuples) suitable for YAML/JSON."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def default(config: type[Any], name: str) -> Any:
    """The default of field ``name`` of a config class (what the CLI shows and uses)."""
    for item in dataclasses.fields(config):
        if item.name == name:
            if item.default_factory is not dataclasses.MISSING:
                return item.default_factory()
            return item.default
    raise KeyError(f"{config.__name__} has no field {name!r}")
