"""Issue #14, classes 6 and 7: a TTS export works from any folder after being copied or moved, and a
reference longer than ``max_ref_seconds`` is cut at a pause and never paired with a transcript of
the whole (refused with a one-line error, or re-transcribed when an ASR model is configured)."""

import json
import logging
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from svae_tts.audio import save_audio
from svae_tts.cli import main
from tests.tts_fixtures import one_torch_thread, tiny_cfg  # noqa: F401
from tts_recipes.errors import TTSError
from tts_recipes.synthesis import Synthesizer
from tests.shared_fixtures import make_corpus, make_latent_set, put_in_hub_cache, tone_for_text
from tts_recipes.train import train


@pytest.fixture(scope="module")
def portable(tmp_path_factory):
    """Trained as in the demo: from inside the project folder, every path relative to it, then the
    export copied elsewhere and the whole project folder renamed away."""
    from vae import SemanticVAE

    base = tmp_path_factory.mktemp("portable")
    project = base / "project"
    project.mkdir()
    old_cwd = os.getcwd()
    os.chdir(project)
    try:
        torch.manual_seed(0)
        vae = SemanticVAE.from_preset("tiny")
        vae.save_pretrained("vae")
        _, dsd = make_corpus("data", 6, 2)
        make_latent_set("latents", dsd, vae, "vae")  # the VAE as typed: relative to the folder
        r = train(tiny_cfg("run", "latents", "max_steps=4", "save_every=2"))
    finally:
        os.chdir(old_cwd)
    assert r["step"] == 4
    exports = project / "run" / "exports"
    kept = base / "elsewhere" / "model"
    shutil.copytree(exports / "step_00000004", kept)  # what `cp -r` or an upload does
    refs = base / "refs"
    refs.mkdir()
    ref = refs / "ref.wav"
    shutil.copy(dsd["test"][0]["audio"], ref)
    info = {"base": base, "project": project, "model": kept, "ref": ref, "ref_text": dsd["test"][0]["text"],
            "links": [_stat(exports / s / "vae" / "model.safetensors") for s in ("step_00000002", "step_00000004")],
            "vae_source": _stat(project / "vae" / "model.safetensors")}
    project.rename(base / "project_moved")  # the run dir, its VAE and its latent set are gone
    info["moved"] = base / "project_moved"
    return info


def _stat(path):
    return os.stat(path) if path.exists() else None


def _synth_cli(model, ref, ref_text, out, *extra):
    return main(["synthesize", "--model", str(model), "--ref-audio", str(ref), "--ref-text", ref_text,
                 "--text", "the cat", "-o", str(out), "--nfe", "2", "--seed", "0", *extra])


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("svae-tts: error:"), err
    for n in needles:
        assert n in err, err
    return err


# -- class 6: exports that work from anywhere -------------------------------------------------------
def test_copied_export_synthesizes_from_a_third_folder(portable, tmp_path, monkeypatch, capsys):
    third = tmp_path / "third"
    third.mkdir()
    monkeypatch.chdir(third)
    assert _synth_cli(portable["model"], portable["ref"], portable["ref_text"], "out.wav", "--duration", "0.5") == 0, \
        capsys.readouterr().err
    data, sr = sf.read(third / "out.wav")
    assert sr == 16000 and len(data) == 8000 and np.isfinite(data).all()
    cfg = json.loads((portable["model"] / "config.json").read_text())
    assert cfg["feature"]["vae"] == "vae"  # stored relative to the export, which holds the VAE
    assert sorted(p.name for p in (portable["model"] / "vae").iterdir()) == ["config.json", "model.safetensors"]


def test_exports_of_a_run_share_one_copy_of_the_vae(portable):
    a, b = portable["links"]
    assert a is not None and b is not None, "the exports hold no VAE"
    assert (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) and a.st_nlink >= 2  # hard-linked, stored once
    src = portable["vae_source"]
    assert (src.st_dev, src.st_ino) != (a.st_dev, a.st_ino)  # the user's VAE file is copied, never linked
    kept = os.stat(portable["model"] / "vae" / "model.safetensors")
    assert kept.st_ino != a.st_ino and kept.st_size == a.st_size  # `cp -r` gives a complete, separate copy


