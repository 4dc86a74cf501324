"""Typed dataclass configs read from YAML, with ``key=value`` command-line overrides.

Every trainer takes ``--config file.yaml`` plus overrides such as ``optim.lr=2e-4`` or
``model.strides=[2,4]``; values are parsed as YAML scalars/lists and checked against the
dataclass field types, so a typo in a key or a wrong type is a :class:`ConfigError` naming it.

Numbers are range-checked where they are read, against the range each field declares with the
helpers of :mod:`svae_tts.field_ranges` (re-exported here, so a config module imports its field
helpers and its loader from one place).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, Callable, Type, TypeVar

import yaml

from svae_tts.errors import ConfigError
from svae_tts.field_ranges import (Checked, check_order, check_value, field_range, in_range, nonneg, positive, ranged,
                                   require_order, sample_rate_field, seed_field, show_value)
from svae_tts.fileio import atomic_write_text
from svae_tts.textio import read_yaml as read_yaml_file

T = TypeVar("T")

__all__ = [  # the loader, and the field helpers config modules import from here
    "Checked", "apply_overrides", "from_dict", "in_range", "load_config", "nonneg", "positive", "ranged", "read_yaml",
    "require_order", "sample_rate_field", "save_config", "seed_field", "to_dict",
]


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _name(src: str, key: str) -> str:
    return f"{src}: {key}" if key else src


def _child(key: str, sub: str | int) -> str:
    if isinstance(sub, int):
        return f"{key}[{sub}]"
    return f"{key}.{sub}" if key else sub


def _coerce(value: Any, tp: Any, src: str, key: str = "") -> Any:
    """Convert a YAML value to the annotated type (recursing into dataclasses, lists, dicts).

    ``src`` names the input (a file, an override list) and ``key`` the dotted key inside it.
    One ``_coerce_*`` per kind of annotation; a type none of them knows is passed through."""
    if tp is Any or tp is typing.Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, typing.get_args(tp), src, key)
    if _is_dataclass_type(tp):
        return _coerce_dataclass(value, tp, src, key)
    if origin in (list, tuple, typing.Sequence):
        return _coerce_sequence(value, origin, typing.get_args(tp), src, key)
    if origin is dict:
        return _coerce_dict(value, typing.get_args(tp), src, key)
    if origin is typing.Literal:
        return _coerce_literal(value, typing.get_args(tp), _name(src, key))
    for scalar, coerce in _SCALARS:
        if tp is scalar:
            return coerce(value, _name(src, key))
    return value


def _coerce_union(value: Any, args: tuple, src: str, key: str) -> Any:
    """``X | None`` and other unions: ``None`` where allowed, else the first member that accepts the
    value; when none does, the first member's error (the one a reader most likely meant)."""
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _coerce(value, arg, src, key)
        except ConfigError as exc:
            errors.append(str(exc))
    raise ConfigError(errors[0] if errors else f"{_name(src, key)}: cannot be {value!r}")


def _coerce_dataclass(value: Any, tp: type, src: str, key: str) -> Any:
    """A nested config section: a mapping built (and checked) like the top level, or an instance kept."""
    if isinstance(value, tp):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{_name(src, key)}: expected a mapping for {tp.__name__}, got {value!r}")
    return _from_dict(tp, value, src, key)


def _coerce_sequence(value: Any, origin: Any, args: tuple, src: str, key: str) -> Any:
    """``list[X]``, ``tuple[X, ...]`` (each item as X) and ``tuple[X, Y]`` (exactly one item per type);
    a tuple annotation gives a tuple, so configs compare equal after a YAML round trip."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{_name(src, key)}: expected a list, got {value!r}")
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(args) != len(value):
            raise ConfigError(f"{_name(src, key)}: expected {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, src, _child(key, i)) for i, (v, a) in enumerate(zip(value, args)))
    inner = args[0] if args else Any
    items = [_coerce(v, inner, src, _child(key, i)) for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _coerce_dict(value: Any, args: tuple, src: str, key: str) -> dict:
    """``dict[K, V]``: the values coerced to V (keys are taken as YAML gave them)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{_name(src, key)}: expected a mapping, got {value!r}")
    vt = args[1] if len(args) == 2 else Any
    return {k: _coerce(v, vt, src, _child(key, str(k))) for k, v in value.items()}


