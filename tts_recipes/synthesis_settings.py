"""The settings of one synthesis call, declared once: what ``Synthesizer.synthesize`` takes besides
the text and the reference.

Each field carries its range, default and help text. ``svae-tts synthesize``, the ``svae-tts eval``
commands that synthesise (:func:`add_synthesis_options`), the app's page (:meth:`SynthesisSettings.parse`)
and :meth:`tts_recipes.synthesis.Synthesizer.synthesize` all read them from here, so an option has one
name (its flag is the field name with dashes: ``cfg_strength`` is ``--cfg-strength``, F5-TTS's
name), one range and one help text wherever it appears, and a value one of them accepts, the
others accept too.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable

from svae_tts.field_ranges import RANGE_KEY, SEED_MAX, Range, field_range, show_value
from tts_recipes.errors import TTSError

MAX_NFE = 1000  # ODE steps (F5-TTS uses 16-32)
SPEED_RANGE = (0.1, 10.0)  # speaking rate vs the reference
MAX_DURATION = 300.0  # seconds generated in one pass; longer text is better split into several lines
HELP_KEY = "svae_help"
UNSET_KEY = "svae_unset"


def setting(default: Any, rng: Range | None, help: str, unset: str = "") -> Any:
    """A settings field: its default, its range (``None``: not a number), its help text (without
    the default, which the option adds) and, for a field that may be ``None``, what ``None`` means."""
    return dataclasses.field(default=default, metadata={RANGE_KEY: rng or Range(), HELP_KEY: help, UNSET_KEY: unset})


def with_default(name: str, default: Any) -> Any:
    """The field ``name`` of :class:`SynthesisSettings` with another default, for a subclass whose
    command means something else by leaving it out (eval's seed: 0, the base of per-item seeds)."""
    f = SynthesisSettings.__dataclass_fields__[name]
    return dataclasses.field(default=default, metadata=f.metadata)


@dataclass(frozen=True)
class SynthesisSettings:
    """How to synthesise: every field is checked when the settings are built (:meth:`validate`)."""

    nfe: int = setting(32, Range(1, MAX_NFE, integer=True),
                       f"ODE steps, i.e. flow evaluations per chunk, 1 to {MAX_NFE} (F5-TTS uses 16-32)")
    cfg_strength: float = setting(2.0, Range(lo=0), "classifier-free guidance strength, >= 0 (0 = no guidance)")
    sway: float = setting(-1.0, Range(), "sway sampling coefficient: below 0 puts more of the steps near the noise "
                                         "end (F5-TTS: -1)")
    speed: float = setting(1.0, Range(*SPEED_RANGE),
                           f"speaking-rate factor vs the reference, {SPEED_RANGE[0]:g} to {SPEED_RANGE[1]:g}")
    seed: int | None = setting(None, Range(0, SEED_MAX, integer=True), "random seed, 0 to 2**32-1",
                               unset="drawn at random and printed")
    duration: float | None = setting(None, Range(0, MAX_DURATION, lo_open=True),
                                     f"seconds of generated speech, over 0 and at most {MAX_DURATION:g} (overrides "
                                     "--speed)", unset="from the reference's speaking rate and --speed")
    epss: bool = setting(True, None, "f5-tts's pruned step schedule for NFE 5, 6, 7, 10, 12 and 16 (other NFEs are "
                                     "uniform either way)")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`TTSError` with one line naming the setting, the value and the allowed range."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue
            if f.type in ("bool", bool) or isinstance(f.default, bool):
                if not isinstance(value, bool):
                    raise TTSError(f"{f.name}: {show_value(value)} is not true or false")
                continue
            rng = field_range(f)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or rng.integer and not isinstance(value, int):
                raise TTSError(f"{f.name}: {show_value(value)} is not {rng.describe()}")
            msg = rng.message(f.name, value)
            if msg is not None:
                raise TTSError(msg)

    @classmethod
    def parse(cls, base: "SynthesisSettings | None" = None, **values: Any) -> "SynthesisSettings":
        """Settings from loosely typed values (a web page's ``"8"`` or slider's ``8.0``), each read by
        its option's command-line parser, so the page accepts what the command line does; a bad one
        is one line naming the option (``--nfe: '0' is too small ...``)."""
        parsed = {}
        kinds = {f.name: f for f in dataclasses.fields(cls)}
        for name, value in values.items():
            f = kinds[name]
            if value is None or isinstance(value, bool):
                parsed[name] = value
                continue
            if isinstance(value, float) and value.is_integer() and field_range(f).integer:
                value = int(value)
            try:
                parsed[name] = _option_type(f)(str(value).strip())
            except argparse.ArgumentTypeError as exc:
                raise TTSError(f"{flag(name)}: {exc}") from None
        return dataclasses.replace(base or cls(), **parsed)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "SynthesisSettings":
        """The settings :func:`add_synthesis_options` put on ``args`` (fields it did not add keep their default)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in vars(args).items() if k in names})

    def argv(self, names: Iterable[str] | None = None) -> list[str]:
        """The command-line words that give these settings (``names`` only, else those off their
        default), e.g. ``["--nfe", "8", "--cfg-strength", "2"]``: a result can be made again from the CLI."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        chosen = list(names) if names is not None else [n for n, f in fields.items() if getattr(self, n) != f.default]
        words: list[str] = []
        for name in chosen:
            value = getattr(self, name)
            if isinstance(value, bool):
                words.append(flag(name) if value else "--no-" + flag(name)[2:])
            elif value is not None:
                words += [flag(name), f"{value:g}" if isinstance(value, float) else str(value)]
        return words


def flag(name: str) -> str:
    """The option of a settings field: ``cfg_strength`` -> ``--cfg-strength``."""
    return "--" + name.replace("_", "-")


def _shown(f: dataclasses.Field, value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f.metadata[UNSET_KEY] if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _option_type(f: dataclasses.Field):
    from svae_tts.cli import number

    return number(field_range(f))


def add_synthesis_options(parser, *, exclude: Iterable[str] = (), defaults: SynthesisSettings | None = None,
                          help_extra: dict[str, str] | None = None) -> None:
    """Add one option per :class:`SynthesisSettings` field (not ``exclude``) to ``parser`` (or an
    argument group), with the field's range, help text and default (``defaults``' value when given);
    ``help_extra`` appends to a field's help what the command adds to its meaning."""
    defaults = defaults or SynthesisSettings()
    extra = help_extra or {}
    for f in dataclasses.fields(SynthesisSettings):
        if f.name in exclude:
            continue
        default = getattr(defaults, f.name)
        text = f.metadata[HELP_KEY] + extra.get(f.name, "") + f"; default: {_shown(f, default)}"
        if isinstance(f.default, bool):
            parser.add_argument(flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                                help=text)
        else:
            parser.add_argument(flag(f.name), dest=f.name, type=_option_type(f), default=default, help=text)


__all__ = ["MAX_DURATION", "MAX_NFE", "SPEED_RANGE", "SynthesisSettings", "add_synthesis_options", "HELP_KEY", "flag", "setting", "with_default"]
