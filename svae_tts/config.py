"""Typed dataclass configs read from YAML, with ``key=value`` command-line overrides.

Every trainer takes ``--config file.yaml`` plus overrides such as ``optim.lr=2e-4`` or
``model.strides=[2,4]``; values are parsed as YAML scalars/lists and checked against the
dataclass field types, so a typo in a key or a wrong type is a :class:`ConfigError` naming it.

Numbers are range-checked where they are read: a field declares its range
(``lr: float = positive(1e-4)``, ``p: float = in_range(0.3, 0, 1)``, ``seed: int = seed_field()``),
every number must be finite (unless its range allows infinity) and fit in 64 bits, and configs
deriving from :class:`Checked` are checked the same way when built directly in Python. The error
names the key, the value and the allowed range, so ``max_steps=-5`` or ``optim.lr=nan`` stops
the command before any work instead of training nothing or crashing later.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, Callable, Type, TypeVar

import yaml

from svae_tts.errors import ConfigError
from svae_tts.fileio import atomic_write_text
from svae_tts.textio import read_yaml as read_yaml_file

T = TypeVar("T")


SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit; torch and random take these too
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SAMPLE_RATE_MIN, SAMPLE_RATE_MAX = 8_000, 384_000  # speech work; svae_tts.audio reads files from 1 kHz
RANGE_KEY = "svae_range"  # dataclass field metadata key holding a Range


@dataclasses.dataclass(frozen=True)
class Range:
    """The allowed values of a number: bounds (inclusive unless ``*_open``), whether infinity may
    appear (NaN never may), and whether it must be an integer (for command-line parsing).

    One description serves config fields (:func:`ranged`) and command-line options
    (``svae_tts.cli.number``), so both say the same thing about the same quantity."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    allow_inf: bool = False
    integer: bool = False

    def describe(self, integer: bool | None = None) -> str:
        """``"an integer >= 1"``, ``"a finite number > 0 and < 1"`` ... (``integer`` overrides ``self.integer``)."""
        integer = self.integer if integer is None else integer
        conds = []
        if self.lo is not None:
            conds.append(f"{'>' if self.lo_open else '>='} {_fmt(self.lo)}")
        if self.hi is not None:
            conds.append(f"{'<' if self.hi_open else '<='} {_fmt(self.hi)}")
        kind = "an integer" if integer else ("a number" if self.allow_inf else "a finite number")
        return " ".join([kind, " and ".join(conds)]).strip()

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (``None`` when it is). Bools and non-numbers are not judged here."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            return "is beyond 64 bits"
        if isinstance(value, float):
            if math.isnan(value):
                return "is not a number"
            if math.isinf(value) and not self.allow_inf:
                return "is infinite"
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return "is too small"
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return "is too large"
        return None

    def message(self, name: str, value: Any) -> str | None:
        """``"name: value is too small (allowed: ...)"`` or ``None`` when ``value`` is allowed."""
        why = self.problem(value)
        if why is None:
            return None
        integer = self.integer or isinstance(value, int) and not isinstance(value, bool)
        return f"{name}: {_show(value)} {why} (allowed: {self.describe(integer)})"