def _old_style(portable, tmp_path, vae_ref):
    """An export as written before exports held their VAE: config.json names a dir elsewhere."""
    old = tmp_path / "models" / "old"
    shutil.copytree(portable["model"], old)
    shutil.rmtree(old / "vae", ignore_errors=True)  # (old exports had none)
    cfg = json.loads((old / "config.json").read_text())
    feature = {k: v for k, v in cfg["feature"].items() if k not in ("vae_sha256", "vae_source")}
    cfg["feature"] = {**feature, "vae": vae_ref}
    (old / "config.json").write_text(json.dumps(cfg))
    return old


def test_old_export_with_a_relative_vae_path_resolves_from_the_export(portable, tmp_path, monkeypatch, capsys):
    old = _old_style(portable, tmp_path, "../vaes/tiny")
    shutil.copytree(portable["moved"] / "vae", tmp_path / "models" / "vaes" / "tiny")
    monkeypatch.chdir(tmp_path)  # "../vaes/tiny" from here is not it
    assert _synth_cli(old, portable["ref"], portable["ref_text"], tmp_path / "o.wav", "--duration", "0.5") == 0, \
        capsys.readouterr().err
    assert sf.info(str(tmp_path / "o.wav")).samplerate == 16000


def test_old_export_with_a_path_relative_to_the_training_folder_still_works_there(portable, tmp_path, monkeypatch,
                                                                                   capsys):
    old = _old_style(portable, tmp_path, "runs/vae")
    shutil.copytree(portable["moved"] / "vae", tmp_path / "runs" / "vae")
    monkeypatch.chdir(tmp_path)
    assert _synth_cli(old, portable["ref"], portable["ref_text"], tmp_path / "o.wav", "--duration", "0.5") == 0, \
        capsys.readouterr().err


def test_old_export_whose_vae_is_nowhere_is_one_line(portable, tmp_path, monkeypatch, capsys):
    old = _old_style(portable, tmp_path, "runs/demo/vae_semantic/exports/step_00000150")
    monkeypatch.chdir(tmp_path)
    assert _synth_cli(old, portable["ref"], portable["ref_text"], tmp_path / "o.wav") == 2
    _one_line_error(capsys, f"model dir {old} needs its VAE runs/demo/vae_semantic/exports/step_00000150",
                    "not found", str(old / "runs/demo/vae_semantic/exports/step_00000150"))
    assert not (tmp_path / "o.wav").exists()


def test_reexported_model_stays_self_contained(portable, tmp_path, monkeypatch):
    from tts_recipes.model import TTSModel

    monkeypatch.chdir(tmp_path)
    shutil.copytree(portable["model"], tmp_path / "loaded")
    model = TTSModel.from_pretrained(tmp_path / "loaded")
    out = model.save_pretrained(tmp_path / "again")
    shutil.rmtree(tmp_path / "loaded")
    assert (out / "vae" / "model.safetensors").is_file()
    s = Synthesizer.from_pretrained(out)
    assert s.sample_rate == 16000


def test_latent_set_moved_with_its_vae_trains_from_anywhere(portable, tmp_path, monkeypatch):
    """latent_info.json names its VAE as typed ("vae", relative to the folder it was made in)."""
    moved = portable["moved"]
    assert json.loads((moved / "latents" / "latent_info.json").read_text())["vae"] == "vae"
    # Moved together with a VAE next to it (the name resolved relative to the latent set):
    shutil.copytree(moved / "latents", tmp_path / "pack" / "latents")
    shutil.copytree(moved / "vae", tmp_path / "pack" / "latents" / "vae")
    monkeypatch.chdir(tmp_path)
    r = train(tiny_cfg(tmp_path / "run", tmp_path / "pack" / "latents", "max_steps=1", "save_every=0"))
    assert r["step"] == 1 and (tmp_path / "run" / "exports" / "step_00000001" / "vae" / "config.json").is_file()


