"""One option vocabulary across every ``svae-tts`` command, each option with help text, and the
synthesis settings declared once (``tts_recipes.synthesis_settings``) for the CLI, eval and the app."""

import argparse
import dataclasses

import pytest

from svae_tts.cli import build_parser, main
from tts_recipes.errors import TTSError
from tts_recipes.synthesis_settings import SynthesisSettings, add_synthesis_options

# Spellings replaced by the one name of their meaning (right): none may come back in any command.
FORBIDDEN = {
    "--cfg": "--cfg-strength",
    "--output": "-o/--out",
    "--out-dir": "-o/--out",
    "--output-dir": "-o/--out",
    "--fast": "--preset fast",
    "--branch": "--revision",
    "--teacher": "-m/--model (the command's own model)",
    "--data-dir": "--hf-data-dir",
    "--num-workers": "--num-proc",
    "--bs": "--batch-size",
    "--force": "--overwrite",
    "--random-seed": "--seed",
    "--gpu": "--device",
    "--items": "--limit (only the first N items)",
    "--max-items": "--limit",
}
# Short options, each for one long option only.
SHORT = {"-o": "--out", "-m": "--model", "-h": "--help", "-v": "--verbose"}


def commands(parser: argparse.ArgumentParser, path=("svae-tts",)):
    """(command path, parser, its help as the parent lists it) for every command, recursively."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), sub, helps.get(name)
                yield from commands(sub, (*path, name))


def options(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if not isinstance(a, argparse._SubParsersAction)]


@pytest.fixture(scope="module")
def tree():
    return [(("svae-tts",), build_parser(), "top"), *commands(build_parser())]


def test_every_command_and_option_has_help(tree):
    missing = [" ".join(path) for path, _, help_ in tree if not help_]
    for path, parser, _ in tree:
        missing += [f"{' '.join(path)} {'/'.join(a.option_strings) or a.dest}" for a in options(parser)
                    if not (a.help or "").strip() or a.help == argparse.SUPPRESS]
    assert not missing, "options without help text:\n" + "\n".join(missing)


def test_one_name_per_meaning(tree):
    bad = []
    for path, parser, _ in tree:
        where = " ".join(path)
        strings = {s for a in options(parser) for s in a.option_strings}
        bad += [f"{where}: {s} (use {FORBIDDEN[s]})" for s in strings if s in FORBIDDEN]
        for a in options(parser):
            for short, long in SHORT.items():
                if short in a.option_strings and long not in a.option_strings:
                    bad.append(f"{where}: {short} spells {a.option_strings}, not {long}")
            if "--out" in a.option_strings and "-o" not in a.option_strings:
                bad.append(f"{where}: --out without -o")
            if "--model" in a.option_strings and "-m" not in a.option_strings:
                bad.append(f"{where}: --model without -m")
        # --vae only for a VAE beside the command's own model
        if "--vae" in strings and "--model" not in strings:
            bad.append(f"{where}: --vae is this command's own model: spell it -m/--model")
    assert not bad, "\n".join(bad)


def test_no_option_is_spelled_two_ways(tree):
    """An option with two long spellings is two names for one meaning."""
    twice = [f"{' '.join(path)}: {a.option_strings}" for path, parser, _ in tree for a in options(parser)
             if len([s for s in a.option_strings if s.startswith("--") and not s.startswith("--no-")]) > 1]
    assert not twice


def _synthesis_options(parser):
    fields = {f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(SynthesisSettings)}
    return {s: a for a in options(parser) for s in a.option_strings if s in fields}


def test_synthesize_and_eval_take_the_same_synthesis_options(tree):
    by_path = {" ".join(path): parser for path, parser, _ in tree}
    ref = _synthesis_options(by_path["svae-tts synthesize"])
    assert set(ref) == {"--nfe", "--cfg-strength", "--sway", "--speed", "--seed", "--duration", "--epss"}
    for cmd in ("svae-tts eval tts", "svae-tts eval convergence"):
        got = _synthesis_options(by_path[cmd])
        assert set(got) == set(ref) - {"--duration"}, cmd
        for flag, action in got.items():
            # one help text (eval may add to it), one type, one range
            assert action.help.split("; default")[0].startswith(ref[flag].help.split("; default")[0].split(";")[0]), flag
            for value in ("0", "-1", "1e3", "nan", "2.5"):
                same = [_accepts(a, value) for a in (action, ref[flag])]
                assert same[0] == same[1], (cmd, flag, value)
        assert got["--seed"].default == 0 and ref["--seed"].default is None  # eval's seeds are per-item offsets


def _accepts(action, value):
    if action.type is None:
        return "flag"
    try:
        return action.type(value)
    except argparse.ArgumentTypeError:
        return "refused"


@pytest.mark.parametrize("argv, old", [
    (["synthesize", "-m", "m", "-o", "o.wav", "--cfg", "2"], "--cfg"),  # not taken for --cfg-strength
    (["synthesize", "-m", "m", "-o", "o.wav", "--output", "o.wav"], "--output"),
    (["vae", "encode", "in", "-o", "o", "--out-dir", "o", "-m", "m"], "--out-dir"),
    (["demo", "--fast"], "--fast"),
    (["data", "latents", "--corpus", "c", "-m", "v", "--vae", "v", "-o", "o"], "--vae"),
    (["eval", "probe", "-m", "v", "--vae", "v", "--corpus", "c", "-o", "o"], "--vae"),
    (["synthesize", "-m", "m", "-o", "o.wav", "--ref", "r.wav"], "--ref"),  # no abbreviation of --ref-audio
])
def test_old_spellings_are_refused_in_one_line(argv, old, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and old in err and "error:" in err


def test_demo_help_gives_the_measured_time_and_one_budget_option(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "about 19 min on 2 quiet CPU cores" in out and "20-25" not in out
    assert "--preset" in out and "--fast" not in out
    assert build_parser().parse_args(["demo"]).preset == "default"


# -- the settings dataclass ----------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({"nfe": 0}, "nfe: 0 is too small (allowed: an integer >= 1 and <= 1000)"),
    ({"nfe": 1001}, "nfe: 1001 is too large"),
    ({"nfe": 2.5}, "nfe: 2.5 is not an integer"),
    ({"cfg_strength": -0.5}, "cfg_strength: -0.5 is too small (allowed: a finite number >= 0)"),
    ({"sway": float("inf")}, "sway: inf is infinite"),
    ({"speed": 20.0}, "speed: 20.0 is too large (allowed: a finite number >= 0.1 and <= 10)"),
    ({"seed": -1}, "seed: -1 is too small"),
    ({"duration": 0.0}, "duration: 0.0 is too small (allowed: a finite number > 0 and <= 300)"),
    ({"epss": "yes"}, "epss: 'yes' is not true or false"),
])
def test_settings_refuse_a_bad_value_in_one_line_naming_it(change, message):
    with pytest.raises(TTSError) as info:
        SynthesisSettings(**change)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_settings_parse_reads_page_values_as_the_cli_does():
    s = SynthesisSettings.parse(nfe=8.0, cfg_strength="1.5", speed=" 1.25 ", seed="7")
    assert (s.nfe, s.cfg_strength, s.speed, s.seed) == (8, 1.5, 1.25, 7) and isinstance(s.nfe, int)
    with pytest.raises(TTSError, match=r"^--nfe: '0' is too small"):
        SynthesisSettings.parse(nfe=0)
    with pytest.raises(TTSError, match=r"^--cfg-strength: 'x' is not a number"):
        SynthesisSettings.parse(cfg_strength="x")


def test_settings_argv_parses_back_to_the_same_settings():
    parser = argparse.ArgumentParser()
    add_synthesis_options(parser)
    want = SynthesisSettings(nfe=7, cfg_strength=1.5, sway=0.0, speed=0.8, seed=3, duration=2.5, epss=False)
    assert SynthesisSettings.from_args(parser.parse_args(want.argv())) == want
    assert SynthesisSettings().argv() == []  # nothing off its default
    assert SynthesisSettings(cfg_strength=1.5).argv(["nfe", "cfg_strength"]) == ["--nfe", "32", "--cfg-strength", "1.5"]
