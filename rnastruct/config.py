"""YAML configs -> typed dataclasses, with type-checked ``key=value`` overrides.

Unknown keys are an error (a typo must not silently fall back to a default), and every value is
checked against the field's type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import InputError

T = TypeVar("T")


def _check(cls, name: str, value: Any, where: str) -> Any:
    """Coerce ``value`` to the annotated type of field ``name`` or raise InputError."""
    hints = typing.get_type_hints(cls)
    tp = hints[name]
    if dataclasses.is_dataclass(tp):  # a nested section, e.g. ``model:`` in a training config
        if dataclasses.is_dataclass(value):
            return value
        return from_dict(tp, value, f"{where}: {name}")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        tp = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    try:
        if origin in (list, tuple):
            if isinstance(value, str):
                value = value.split(",") if value else []
            if not isinstance(value, (list, tuple)):
                raise TypeError
            return [_scalar(args[0] if args else str, v) for v in value]
        return _scalar(tp, value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {name} must be {getattr(tp, '__name__', tp)}, got {value!r}") from None


def _scalar(tp, value):
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise TypeError
    if tp is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise TypeError
        return int(value)
    if tp is float:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)):
            raise TypeError
        return str(value)
    return value


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise InputError."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping of keys to values, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(names))}")
    return cls(**{k: _check(cls, k, v, where) for k, v in data.items()})  # type: ignore[call-arg]


def load_config(cls: type[T], path: str | Path | None = None, overrides: dict | None = None,
                sets: list[str] | None = None) -> T:
    """Defaults <- YAML file ``path`` <- ``overrides`` (a dict) <- ``sets`` (``key=value``)."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise InputError(f"{p}: no such config file")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as e:
            raise InputError(f"{p}: not valid YAML ({e})") from None
        if loaded is not None:
            from_dict(cls, loaded, str(p))  # validates keys and types, naming the file
            data.update(loaded)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    for item in sets or []:
        if "=" not in item:
            raise InputError(f"--set {item!r}: expected key=value (dotted keys reach sections)")
        key, value = item.split("=", 1)
        *sections, leaf = key.strip().split(".")
        node = data
        for sec in sections:
            node = node.setdefault(sec, {})
            if not isinstance(node, dict):
                raise InputError(f"--set {item!r}: {sec} is not a section")
        node[leaf] = yaml.safe_load(value) if value else ""
    return from_dict(cls, data)
