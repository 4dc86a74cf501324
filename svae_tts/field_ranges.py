"""The allowed range of every number a config or command line takes, and the checks that enforce it.

A field declares its range where it is defined (``lr: float = positive(1e-4)``,
``p: float = in_range(0.3, 0, 1)``, ``seed: int = seed_field()``); every number must be finite
(unless its range allows infinity) and fit in 64 bits. Configs deriving from :class:`Checked` are
checked when built directly in Python, and :mod:`svae_tts.config` checks the same ranges with the
key's full name when it reads YAML. The error names the key, the value and the allowed range, so
``max_steps=-5`` or ``optim.lr=nan`` stops the command before any work instead of training nothing
or crashing later. Kept apart from the YAML loader because every config module needs these field
helpers while only the entry points read files.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any, Callable

from svae_tts.errors import ConfigError


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
        if isinstance(value, float):
            if math.isnan(value):
                return "is not a number"
            if math.isinf(value) and not self.allow_inf:
                return "is infinite"
        # the declared bounds first: a 70-bit seed is "too large" for its 32-bit limit, which the message shows
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return "is too small"
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return "is too large"
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            return "is beyond 64 bits"
        return None

    def message(self, name: str, value: Any) -> str | None:
        """``"name: value is too small (allowed: ...)"`` or ``None`` when ``value`` is allowed."""
        why = self.problem(value)
        if why is None:
            return None
        integer = self.integer or isinstance(value, int) and not isinstance(value, bool)
        return f"{name}: {show_value(value)} {why} (allowed: {self.describe(integer)})"


ANY_NUMBER = Range()  # what every int/float field gets without a declared range: finite, 64-bit


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def show_value(value: Any) -> str:
    """A value for an error message: huge integers shortened to their first digits and length."""
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
    """The range a field declared with :func:`ranged` (or its short forms); any finite 64-bit number otherwise."""
    return f.metadata.get(RANGE_KEY, ANY_NUMBER)


def check_value(value: Any, rng: Range, name: str) -> None:
    """Raise :class:`ConfigError` when ``value`` (or any item of a list/tuple) is outside ``rng``."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_value(item, rng, f"{name}[{i}]")
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


def check_order(cls: type, values: dict[str, Any], name: Callable[[str], str]) -> None:
    """The ``ORDERED`` pairs of ``cls``: ``("lo", "hi")`` or ``("lo", "hi", unbounded)``."""
    for lo, hi, *rest in getattr(cls, "ORDERED", ()):
        require_order(name(lo), values[lo], name(hi), values[hi], rest[0] if rest else None)


@functools.lru_cache(maxsize=None)
def literal_choices(cls: type) -> dict[str, tuple]:
    """The allowed values of each ``Literal[...]`` (or ``Literal[...] | None``) field of ``cls``."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation this module cannot resolve: nothing to check
        return {}
    out = {}
    for name, tp in hints.items():
        union = typing.get_origin(tp) in (typing.Union, types.UnionType)
        members = typing.get_args(tp) if union else (tp,)
        literals = [m for m in members if typing.get_origin(m) is typing.Literal]
        if literals:
            none = (None,) if type(None) in members else ()
            out[name] = tuple(c for lit in literals for c in typing.get_args(lit)) + none
    return out


def check_fields(obj: Any, where: str | None = None) -> None:
    """Check every field of dataclass instance ``obj`` against its declared range (numbers without
    one must still be finite and fit in 64 bits), its ``Literal`` choices and its ``ORDERED`` pairs.
    Nested configs check themselves when they are built."""
    where = where or type(obj).__name__
    choices = literal_choices(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        check_value(value, field_range(f), f"{where}.{f.name}")
        if f.name in choices and value not in choices[f.name]:
            raise ConfigError(f"{where}.{f.name}: {value!r} is not one of {list(choices[f.name])}")
    check_order(type(obj), {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}, lambda k: f"{where}.{k}")


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
