"""The ``svae-tts`` command: a thin argument parser over functions users can call from Python.

The core imports no stage package at import time. Each stage contributes its commands through a
``register(subparsers)`` function in its own ``cli`` module, listed in ``STAGE_CLI_MODULES`` and
imported only when the command line is parsed. Errors a user can cause (:class:`SvaeError`)
become one line on stderr and exit status 2; anything else is a bug and keeps its traceback.
The exit statuses are :mod:`svae_tts.errors`' ``EXIT_*``: 0 done, 2 a user error before any work,
3 done with items skipped (:func:`skipped_status` lists them on stderr), 1 a bug.

Bad command-line values are refused the same way, by argparse and in one line: every numeric
option is parsed by one of the ``type=`` helpers below (``positive_int``, ``nonneg_float``,
``seed_int``, ``float_arg(lo, hi)`` ...), which share their ranges and wording with the config
fields (:mod:`svae_tts.field_ranges`), so ``--voices 0``, ``--hours nan`` or a 70-bit seed stop the
command before it starts.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Callable

from svae_tts import __version__
from svae_tts.errors import EXIT_OK, EXIT_SKIPPED, EXIT_USER_ERROR, SvaeError, named
from svae_tts.field_ranges import SAMPLE_RATE_MAX, SAMPLE_RATE_MIN, SEED_MAX, Range
from svae_tts.log_setup import setup_logging

# Order = order in --help. A stage that is not installed is skipped.
STAGE_CLI_MODULES = ("vae.cli", "data_prep.cli", "tts_recipes.cli", "tts_recipes.app.cli", "eval.cli", "eval.demo",
                     "svae_tts.push_cli")



def run_reporting_errors(func: Callable[[], int | None], prog: str = "svae-tts") -> int:
    """Run ``func`` as a command: its return value is the exit status (``None`` = 0); a
    :class:`SvaeError` becomes one line ``"{prog}: error: ..."`` on stderr and status 2, Ctrl-C 130.

    Shared by this CLI and the stand-alone ``python -m <stage>.train`` entry points so they all
    report user errors the same way; any other exception is a bug and keeps its traceback."""
    try:
        return int(func() or 0)
    except SvaeError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def skipped_status(skipped: list[tuple[str, str]], prog: str = "svae-tts") -> int:
    """The exit status of a command that did its work but skipped some items: each skipped
    ``(item, reason)`` is one line on stderr, and the status is :data:`EXIT_SKIPPED` (3), or
    :data:`EXIT_OK` when nothing was skipped. The command's report lists them too."""
    for name, reason in skipped:
        print(f"{prog}: skipped {named(name, reason)}", file=sys.stderr)
    return EXIT_SKIPPED if skipped else EXIT_OK


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``"{prog}: error: {message} (see {prog} --help)"``, with
    exit status 2 like every other user error (argparse prints the whole usage block first).
    Sub-command parsers inherit the class, so every ``svae-tts`` command reports this way, and
    none takes an abbreviated option."""

    def __init__(self, *args, **kwargs):
        # no abbreviations: an option has one name, so an old spelling that is a prefix of the new
        # one (--cfg of --cfg-strength) is refused, not taken for it
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- argparse ``type=`` helpers: ranges for numeric options -----------------------------------------
def number(rng: Range, kind: str | None = None) -> Callable[[str], int | float]:
    """A ``type=`` function parsing an integer (``rng.integer``) or a float and refusing values
    outside ``rng`` (NaN always, infinity unless allowed, integers beyond 64 bits)."""

    def parse(text: str) -> int | float:
        try:
            value = int(text) if rng.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if rng.integer else 'a number'}") from None
        why = rng.problem(value)
        if why is not None:
            raise argparse.ArgumentTypeError(f"{text!r} {why} (allowed: {rng.describe()})")
        return value

    parse.__name__ = kind or ("int" if rng.integer else "float")
    return parse


def int_arg(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An integer in ``[lo, hi]`` (either bound may be open-ended)."""
    return number(Range(lo=lo, hi=hi, integer=True))  # type: ignore[return-value]


def float_arg(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
              hi_open: bool = False, allow_inf: bool = False) -> Callable[[str], float]:
    """A number in the range (``lo_open``: ``> lo``); finite unless ``allow_inf``, never NaN."""
    return number(Range(lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, allow_inf=allow_inf))  # type: ignore[return-value]


positive_int = int_arg(1)
nonneg_int = int_arg(0)
positive_float = float_arg(0, lo_open=True)
nonneg_float = float_arg(0)
finite_float = float_arg()
seed_int = int_arg(0, SEED_MAX)
sample_rate_int = int_arg(SAMPLE_RATE_MIN, SAMPLE_RATE_MAX)


def int_list(item: Callable[[str], int] = positive_int) -> Callable[[str], list[int]]:
    """Comma-separated integers (``--steps 1000,2000``), each parsed by ``item``."""

    def parse(text: str) -> list[int]:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers")
        return [item(p) for p in parts]

    parse.__name__ = "integer list"
    return parse


def single_char(text: str) -> str:
    """One character (a CSV delimiter); ``\\t`` as typed in a shell means a tab."""
    text = "\t" if text == "\\t" else text
    if len(text) != 1 or text in "\"\r\n":
        raise argparse.ArgumentTypeError(f"{text!r} must be one character such as ',' or a tab")
    return text


def device_arg(text: str) -> str:
    """A ``--device`` value, resolved (``auto`` -> ``cuda`` or ``cpu``) and checked by
    :func:`svae_tts.device.device_name`: a bad name or a missing GPU stops the command in one line."""
    from svae_tts.device import device_name

    try:
        return device_name(text)
    except SvaeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_device_option(parser, help_extra: str = "") -> None:
    """The ``--device`` option every command that runs a model takes, ``auto`` by default
    (argparse passes the default through ``device_arg`` too, so handlers get a checked name)."""
    from svae_tts.device import DEVICE_HELP

    parser.add_argument("--device", type=device_arg, default="auto", help=DEVICE_HELP + help_extra)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="svae-tts",
        description="Speech synthesis on semantically aligned VAE latents (Semantic-VAE + F5-TTS).",
    )
    parser.add_argument("--version", action="version", version=f"svae-tts {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in STAGE_CLI_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad argument (already reported in one line)
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USER_ERROR
    return run_reporting_errors(lambda: func(args))


if __name__ == "__main__":
    sys.exit(main())
