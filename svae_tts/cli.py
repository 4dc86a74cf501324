"""The ``svae-tts`` command: a thin argument parser over functions users can call from Python.

The core imports no stage package at import time. Each stage contributes its commands through a
``register(subparsers)`` function in its own ``cli`` module, listed in ``STAGE_CLI_MODULES`` and
imported only when the command line is parsed. Errors a user can cause (:class:`SvaeError`)
become one line on stderr and exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Callable

from svae_tts import __version__
from svae_tts.errors import SvaeError

# Order = order in --help. A stage that is not installed is skipped.
STAGE_CLI_MODULES = ("vae.cli", "data_prep.cli", "tts_recipes.cli", "eval.cli", "eval.demo")

EXIT_USER_ERROR = 2


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 1
    return run_reporting_errors(lambda: func(args))


if __name__ == "__main__":
    sys.exit(main())
