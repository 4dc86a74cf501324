"""The options every trainer's command takes, declared once: ``svae-tts vae train``, ``svae-tts tts
train`` and ``svae-tts data train-ctc`` (and ``accelerate launch -m svae_tts <stage> train ...``).

A trainer is configured by one typed config (:mod:`svae_tts.config`): ``--config`` names a YAML
file (or a preset of that trainer), ``KEY=VALUE`` words override its fields (``optim.lr=2e-4``,
``model.strides=[2,4]``), and ``--resume`` / ``--overwrite`` are spellings of the config's own
``resume=`` / ``overwrite=true``, so the two forms mean the same on every trainer. Keeping the
options here keeps their names and help texts from drifting apart between the trainers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

KEY_VALUE_HELP = ("config overrides, each KEY=VALUE with a dotted KEY and a YAML VALUE, e.g. max_steps=500 "
                  "optim.lr=2e-4 data.train=DIR (the same grammar on every trainer; a later one wins)")
OVERWRITE_HELP = ("start afresh, replacing what an earlier run wrote at the output (run_dir, or --out) instead of "
                  "refusing it (same as overwrite=true)")
RESUME_HELP = ("auto: continue from the newest checkpoint in run_dir when there is one; PATH: from that checkpoint "
               "dir; none: start fresh and refuse a run dir that holds a run (same as resume=VALUE; default: {})")


def key_value(text: str) -> str:
    """A ``KEY=VALUE`` word, refused by argparse (one line, exit 2) when it has no ``=`` or no key,
    so a forgotten ``=`` stops the command before a config is read."""
    key, eq, _ = text.partition("=")
    if not eq or not key.strip().lstrip("-"):
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. max_steps=500)")
    return text


def add_config_options(parser: argparse.ArgumentParser, config_help: str, *, config_required: bool = False) -> None:
    """``--config``, ``--overwrite`` and the ``KEY=VALUE`` words, as every trainer spells them."""
    parser.add_argument("--config", required=config_required, metavar="CONFIG", help=config_help)
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    parser.add_argument("overrides", nargs="*", type=key_value, metavar="KEY=VALUE", help=KEY_VALUE_HELP)


def add_run_options(parser: argparse.ArgumentParser, config_help: str, resume_default: str | None, *,
                    config_required: bool = False) -> None:
    """The options of a trainer with a run dir: :func:`add_config_options` and ``--resume``
    (``resume_default``: the trainer's config default, shown in the help)."""
    add_config_options(parser, config_help, config_required=config_required)
    parser.add_argument("--resume", metavar="auto|none|PATH", default=None,
                        help=RESUME_HELP.format(resume_default or "none"))


def config_overrides(args: argparse.Namespace, *shortcuts: str) -> list[str]:
    """The ``KEY=VALUE`` words, then a command's own ``shortcuts`` (``--max-steps 5`` as
    ``max_steps=5``), then ``--resume`` and ``--overwrite`` as theirs: an option given on the
    command line wins over a word that says otherwise."""
    resume = getattr(args, "resume", None)  # trainers without a run dir have no --resume
    return [*args.overrides, *shortcuts, *([f"resume={resume}"] if resume is not None else []),
            *(["overwrite=true"] if args.overwrite else [])]


def preset_or_path(config: str | None, presets_dir: Path) -> Path | None:
    """``--config``: a YAML path, or the name of a file in ``presets_dir`` (``tiny`` for
    ``presets_dir/tiny.yaml``); a name that is neither is returned as a path, which the config
    reader then reports as not found."""
    if config is None:
        return None
    path = Path(config)
    preset = presets_dir / f"{config}.yaml"
    return preset if not path.is_file() and preset.is_file() else path