def _coerce_literal(value: Any, choices: tuple, where: str) -> Any:
    """``Literal[...]``: one of the listed choices, as is."""
    if value not in choices:
        raise ConfigError(f"{where}: {value!r} is not one of {list(choices)}")
    return value


def _coerce_bool(value: Any, where: str) -> bool:
    """Only YAML's true/false: ``1`` or ``"yes"`` for a flag is more likely a mistake than a wish."""
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{where}: expected true/false, got {value!r}")


def _coerce_int(value: Any, where: str) -> int:
    """An integer, or a float with no fractional part (``1e4`` steps); never a bool."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    return value


def _coerce_float(value: Any, where: str) -> float:
    """A number, or a string that parses as one (YAML reads ``1e-4`` without a dot as a string);
    an integer too large for a float is an error, not an OverflowError later."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise ConfigError(f"{where}: {show_value(value)} is too large for a number") from None


def _coerce_str(value: Any, where: str) -> str:
    """Any scalar as its text (``name: 123`` is the string "123"); a missing value, mapping or list is refused."""
    if value is None or isinstance(value, (dict, list)):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return str(value)


_SCALARS: tuple[tuple[type, Callable[[Any, str], Any]], ...] = (
    (bool, _coerce_bool), (int, _coerce_int), (float, _coerce_float), (str, _coerce_str))


def _from_dict(cls: Type[T], data: dict, src: str, key: str) -> T:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{_name(src, key)}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for old_key, new_key in getattr(cls, "RENAMED", {}).items():
        if old_key in data:
            raise ConfigError(f"{_name(src, _child(key, old_key))}: `{old_key}` was renamed `{new_key}`")
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        raise ConfigError(f"{_name(src, key)}: unknown key(s) {unknown} for {cls.__name__} (known: {sorted(fields)})")
    kwargs = {}
    for k, v in data.items():
        sub = _child(key, k)
        kwargs[k] = _coerce(v, hints[k], src, sub)
        check_value(kwargs[k], field_range(fields[k]), _name(src, sub))
    if getattr(cls, "ORDERED", ()):
        values = {k: kwargs[k] if k in kwargs else _default(f) for k, f in fields.items()}
        try:
            check_order(cls, values, lambda k: _child(key, k))
        except ConfigError as exc:
            raise ConfigError(f"{src}: {exc}") from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{_name(src, key)}: {exc}") from None
    except ConfigError as exc:  # a class's own cross-field check: say which file (and section) it is about
        msg = str(exc)
        raise ConfigError(msg if msg.startswith(src) else f"{_name(src, key)}: {msg}") from None


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def from_dict(cls: Type[T], data: dict, where: str = "config") -> T:
    """Build dataclass ``cls`` from a dict, rejecting unknown keys, wrong types and values outside
    a field's range; errors read ``"{where}: optim.lr: nan is not a number (allowed: ...)"``."""
    return _from_dict(cls, data, where, "")


def to_dict(cfg: Any) -> dict:
    """Plain-data dict of a dataclass (tuples become lists so YAML/JSON round-trip)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(cfg)


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    """Apply ``a.b.c=value`` strings (value parsed as YAML) onto a nested dict, in place."""
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip().lstrip("-")
        try:
            value = yaml.safe_load(raw) if raw.strip() != "" else ""
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {} if node.get(part) is None else node[part]
                if not isinstance(node[part], dict):
                    raise ConfigError(f"override {item!r}: {part} is not a section")
            node = node[part]
        node[parts[-1]] = value
    return data


def read_yaml(path: str | os.PathLike) -> dict:
    """A config file's mapping; a missing file, bad encoding, bad YAML or a non-mapping is a
    :class:`ConfigError` naming the file (and the line)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    return read_yaml_file(path, dict, error=ConfigError)


def load_config(cls: Type[T], path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> T:
    """Read ``path`` (optional) into dataclass ``cls`` after applying ``overrides``."""
    data = read_yaml(path) if path is not None else {}
    apply_overrides(data, overrides)
    return from_dict(cls, data, where=str(path) if path else cls.__name__)


def save_config(cfg: Any, path: str | os.PathLike) -> None:
    """Write the effective config (what a run really used) as YAML, atomically."""
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
