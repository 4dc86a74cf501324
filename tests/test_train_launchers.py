"""One launcher per trainer: ``svae-tts vae train``, ``svae-tts tts train`` and ``svae-tts data
train-ctc`` take the same options (svae_tts/train_cli.py) with the same KEY=VALUE grammar, and the
old ``python -m vae.train`` / ``python -m tts_recipes.train`` are aliases of the first two."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import yaml

from svae_tts.cli import main

ROOT = Path(__file__).resolve().parents[1]
TRAINERS = {"vae": ["vae", "train"], "tts": ["tts", "train"], "ctc": ["data", "train-ctc"]}


def _required(trainer: str, tmp: Path) -> list[str]:
    """The options a trainer cannot start without (nothing is read before the config is built)."""
    return {"vae": [], "tts": ["--config", "tiny"], "ctc": ["--corpus", str(tmp / "corpus"), "--out", str(tmp / "ctc")]}[trainer]


def _help(argv: list[str], capsys, entry=main) -> str:
    assert entry([*argv, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("trainer", list(TRAINERS))
def test_help_lists_the_shared_options(trainer, capsys):
    text = " ".join(_help(TRAINERS[trainer], capsys).split())
    for option in ("--config CONFIG", "--overwrite", "KEY=VALUE", "(same as overwrite=true)",
                   "the same grammar on every trainer"):
        assert option in text, option
    assert ("--resume auto|none|PATH" in text) == (trainer != "ctc")  # train-ctc keeps no checkpoints


def test_resume_help_shows_each_trainers_own_default(capsys):
    """The help states the default of the config field it sets, which differs between the trainers."""
    from tts_recipes.train import TrainConfig as TTSConfig
    from vae.train_config import TrainConfig as VAEConfig

    for trainer, cls in (("vae", VAEConfig), ("tts", TTSConfig)):
        default = next(f.default for f in fields(cls) if f.name == "resume")
        text = " ".join(_help(TRAINERS[trainer], capsys).split())
        assert f"(same as resume=VALUE; default: {default or 'none'})" in text, trainer


def test_the_old_module_entry_points_are_the_same_command(capsys):
    from tts_recipes.train import main as tts_train_main
    from vae.train import main as vae_train_main

    assert _help([], capsys, vae_train_main) == _help(TRAINERS["vae"], capsys)
    assert _help([], capsys, tts_train_main) == _help(TRAINERS["tts"], capsys)


def test_python_m_svae_tts_runs_the_launcher():
    """What ``accelerate launch -m svae_tts vae train ...`` runs in each process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "svae_tts", "vae", "train", "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("usage: svae-tts vae train") and "--resume" in proc.stdout


def _capture(trainer: str, monkeypatch) -> list:
    """Replace the trainer's function by one that records the config the command built."""
    seen: list = []
    if trainer == "vae":
        monkeypatch.setattr("vae.train.train", lambda cfg: seen.append(cfg) or SimpleNamespace(
            step=0, last_checkpoint=None, last_export=None))
    elif trainer == "tts":
        monkeypatch.setattr("tts_recipes.train.train", lambda cfg: seen.append(cfg) or {
            "step": 0, "run_dir": "x", "s_per_step": 0.0})
    else:
        monkeypatch.setattr("data_prep.ctc.train_ctc", lambda corpus, out, cfg, device=None: seen.append(cfg) or {})
    return seen


@pytest.mark.parametrize("trainer", list(TRAINERS))
def test_options_and_key_value_words_configure_alike(trainer, tmp_path, monkeypatch, capsys):
    """``--overwrite`` is ``overwrite=true`` and ``--resume X`` is ``resume=X`` on every trainer that has them."""
    seen = _capture(trainer, monkeypatch)
    argv = [*TRAINERS[trainer], *_required(trainer, tmp_path), "seed=3"]
    flags, words = ["--overwrite"], ["overwrite=true"]
    if trainer != "ctc":
        flags, words = flags + ["--resume", "none"], words + ["resume=none"]
    assert main([*argv, *flags]) == 0 and main([*argv, *words]) == 0
    by_flags, by_words = seen
    assert by_flags == by_words and by_flags.overwrite is True and by_flags.seed == 3
    if trainer != "ctc":
        assert by_flags.resume is None  # `none` beats the TTS trainer's default `auto`
        assert main([*argv, "resume=none", "--resume", "auto"]) == 0 and seen[-1].resume == "auto"  # the option wins