def test_latent_set_whose_vae_is_gone_names_the_fix(portable, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    latents = portable["moved"] / "latents"
    with pytest.raises(TTSError, match=r"latent set .* needs its VAE vae, which is not found .*set data\.vae="):
        train(tiny_cfg(tmp_path / "run", latents, "max_steps=1"))
    rc = main(["tts", "train", "--config", "tiny", f"run_dir={tmp_path / 'run2'}", f"data.latent_set={latents}",
               "max_steps=1"])
    assert rc == 2
    _one_line_error(capsys, "needs its VAE vae", "data.vae=")
    # The fix the message names works:
    r = train(tiny_cfg(tmp_path / "run3", latents, "max_steps=1", "save_every=0", f"data.vae={portable['moved'] / 'vae'}"))
    assert r["step"] == 1


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """An untrained TTS model (no training needed to test how it is saved) and its VAE dir."""
    from tts_recipes.model import DiTConfig, TTSConfig, TTSModel
    from vae import SemanticVAE

    root = tmp_path_factory.mktemp("bundle")
    torch.manual_seed(0)
    vae_dir = SemanticVAE.from_preset("tiny").save_pretrained(root / "vae")
    feature = {"kind": "latent", "vae": str(vae_dir), "dim": 16, "mean": [0.0] * 16, "std": [1.0] * 16}
    dit = DiTConfig(dim=16, depth=1, heads=2, dim_head=8, text_dim=8, conv_layers=0)
    return TTSModel(TTSConfig(dit=dit, feature=feature, vocab=["<unk>", " ", "a"])), vae_dir


def _vae_file(export):
    return export / "vae" / "model.safetensors"


def test_without_hard_links_each_export_gets_a_copy(small, tmp_path, monkeypatch):
    model, vae_dir = small

    def no_links(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    a, b = model.save_pretrained(tmp_path / "a"), model.save_pretrained(tmp_path / "b")
    assert os.stat(_vae_file(a)).st_ino != os.stat(_vae_file(b)).st_ino
    assert _vae_file(a).read_bytes() == _vae_file(b).read_bytes() == (vae_dir / "model.safetensors").read_bytes()


def test_a_sibling_edited_in_place_is_not_linked(small, tmp_path):
    model, vae_dir = small
    a = model.save_pretrained(tmp_path / "exports" / "a")
    with open(_vae_file(a), "r+b") as f:  # same size, other bytes, recorded hash now stale
        f.seek(-8, os.SEEK_END)
        f.write(b"\x00" * 8)
    b = model.save_pretrained(tmp_path / "exports" / "b")
    assert os.stat(_vae_file(b)).st_ino != os.stat(_vae_file(a)).st_ino
    assert _vae_file(b).read_bytes() == (vae_dir / "model.safetensors").read_bytes()
    c = model.save_pretrained(tmp_path / "exports" / "c")
    assert os.stat(_vae_file(c)).st_ino == os.stat(_vae_file(b)).st_ino  # the intact one is shared


def test_export_missing_its_vae_folder_never_takes_one_from_the_current_folder(small, tmp_path, monkeypatch, capsys):
    from vae import SemanticVAE

    model, _ = small
    export = model.save_pretrained(tmp_path / "export")
    shutil.rmtree(export / "vae")  # an incomplete copy or upload
    torch.manual_seed(1)
    SemanticVAE.from_preset("tiny").save_pretrained(tmp_path / "vae")  # another VAE, under the same name
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TTSError, match=r"needs its VAE vae, which is not found \(looked for .*export/vae: the model "
                                       r"dir is incomplete\)"):
        Synthesizer.from_pretrained(export)


def test_save_refuses_a_vae_that_is_gone_and_writes_nothing(small, tmp_path):
    from tts_recipes.model import TTSConfig, TTSModel

    model, _ = small
    cfg = model.config
    gone = TTSModel(TTSConfig(dit=cfg.dit, feature={**cfg.feature, "vae": str(tmp_path / "gone")}, vocab=cfg.vocab))
    with pytest.raises(TTSError, match=f"needs its VAE {tmp_path / 'gone'}, which is not found"):
        gone.save_pretrained(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_model_from_the_hub_comes_with_its_vae(small, tmp_path, monkeypatch, offline_hub):
    """An uploaded export, as a download leaves it in the hub cache: loaded by its hub id offline,
    it decodes with the VAE in its own vae/ folder (and an id not in the cache is named in one line)."""
    from svae_tts.errors import CheckpointError
    from tts_recipes.model import TTSModel

    model, _ = small
    snapshot = put_in_hub_cache(offline_hub, "someone/tts-model", model.save_pretrained(tmp_path / "hub_repo"))
    monkeypatch.chdir(tmp_path)
    loaded = TTSModel.from_pretrained("someone/tts-model")
    assert loaded.source == "someone/tts-model"
    assert loaded.load_feature_space().vae_ref == str(snapshot / "vae")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    with pytest.raises(CheckpointError, match="someone/other-model: no such local directory, and could not fetch it as a hub name"):
        TTSModel.from_pretrained("someone/other-model")


# -- class 7: long references --------------------------------------------------------------------
SR = 16000


def speech_like(seconds: float, gap: tuple[float, float] | None = None, seed: int = 0) -> torch.Tensor:
    """Harmonic syllables with short inter-word dips (like speech), and a true silence at ``gap``."""
    words = "the big cat sat on the mat and the dog ran far away in the hot sun "
    wav = tone_for_text(words * 20, SR, seed=seed)[: int(seconds * SR)].clone()
    if gap:
        wav[int(gap[0] * SR): int(gap[1] * SR)] = 1e-4 * torch.randn(int(gap[1] * SR) - int(gap[0] * SR),
                                                                      generator=torch.Generator().manual_seed(seed))
    return wav


def test_cut_at_pause_lands_in_the_silent_gap():
    from tts_recipes.audio_edits import cut_at_pause

    wav = speech_like(20.0, gap=(11.0, 11.8))
    cut = cut_at_pause(wav, SR, 15 * SR)
    assert 11.0 * SR <= cut <= 11.8 * SR, cut / SR
    # no pause in reach: still within the limit, never past it
    assert 0 < cut_at_pause(speech_like(20.0), SR, 15 * SR) <= 15 * SR
    assert cut_at_pause(wav, SR, 30 * SR) == wav.numel()  # short enough: uncut


@pytest.fixture(scope="module")
def long_ref(tmp_path_factory):
    path = tmp_path_factory.mktemp("long_ref") / "long.wav"
    save_audio(path, speech_like(20.0, gap=(11.0, 11.8)), SR)
    return path


def test_long_reference_with_its_transcript_is_refused_in_one_line(portable, long_ref, tmp_path, capsys):
    out = tmp_path / "o.wav"
    assert _synth_cli(portable["model"], long_ref, "a whole minute of text", out) == 2
    err = _one_line_error(capsys, str(long_ref), "--max-ref-seconds", "20.0 s")
    assert "--asr" in err and not out.exists()
    assert _synth_cli(portable["model"], long_ref, "a whole minute of text", out, "--max-ref-seconds", "30") == 0
    assert sf.info(str(out)).samplerate == 16000


def test_batch_skips_a_long_reference_and_goes_on(portable, long_ref, tmp_path):
    lst = tmp_path / "list.tsv"
    lst.write_text(f"long\t{long_ref}\ttext of a minute\tthe cat\nshort\t{portable['ref']}\t{portable['ref_text']}\ta dog\n")
    out = tmp_path / "out"
    assert main(["synthesize", "--model", str(portable["model"]), "--batch", str(lst), "-o", str(out), "--nfe", "2",
                 "--seed", "0", "--duration", "0.5"]) == 3
    assert [p.name for p in out.glob("*.wav")] == ["short.wav"]
    assert "--max-ref-seconds" in (out / "skipped.tsv").read_text()


def test_long_reference_limit_through_the_python_api(portable, long_ref):
    s = Synthesizer.from_pretrained(portable["model"])
    with pytest.raises(TTSError, match="max-ref-seconds"):
        s.synthesize("the cat", long_ref, "some text", nfe=2, seed=0, duration=0.5)
    s = Synthesizer.from_pretrained(portable["model"], max_ref_seconds=30)
    ref = s.prepare_reference(long_ref, "some text")
    assert ref.text == "some text" and ref.wav.numel() >= 19.5 * SR
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(TTSError, match="max_ref_seconds"):
            Synthesizer.from_pretrained(portable["model"], max_ref_seconds=bad)


@pytest.fixture(scope="module")
def char_asr(tmp_path_factory):
    from data_prep.ctc import CTCTrainConfig, train_ctc

    root = tmp_path_factory.mktemp("asr")
    corpus, _ = make_corpus(root / "data", 6, 2)
    cfg = CTCTrainConfig(targets="char", max_steps=2, batch_size=4, lr=1e-3, warmup_steps=1, eval_items=1,
                         hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, conv_dim=[16] * 3,
                         mask_time_prob=0.0, dropout=0.0)
    train_ctc(corpus, root / "ctc", cfg)
    return root / "ctc"


def test_long_reference_is_transcribed_when_an_asr_model_is_configured(portable, long_ref, char_asr, caplog):
    from data_prep.ctc import transcribe

    s = Synthesizer.from_pretrained(portable["model"], asr=str(char_asr))
    with caplog.at_level(logging.WARNING):
        ref = s.prepare_reference(long_ref, "a whole minute of text")
    assert 10.8 * SR <= ref.wav.numel() <= 11.8 * SR  # cut in the pause (its trailing silence trimmed)
    heard = transcribe(char_asr, [ref.wav / ref.gain], sample_rate=SR)[0]
    assert heard.strip() and ref.text == " ".join(heard.split())  # what the ASR heard in the kept part
    assert "transcript replaced" in caplog.text and "a whole minute of text" in caplog.text
    w = s.synthesize("the cat", long_ref, "a whole minute of text", nfe=2, seed=0, duration=0.5)
    assert w.numel() == 8000


def test_unusable_asr_models_are_refused_before_any_work(portable, long_ref, char_asr, tmp_path, capsys):
    phonemes = tmp_path / "phoneme_ctc"
    shutil.copytree(char_asr, phonemes)
    info = json.loads((phonemes / "ctc_info.json").read_text())
    (phonemes / "ctc_info.json").write_text(json.dumps({**info, "targets": "phoneme"}))
    with pytest.raises(TTSError, match="writes phonemes, not text"):
        Synthesizer.from_pretrained(portable["model"], asr=str(phonemes))
    out = tmp_path / "o.wav"
    capsys.readouterr()
    assert _synth_cli(portable["model"], long_ref, "text", out, "--asr", str(tmp_path / "no_such_asr")) == 2
    _one_line_error(capsys, f"asr model {tmp_path / 'no_such_asr'}: no such directory")
    assert not out.exists()


def test_reference_without_transcript_is_transcribed_by_the_asr_model(portable, char_asr, tmp_path, caplog, capsys):
    from data_prep.ctc import transcribe

    s = Synthesizer.from_pretrained(portable["model"], asr=str(char_asr))
    ref = s.prepare_reference(portable["ref"], None)
    assert ref.text is None  # the reference alone: no transcript asked for yet
    heard = " ".join(transcribe(char_asr, [ref.wav / ref.gain], sample_rate=SR)[0].split())
    with caplog.at_level(logging.WARNING):
        w = s.synthesize("the cat", portable["ref"], None, nfe=2, seed=0)
    assert heard and w.numel() > 0
    # the ASR's transcript of the (trimmed) reference was used, and shown
    assert "no transcript given" in caplog.text and repr(heard) in caplog.text
    # the command line: --asr instead of --ref-text, for one line and for a batch list
    out = tmp_path / "o.wav"
    assert main(["synthesize", "--model", str(portable["model"]), "--ref-audio", str(portable["ref"]), "--text",
                 "the cat", "-o", str(out), "--nfe", "2", "--seed", "0", "--asr", str(char_asr)]) == 0
    assert sf.info(str(out)).frames > 0
    lst = tmp_path / "list.tsv"
    lst.write_text("one\tthe cat\n")
    assert main(["synthesize", "--model", str(portable["model"]), "--ref-audio", str(portable["ref"]), "--batch",
                 str(lst), "-o", str(tmp_path / "batch"), "--nfe", "2", "--seed", "0", "--asr", str(char_asr)]) == 0
    assert (tmp_path / "batch" / "one.wav").is_file()


def test_reference_without_transcript_or_asr_is_one_line(portable, tmp_path, capsys):
    out = tmp_path / "o.wav"
    capsys.readouterr()
    assert main(["synthesize", "--model", str(portable["model"]), "--ref-audio", str(portable["ref"]), "--text",
                 "the cat", "-o", str(out)]) == 2
    _one_line_error(capsys, "--ref-text", "--asr CTC_MODEL")
    assert not out.exists()
    with pytest.raises(TTSError, match=r"ref_text is empty: pass --ref-text .* or --asr CTC_MODEL"):
        Synthesizer.from_pretrained(portable["model"]).synthesize("the cat", portable["ref"], None, nfe=2)
    lst = tmp_path / "list.tsv"
    lst.write_text("one\tthe cat\n")
    assert main(["synthesize", "--model", str(portable["model"]), "--ref-audio", str(portable["ref"]), "--batch",
                 str(lst), "-o", str(tmp_path / "batch")]) == 2
    _one_line_error(capsys, "two-column line needs --ref-audio and --ref-text (or --asr)")
