"""The shared validation mechanisms of the core: config ranges, argparse ranges, the text reader and
the per-item failure boundary of batch jobs (issue 14)."""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import pytest
import torch

from svae_tts.boundary import item_boundary
from svae_tts.cli import float_arg, int_list, positive_int, sample_rate_int, seed_int, single_char
from svae_tts.config import (Checked, from_dict, in_range, load_config, nonneg, positive, ranged, seed_field)
from svae_tts.errors import AudioError, ConfigError, SvaeError
from svae_tts.textio import TextFileError, read_csv, read_json, read_jsonl, read_text, read_yaml


# -- config ranges ------------------------------------------------------------------------------------
@dataclass
class Inner(Checked):
    lr: float = positive(1e-3)
    betas: list[float] = ranged(ge=0, lt=1, default_factory=lambda: [0.9, 0.99])
    p: float = in_range(0.5, 0, 1)


@dataclass
class Outer(Checked):
    steps: int = positive(10)
    every: int = nonneg(0)
    seed: int = seed_field(0)
    limit: Optional[int] = positive(None)
    cap: float = positive(30.0, allow_inf=True)
    plain: float = 1.0  # no declared range: still finite
    count: int = 3  # no declared range: still 64-bit
    lo: int = nonneg(1)
    hi: int = nonneg(5)
    inner: Inner = field(default_factory=Inner)

    ORDERED = (("lo", "hi"),)


@pytest.mark.parametrize("override, message", [
    ("steps=0", r"c\.yaml: steps: 0 is too small \(allowed: an integer > 0\)"),
    ("steps=-5", r"steps: -5 is too small"),
    ("every=-1", r"every: -1 is too small \(allowed: an integer >= 0\)"),
    ("seed=-1", r"seed: -1 is too small \(allowed: an integer >= 0 and <= 4294967295\)"),
    ("seed=4294967296", r"seed: 4294967296 is too large"),
    (f"count={2**70}", r"count: 118059162071... \(22 digits\) is beyond 64 bits"),
    ("plain=nan", r"plain: nan is not a number \(allowed: a finite number\)"),
    ("plain=.inf", r"plain: inf is infinite"),
    ("plain=-1e999", r"plain: -inf is infinite"),
    (f"plain={10**400}", r"plain: .* is too large for a number"),
    ("limit=0", r"limit: 0 is too small"),
    ("inner.lr=nan", r"inner\.lr: nan is not a number \(allowed: a finite number > 0\)"),
    ("inner.lr=0", r"inner\.lr: 0\.0 is too small"),
    ("inner.betas=[0.9,1.0]", r"inner\.betas\[1\]: 1\.0 is too large \(allowed: a finite number >= 0 and < 1\)"),
    ("inner.p=1.5", r"inner\.p: 1\.5 is too large \(allowed: a finite number >= 0 and <= 1\)"),
    ("lo=9", r"c\.yaml: lo \(9\) is larger than hi \(5\)"),
])
def test_config_ranges_name_key_value_and_range(tmp_path, override, message):
    p = tmp_path / "c.yaml"
    p.write_text("steps: 4\n")
    with pytest.raises(ConfigError, match=message):
        load_config(Outer, p, [override])


def test_config_ranges_accept_what_they_allow():
    cfg = from_dict(Outer, {"steps": 1, "every": 0, "seed": 2**32 - 1, "limit": None, "cap": float("inf"),
                            "inner": {"lr": 2.0, "betas": [0.0, 0.5], "p": 1}, "lo": 5, "hi": 5})
    assert cfg.cap == math.inf and cfg.inner.p == 1.0 and cfg.limit is None


def test_checked_configs_are_validated_when_built_in_python():
    with pytest.raises(ConfigError, match=r"Inner\.lr: nan is not a number"):
        Inner(lr=float("nan"))
    with pytest.raises(ConfigError, match=r"Outer\.lo \(7\) is larger than Outer\.hi \(2\)"):
        Outer(lo=7, hi=2)


@dataclass
class Choice(Checked):
    kind: Literal["a", "b"] = "a"
    maybe: Optional[Literal["x"]] = None


def test_literal_fields_are_checked_when_built_in_python_as_from_yaml():
    assert Choice(kind="b", maybe="x").kind == "b" and Choice().maybe is None
    with pytest.raises(ConfigError, match=r"Choice\.kind: 'c' is not one of \['a', 'b'\]"):
        Choice(kind="c")
    with pytest.raises(ConfigError, match=r"Choice\.maybe: 'y' is not one of \['x', None\]"):
        Choice(maybe="y")