BAD_WORDS = [("max_steps=two", [r"max_steps: expected an integer, got 'two'"]),
             ("no_such_key=1", [r"unknown key\(s\) \['no_such_key'\]"]),
             ("max_steps", [r"KEY=VALUE", r"'max_steps' is not KEY=VALUE"])]


@pytest.mark.parametrize("word, patterns", BAD_WORDS, ids=[w for w, _ in BAD_WORDS])
@pytest.mark.parametrize("trainer", list(TRAINERS))
def test_a_bad_key_value_is_one_line_exit_2(trainer, word, patterns, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a trainer that started anyway would write its default run dir here
    rc = main([*TRAINERS[trainer], *_required(trainer, tmp_path), word])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"svae-tts{' ' + ' '.join(TRAINERS[trainer]) if word == 'max_steps' else ''}: error: ")
    for pattern in patterns:
        assert re.search(pattern, lines[0]), lines[0]
    assert not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def wavs(tmp_path_factory) -> Path:
    """Six short voiced clips at 16 kHz."""
    root = tmp_path_factory.mktemp("wavs")
    g = np.random.default_rng(0)
    for i in range(6):
        t = np.arange(int(16000 * (0.3 + 0.3 * g.random()))) / 16000
        sf.write(root / f"u{i}.wav", (0.3 * np.sin(2 * np.pi * (110 + 25 * i) * t)).astype(np.float32), 16000)
    return root


def test_vae_train_command_trains_what_python_m_vae_train_trains(tmp_path, wavs, capsys):
    """The launcher (``--config`` as a preset name) and the alias (as a path) give the same run: the
    same effective config, a checkpoint at the same step and the same weights."""
    from safetensors.torch import load_file

    from svae_tts.run_state import list_checkpoints
    from vae.train import main as vae_train_main

    def argv(config: str, run: Path) -> list[str]:
        return ["--config", config, f"run_dir={run}", f"data.train={wavs}", "data.num_workers=0", "data.batch_size=2",
                "data.segment_seconds=0.25", "data.valid_items=0", "discriminator.periods=[2,3]",
                "discriminator.fft_sizes=[512]", "progress=false", "max_steps=2", "save_every=0", "export_every=0"]

    runs = {"launcher": tmp_path / "launcher", "alias": tmp_path / "alias"}
    assert main(["vae", "train", *argv("tiny_acoustic", runs["launcher"])]) == 0
    assert vae_train_main(argv(str(ROOT / "vae" / "configs" / "tiny_acoustic.yaml"), runs["alias"])) == 0
    assert capsys.readouterr().out.count("trained to step 2: checkpoint ") == 2
    configs = {k: yaml.safe_load((run / "config.yaml").read_text()) for k, run in runs.items()}
    assert configs["launcher"].pop("run_dir") == str(runs["launcher"]) and configs["alias"].pop("run_dir") == str(runs["alias"])
    assert configs["launcher"] == configs["alias"] and configs["launcher"]["max_steps"] == 2
    assert [[p.name for p in list_checkpoints(run)] for run in runs.values()] == [["step_00000002"]] * 2
    weights = [load_file(run / "exports" / "step_00000002" / "model.safetensors") for run in runs.values()]
    assert weights[0].keys() == weights[1].keys() and len(weights[0]) > 0
    assert all(np.array_equal(weights[0][k].numpy(), weights[1][k].numpy()) for k in weights[0])
