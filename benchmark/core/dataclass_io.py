"""Dataclasses to and from plain TOML/JSON values, refusing unknown keys by name.

Configuration lives in dataclasses; files only carry their fields. Reading checks every key so a
misspelt option is an error, not a silently ignored default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from benchmark.core.errors import BenchmarkError


def to_plain(value: Any, keep_none: bool = False) -> Any:
    """Dataclass → dict (recursively), tuples → lists; None dropped (TOML has no null) unless
    `keep_none` (JSON, where a None that differs from a field's default must survive).

    A value with a `to_plain()` method (a `Ratio`) is written as what that returns.
    """
    if hasattr(value, "to_plain") and not isinstance(value, type):
        return value.to_plain()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_plain(getattr(value, f.name), keep_none)
            for f in dataclasses.fields(value)
            if keep_none or getattr(value, f.name) is not None
        }
    if isinstance(value, dict):
        return {str(k): to_plain(v, keep_none) for k, v in value.items() if keep_none or v is not None}
    if isinstance(value, (list, tuple)):
        return [to_plain(v, keep_none) for v in value]
    return value


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(option, value, where)
            except BenchmarkError as error:
                errors.append(str(error))
        raise BenchmarkError(errors[0] if errors else f"{where}: unexpected value {value!r}")
    if isinstance(tp, type) and hasattr(tp, "from_plain"):
        return value if isinstance(value, tp) else tp.from_plain(value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise BenchmarkError(f"{where}: expected a table, got {value!r}")
        return build(tp, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise BenchmarkError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        if len(args) == 2 and args[1] is Ellipsis or len(args) <= 1:
            return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict and len(args) == 2:
        if not isinstance(value, dict):
            raise BenchmarkError(f"{where}: expected a table, got {value!r}")
        return {_convert(args[0], k, where): _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        if value not in args:
            raise BenchmarkError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool):
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise BenchmarkError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    return value


def build(cls: type, values: dict[str, Any], where: str) -> Any:
    """A new `cls` from a table; fields the table leaves out take their defaults."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise BenchmarkError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})")
    try:
        return cls(**{k: _convert(hints[k], v, f"{where}.{k}") for k, v in values.items()})
    except TypeError as error:
        raise BenchmarkError(f"{where}: {error}") from None


def update(instance: Any, values: dict[str, Any], where: str) -> Any:
    """A copy of the dataclass `instance` with `values` applied; nested tables update nested dataclasses."""
    hints = typing.get_type_hints(type(instance))
    names = {f.name for f in dataclasses.fields(instance)}
    changes = {}
    for key, value in values.items():
        if key not in names:
            raise BenchmarkError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(names))})")
        current = getattr(instance, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[key] = update(current, value, f"{where}.{key}")
        else:
            changes[key] = _convert(hints[key], value, f"{where}.{key}")
    return dataclasses.replace(instance, **changes)