def _kept(loaded: dict, written: dict, where: str = "") -> None:
    """Every value a shipped file sets is the value its loaded config holds: nothing clamped,
    dropped or moved on the way in."""
    for key, value in written.items():
        if isinstance(value, dict):
            _kept(loaded[key], value, f"{where}{key}.")
        else:
            assert loaded[key] == value, f"{where}{key}: the file says {value!r}, the config holds {loaded[key]!r}"


def test_every_shipped_config_and_preset_is_in_range():
    """The ranges must not refuse anything the project ships or the demo uses, nor change a value."""
    from eval.demo import ARMS, BUDGETS
    from eval.demo import stages
    from svae_tts.config import read_yaml as read_config_file, to_dict
    from tts_recipes.train import PRESETS_DIR, load_train_config
    from vae.config import PRESETS_DIR as VAE_PRESETS_DIR, load_preset, preset_names
    from vae.train_config import TrainConfig

    root = Path(__file__).resolve().parents[1]
    files = {path: (lambda p: load_config(TrainConfig, p)) for path in (root / "vae" / "configs").glob("*.yaml")}
    files |= {VAE_PRESETS_DIR / f"{name}.yaml": (lambda p: load_preset(p.stem)) for name in preset_names()}
    files |= {path: (lambda p: load_train_config(p.stem)) for path in PRESETS_DIR.glob("*.yaml")}
    assert len(files) >= 5 + 5 + 4  # the VAE runs, the VAE architectures, the TTS presets (tiny ... base)
    for path, load in sorted(files.items()):
        try:
            _kept(to_dict(load(path)), read_config_file(path))
        except AssertionError as exc:
            raise AssertionError(f"{path.relative_to(root)}: {exc}") from None
    for budget in BUDGETS.values():
        load_preset(budget.vae_preset, budget.vae_overrides)
        for arm in ARMS:  # the typed configs the demo's stages build check every value as it is set
            vae = stages.vae_config(root / "demo", arm, budget, seed=0)
            assert (vae.max_steps, vae.data.train, vae.teacher.model == str(root / "demo" / "teacher")) == (
                budget.vae_steps, str(root / "demo" / "corpus"), arm == "semantic")
            tts = stages.tts_config(root / "demo", arm, str(root / "latents"), budget, seed=0)
            assert (tts.name, tts.max_steps, tts.data.latent_set) == (arm, budget.tts_steps, str(root / "latents"))


def test_model_config_json_values_are_range_checked(tmp_path):
    """A model dir is user input too: a config.json with heads=0 is refused, not divided by."""
    from tts_recipes.model import TTSConfig, TTSModel

    with pytest.raises(ConfigError, match=r"config\.json: dit\.heads: 0 is too small"):
        TTSModel.config_from_json({"dit": {"heads": 0}, "feature": {"dim": 4}}, "m/config.json")
    assert isinstance(TTSModel.config_from_json({"feature": {"dim": 4}}), TTSConfig)


def test_vae_train_refuses_zero_or_negative_max_steps():
    from vae.train_config import TrainConfig

    for bad in ("0", "-5"):
        with pytest.raises(ConfigError, match=r"max_steps: -?\d+ is too small \(allowed: an integer > 0\)"):
            load_config(TrainConfig, None, [f"max_steps={bad}"])


def test_sentence_window_the_grammar_cannot_fill_is_refused():
    from data_prep.sentences import SentenceGenerator

    with pytest.raises(ConfigError, match=r"min_words \(10\) is larger than max_words \(2\)"):
        SentenceGenerator(0, 10, 2)
    with pytest.raises(ConfigError, match="min_words 31"):
        SentenceGenerator(0, 31, 60)
    words = [len(s.split()) for s in SentenceGenerator(0, 25, 26).sentences(20)]
    assert all(25 <= n <= 26 for n in words)  # a rare but possible window is met, not ignored