ANY_NUMBER = Range()  # what every int/float field gets without a declared range: finite, 64-bit


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _show(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**18:
        return f"{str(value)[:12]}... ({len(str(abs(value)))} digits)"
    return repr(value)


def ranged(default: Any = dataclasses.MISSING, *, ge: float | None = None, gt: float | None = None,
           le: float | None = None, lt: float | None = None, allow_inf: bool = False,
           default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field whose value (every item, for a list) must lie in the given range.

    ``from_dict`` checks it with the key's full name; classes deriving from :class:`Checked` also
    check it when built directly in Python. Use the short forms below where they fit."""
    if ge is not None and gt is not None or le is not None and lt is not None:
        raise TypeError("give one lower bound (ge or gt) and one upper bound (le or lt)")
    rng = Range(lo=gt if gt is not None else ge, hi=lt if lt is not None else le,
                lo_open=gt is not None, hi_open=lt is not None, allow_inf=allow_inf)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={RANGE_KEY: rng})


def positive(default: Any = dataclasses.MISSING, **kw: Any) -> Any:
    """> 0 (counts, sizes, rates, learning rates, durations)."""
    return ranged(default, gt=0, **kw)


def nonneg(default: Any = dataclasses.MISSING, **kw: Any) -> Any:
    """>= 0 (weights, "0 = off" intervals, optional counts)."""
    return ranged(default, ge=0, **kw)


def in_range(default: Any = dataclasses.MISSING, lo: float | None = None, hi: float | None = None, **kw: Any) -> Any:
    """``lo <= value <= hi`` (probabilities, fractions, EMA decays ...)."""
    return ranged(default, ge=lo, le=hi, **kw)


def seed_field(default: int = 0) -> Any:
    """A random seed: an integer in ``[0, 2**32 - 1]``, which every RNG we feed accepts."""
    return ranged(default, ge=0, le=SEED_MAX)


def sample_rate_field(default: int) -> Any:
    """A sample rate speech is made or modelled at (8 kHz .. 384 kHz)."""
    return ranged(default, ge=SAMPLE_RATE_MIN, le=SAMPLE_RATE_MAX)


def field_range(f: dataclasses.Field) -> Range:
    return f.metadata.get(RANGE_KEY, ANY_NUMBER)


def _check_value(value: Any, rng: Range, name: str) -> None:
    """Raise :class:`ConfigError` when ``value`` (or any item of a list/tuple) is outside ``rng``."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_value(item, rng, f"{name}[{i}]")
        return
    msg = rng.message(name, value)
    if msg is not None:
        raise ConfigError(msg)


def require_order(lo_name: str, lo: Any, hi_name: str, hi: Any, unbounded: Any = None) -> None:
    """Two settings that bound one quantity from both sides must not cross (min/max words,
    min/max duration); ``hi == unbounded`` (e.g. 0 for "no limit") is never crossed."""
    if lo is None or hi is None or (unbounded is not None and hi == unbounded):
        return
    if lo > hi:
        raise ConfigError(f"{lo_name} ({lo}) is larger than {hi_name} ({hi})")


def _check_order(cls: type, values: dict[str, Any], name: Callable[[str], str]) -> None:
    """The ``ORDERED`` pairs of ``cls``: ``("lo", "hi")`` or ``("lo", "hi", unbounded)``."""
    for lo, hi, *rest in getattr(cls, "ORDERED", ()):
        require_order(name(lo), values[lo], name(hi), values[hi], rest[0] if rest else None)


def check_fields(obj: Any, where: str | None = None) -> None:
    """Check every field of dataclass instance ``obj`` against its declared range (numbers without
    one must still be finite and fit in 64 bits) and its ``ORDERED`` pairs. Nested configs check
    themselves when they are built."""
    where = where or type(obj).__name__
    for f in dataclasses.fields(obj):
        _check_value(getattr(obj, f.name), field_range(f), f"{where}.{f.name}")
    _check_order(type(obj), {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}, lambda k: f"{where}.{k}")


class Checked:
    """Base for config dataclasses: building one (from YAML, JSON or Python) checks each field's
    range and the class's ``ORDERED`` pairs (settings bounding one quantity from both sides, e.g.
    ``ORDERED = (("min_words", "max_words"),)``), so a bad value is refused where it is read,
    before any work starts.

    Subclasses with their own ``__post_init__`` call ``super().__post_init__()`` first."""

    ORDERED: typing.ClassVar[tuple] = ()
    RENAMED: typing.ClassVar[dict] = {}  # old key -> new key: an old YAML is told the new name, not "unknown key"

    def __post_init__(self) -> None:
        check_fields(self)


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

    ``src`` names the input (a file, an override list) and ``key`` the dotted key inside it."""
    where = _name(src, key)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
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
        raise ConfigError(errors[0] if errors else f"{where}: cannot be {value!r}")
    if _is_dataclass_type(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return _from_dict(tp, value, src, key)
    if origin in (list, tuple, typing.Sequence):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(v, a, src, _child(key, i)) for i, (v, a) in enumerate(zip(value, args)))
        inner = args[0] if args else Any
        items = [_coerce(v, inner, src, _child(key, i)) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, vt, src, _child(key, str(k))) for k, v in value.items()}
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
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
            raise ConfigError(f"{where}: {_show(value)} is too large for a number") from None
    if tp is str:
        if value is None or isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


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
        _check_value(kwargs[k], field_range(fields[k]), _name(src, sub))
    if getattr(cls, "ORDERED", ()):
        values = {k: kwargs[k] if k in kwargs else _default(f) for k, f in fields.items()}
        try:
            _check_order(cls, values, lambda k: _child(key, k))
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