# -- argparse ranges ------------------------------------------------------------------------------------
@pytest.mark.parametrize("parse, text, message", [
    (positive_int, "0", "'0' is too small (allowed: an integer >= 1)"),
    (positive_int, "1.5", "'1.5' is not an integer"),
    (seed_int, str(2**64), "is too large (allowed: an integer >= 0 and <= 4294967295)"),  # the real limit
    (seed_int, "-1", "is too small"),
    (sample_rate_int, "1", "(allowed: an integer >= 8000 and <= 384000)"),
    (float_arg(0, lo_open=True), "nan", "'nan' is not a number (allowed: a finite number > 0)"),
    (float_arg(0, lo_open=True), "inf", "'inf' is infinite"),
    (float_arg(0, 300, lo_open=True), "1e9", "'1e9' is too large (allowed: a finite number > 0 and <= 300)"),
    (int_list(), "3,x", "'x' is not an integer"),
    (single_char, "::", "'::' must be one character"),
])
def test_argparse_types_refuse_out_of_range(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as err:
        parse(text)
    assert message in str(err.value)


def test_argparse_types_accept_in_range():
    assert positive_int("3") == 3 and seed_int(str(2**32 - 1)) == 2**32 - 1
    assert float_arg(0, allow_inf=True)("inf") == math.inf
    assert int_list()("10, 20") == [10, 20] and single_char("\\t") == "\t"


def test_cli_argument_errors_are_one_line(capsys):
    from svae_tts.cli import main

    assert main(["data", "espeak", "--out", "x", "--voices", "many"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --voices: 'many' is not an integer" in err
    assert "see svae-tts data espeak --help" in err


# -- the text reader ---------------------------------------------------------------------------------------
def test_text_reader_names_file_line_and_problem(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes("line one\nline two\nna\xefve\n".encode("utf-8") + b"caf\xe9\n")
    with pytest.raises(TextFileError, match=r"t\.txt:4: not UTF-8 text \(byte 0xe9\)"):
        read_text(p)
    with pytest.raises(TextFileError, match=r"nope\.txt: no such file"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(TextFileError, match="is a folder"):
        read_text(tmp_path)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfpath,text\nx.wav,hi\n")
    fields, rows = read_csv(bom)
    assert fields == ["path", "text"] and rows == [(2, {"path": "x.wav", "text": "hi"})]


@pytest.mark.parametrize("reader, text, message", [
    (read_json, "[1, 2]", r"j: top level must be an object, found an array"),
    (read_json, '{"a": 1,\n "b": }', r"j:2: invalid JSON \(Expecting value, column 7\)"),
    (read_json, "[" * 100_000 + "]" * 100_000, r"j: invalid JSON \(nested too deeply\)"),
    (read_yaml, "- 1\n- 2\n", r"j: top level must be a mapping, found a list"),
    (read_yaml, "a: [1\n", r"j:2: invalid YAML"),
    (read_jsonl, '{"a": 1}\n\n[1]\n', r"j:3: expected a JSON object on each line, found an array"),
    (read_jsonl, '{"a": 1}\n{oops}\n', r"j:2: invalid JSON"),
])
def test_structured_readers_name_the_problem(tmp_path, reader, text, message):
    p = tmp_path / "j"
    p.write_text(text)
    with pytest.raises(TextFileError, match=message):
        reader(p)


def test_readers_raise_the_callers_error_type(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(AudioError, match="delimiter '::'"):
        read_csv(p, "::", error=AudioError)


# -- the per-item boundary ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make, reason", [
    (lambda: AudioError("x.wav: zero-length audio"), "x.wav: zero-length audio"),
    (lambda: ValueError("could not convert string to float: 'fast'"), "ValueError: could not convert string to float: 'fast'"),
    (lambda: MemoryError(), "out of memory (MemoryError)"),
    (lambda: RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB"), "out of memory (RuntimeError: CUDA out of memory."),
])
def test_item_boundary_reports_any_failure_and_goes_on(make, reason, caplog):
    with item_boundary("item-7") as item:
        raise make()
    assert item.failed and item.reason.startswith(reason)
    assert any("item-7: skipped" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_item_boundary_survives_a_real_allocation_failure():
    with item_boundary("huge") as item:
        torch.empty(2**62, dtype=torch.uint8)  # the allocator refuses: a real out-of-memory error
    assert item.failed and item.out_of_memory and item.reason.startswith("out of memory")
    with item_boundary("fine") as ok:
        torch.zeros(4)
    assert not ok.failed and ok.reason is None


def test_item_boundary_lets_interrupts_through():
    with pytest.raises(KeyboardInterrupt):
        with item_boundary("x"):
            raise KeyboardInterrupt
    assert issubclass(TextFileError, SvaeError)
