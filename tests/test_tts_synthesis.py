"""Synthesis: lengths, determinism, chunking, the mel path, and every user error as a one-line message."""

import json
import logging
import math
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from svae_tts.audio import save_audio
from svae_tts.cli import main
from tests.tts_fixtures import build_assets, one_torch_thread, tiny_cfg  # noqa: F401
from tts_recipes.errors import TTSError
from tts_recipes.feature_space import MelFeatureSpace, write_random_vocos
from tts_recipes.synthesis import MAX_TEXT_CHARS, Synthesizer
from tts_recipes.text import UNK_ID, Vocabulary, check_fits
from tts_recipes.train import load_train_config, train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tts_syn")
    assets = build_assets(root)
    r = train(tiny_cfg(root / "run", assets["latents"], "max_steps=4", "save_every=0"))
    assets["model_dir"] = root / "run" / "exports" / "step_00000004"
    assets["root"] = root
    assert r["step"] == 4
    return assets


@pytest.fixture(scope="module")
def synth(trained):
    return Synthesizer.from_pretrained(trained["model_dir"])


def test_duration_gives_expected_length_and_seed_determinism(synth, trained):
    ref = trained["ref_wav"]
    w1 = synth.synthesize("the cat sat", ref, trained["ref_text"], nfe=4, seed=3, duration=1.5)
    assert w1.dtype == torch.float32 and w1.dim() == 1
    assert w1.numel() == round(1.5 * synth.space.frame_rate) * synth.space.hop_length == 24000
    w2 = synth.synthesize("the cat sat", ref, trained["ref_text"], nfe=4, seed=3, duration=1.5)
    w3 = synth.synthesize("the cat sat", ref, trained["ref_text"], nfe=4, seed=4, duration=1.5)
    assert torch.equal(w1, w2) and not torch.equal(w1, w3)
    assert synth.sample_rate == 16000 and torch.isfinite(w1).all() and w1.abs().max() <= 1


def test_length_follows_reference_rate_and_speed(synth, trained):
    ref_wav, _ = sf.read(trained["ref_wav"])
    ref = synth.prepare_reference(trained["ref_wav"])
    ref_frames = synth.space.num_frames(ref.wav.numel())
    fpb = ref_frames / (len(trained["ref_text"].encode()) + 1)
    text = "a dog ran far away"
    for speed in (1.0, 2.0):
        w = synth.synthesize(text, trained["ref_wav"], trained["ref_text"], nfe=2, seed=0, speed=speed)
        assert w.numel() == math.ceil(fpb * len(text) / speed) * synth.space.hop_length
    # Tuple input (wav, sr) at another rate gives the same reference after resampling.
    w = synth.synthesize(text, (torch.from_numpy(ref_wav).float(), 16000), trained["ref_text"], nfe=2, seed=0)
    assert w.numel() == math.ceil(fpb * len(text)) * synth.space.hop_length


def test_long_text_is_split_and_cross_faded(trained):
    s = Synthesizer.from_pretrained(trained["model_dir"], max_total_seconds=4.0, cross_fade_seconds=0.1)
    text = "the cat sat on the mat. a dog ran far away. the sun is hot and big."
    chunks = s.split_text(text, 30)
    assert chunks == ["the cat sat on the mat.", "a dog ran far away.", "the sun is hot and big."]
    ref = s.prepare_reference(trained["ref_wav"])
    ref_frames = s.space.num_frames(ref.wav.numel())
    fpb = ref_frames / (len(trained["ref_text"].encode()) + 1)
    room = int(4.0 * 40) - ref_frames
    pieces = s.split_text(text, max(8, int(room / fpb)))
    assert len(pieces) > 1 and " ".join(pieces) == text
    w = s.synthesize(text, trained["ref_wav"], trained["ref_text"], nfe=2, seed=0)
    expected = sum(math.ceil(fpb * len(p.encode())) * 400 for p in pieces) - (len(pieces) - 1) * 1600
    assert w.numel() == expected


def test_quiet_reference_is_normalised_and_restored(synth, trained, tmp_path):
    wav, sr = sf.read(trained["ref_wav"], dtype="float32")
    quiet = tmp_path / "quiet.wav"
    save_audio(quiet, torch.from_numpy(wav) * 0.05, sr)
    ref = synth.prepare_reference(quiet)
    assert ref.gain > 1 and ref.wav.pow(2).mean().sqrt().item() == pytest.approx(0.1, rel=1e-3)
    loud = synth.synthesize("the cat", trained["ref_wav"], trained["ref_text"], nfe=2, seed=0, duration=1.0)
    soft = synth.synthesize("the cat", quiet, trained["ref_text"], nfe=2, seed=0, duration=1.0)
    assert soft.abs().max() < loud.abs().max()


def test_vocabulary_unknown_id_and_too_long_text(caplog):
    v = Vocabulary.build(["ab c", "cab"])
    assert v.chars == ["<unk>", " ", "a", "b", "c"] and UNK_ID == 0
    with caplog.at_level(logging.WARNING):
        ids = v.encode(["abz", "c"])
    assert ids.tolist() == [[2, 3, 0], [4, -1, -1]]
    assert "z" in caplog.text and "unknown id 0" in caplog.text
    with pytest.raises(TTSError, match="5 symbols but the target has only 4 frames"):
        check_fits(5, 4)


def test_text_longer_than_frames_is_refused(synth, trained):
    with pytest.raises(TTSError, match="frames"):
        synth.synthesize("the cat sat on the mat and the dog ran far away", trained["ref_wav"], trained["ref_text"],
                         nfe=2, seed=0, duration=0.05)


def test_mel_path_with_random_vocos(trained, tmp_path):
    vocos_dir = write_random_vocos(tmp_path / "vocos")
    space = MelFeatureSpace(str(vocos_dir))
    from f5_tts.model.modules import MelSpec

    wav = torch.randn(24000) * 0.1
    ref_mel = MelSpec()(wav[None]).transpose(1, 2)
    assert torch.allclose(space.encode(wav), ref_mel) and space.encode(wav).shape == (1, 94, 100)
    cfg = load_train_config("tiny", [f"run_dir={tmp_path / 'run'}", f"data.corpus={trained['corpus']}",
                                     "data.feature=mel", f"data.vocos={vocos_dir}", "max_steps=3", "save_every=0",
                                     "data.frames_per_batch=1000", "log_every=0"])
    r = train(cfg)
    assert r["step"] == 3 and all(math.isfinite(v) for v in r["losses"].values())
    export = tmp_path / "run" / "exports" / "step_00000003"
    assert json.loads((export / "config.json").read_text())["feature"]["vocos"] == "vocos"
    shutil.rmtree(vocos_dir)  # a local Vocos travels inside the export, as a VAE does
    s = Synthesizer.from_pretrained(export)
    assert s.sample_rate == 24000 and s.space.dim == 100
    w = s.synthesize("the cat", trained["ref_wav"], trained["ref_text"], nfe=2, seed=0, duration=1.0)
    assert w.numel() == round(1.0 * 24000 / 256) * 256
    assert torch.equal(w, s.synthesize("the cat", trained["ref_wav"], trained["ref_text"], nfe=2, seed=0, duration=1.0))


# -- errors --------------------------------------------------------------------------------------
def _cli(trained, tmp_path, *extra, ref=None, text="the cat"):
    args = ["synthesize", "--model", str(trained["model_dir"]), "--ref-audio", str(ref or trained["ref_wav"]),
            "--ref-text", trained["ref_text"], "-o", str(tmp_path / "out.wav"), "--nfe", "2", *extra]
    if text is not None:
        args += ["--text", text]
    return main(args)


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("svae-tts: error:"), err
    for n in needles:
        assert n in err, err


def test_cli_writes_a_wav(trained, tmp_path, capsys):
    assert _cli(trained, tmp_path, "--seed", "1", "--duration", "0.5") == 0
    data, sr = sf.read(tmp_path / "out.wav")
    assert sr == 16000 and len(data) == 8000
    assert _cli(trained, tmp_path, "--seed", "1") == 2  # exists, no --overwrite
    _one_line_error(capsys, "already exists")


def test_cli_missing_corrupt_and_silent_reference(trained, tmp_path, capsys):
    assert _cli(trained, tmp_path, ref=tmp_path / "nope.wav") == 2
    _one_line_error(capsys, "nope.wav", "no such file")
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage" * 10)
    assert _cli(trained, tmp_path, ref=bad) == 2
    _one_line_error(capsys, "corrupt.wav")
    silent = tmp_path / "silent.wav"
    save_audio(silent, torch.zeros(16000), 16000)
    assert _cli(trained, tmp_path, ref=silent) == 2
    _one_line_error(capsys, "silent.wav", "silent")


def test_cli_empty_and_too_long_text(trained, tmp_path, capsys):
    assert _cli(trained, tmp_path, text="   ") == 2
    _one_line_error(capsys, "text is empty")
    assert _cli(trained, tmp_path, text="a" * (MAX_TEXT_CHARS + 1)) == 2
    _one_line_error(capsys, "over the limit")


def test_cli_model_dir_without_its_vae(trained, tmp_path, capsys):
    moved = tmp_path / "model"
    shutil.copytree(trained["model_dir"], moved)
    cfg = json.loads((moved / "config.json").read_text())
    cfg["feature"]["vae"] = str(tmp_path / "gone_vae")
    (moved / "config.json").write_text(json.dumps(cfg))
    rc = main(["synthesize", "--model", str(moved), "--ref-audio", str(trained["ref_wav"]), "--ref-text", "a",
               "--text", "b", "-o", str(tmp_path / "o.wav")])
    assert rc == 2
    _one_line_error(capsys, f"model dir {moved} needs its VAE {tmp_path / 'gone_vae'}, which is not found")
    with pytest.raises(TTSError):
        Synthesizer.from_pretrained(moved)


def test_cli_batch(trained, tmp_path, capsys):
    lst = tmp_path / "list.tsv"
    lst.write_text(f"one\tthe cat\n# comment\ntwo\t{trained['ref_wav']}\t{trained['ref_text']}\ta dog\n"
                   f"three\t{tmp_path / 'missing.wav'}\tx\tthe sun\n")
    out = tmp_path / "out"
    rc = main(["synthesize", "--model", str(trained["model_dir"]), "--ref-audio", str(trained["ref_wav"]),
               "--ref-text", trained["ref_text"], "--batch", str(lst), "-o", str(out), "--nfe", "2", "--seed", "0"])
    assert rc == 3  # done, one line skipped
    assert sorted(p.name for p in out.glob("*.wav")) == ["one.wav", "two.wav"]
    assert "three\t" in (out / "skipped.tsv").read_text() and "missing.wav" in (out / "skipped.tsv").read_text()
    capsys.readouterr()
    lst.write_text("bad line without tabs\n")
    assert main(["synthesize", "--model", str(trained["model_dir"]), "--batch", str(lst), "-o", str(out)]) == 2
    _one_line_error(capsys, "list.tsv:1")


def test_estimated_length_too_short_for_text_is_lengthened_with_a_warning(synth, trained, caplog):
    text = "the cat sat on the mat"
    ref = synth.prepare_reference(trained["ref_wav"])
    ref_frames = synth.space.num_frames(ref.wav.numel())
    ref_text = "a" * ref_frames  # as many characters as reference frames: the estimate leaves no room
    n_tokens = len(f"{ref_text} {text}")
    with caplog.at_level(logging.WARNING):
        w = synth.synthesize(text, trained["ref_wav"], ref_text, nfe=2, seed=0, speed=10.0)  # the fastest allowed
    assert "do not fit" in caplog.text
    assert w.numel() == (n_tokens + 1 - ref_frames) * synth.space.hop_length


def test_split_text_packs_sentences_then_commas_then_words(synth):
    assert synth.split_text("the cat sat, on the mat and the dog ran far away", 14) == [
        "the cat sat,", "on the mat and", "the dog ran", "far away"]
    assert synth.split_text("a b. c d. supercalifragilistic e", 9) == ["a b. c d.", "supercalifragilistic", "e"]


@pytest.mark.parametrize("change, match", [
    ({"ref_text": "  "}, "ref_text is empty: pass --ref-text .* or --asr CTC_MODEL"),
    ({"nfe": 0}, r"^nfe: 0 is too small \(allowed: an integer >= 1 and <= 1000\)$"),
    ({"speed": 0.0}, r"^speed: 0.0 is too small \(allowed: a finite number >= 0.1 and <= 10\)$"),
    ({"duration": -1.0}, r"^duration: -1.0 is too small"),
    ({"cfg_strength": float("nan")}, r"^cfg_strength: nan is not a number"),
    ({"seed": 2**32}, r"^seed: 4294967296 is too large"),
    ({"ref_audio": 123}, "file path or a"),
])
def test_bad_synthesis_arguments_are_refused(synth, trained, change, match):
    kwargs = {"text": "the cat", "ref_audio": trained["ref_wav"], "ref_text": trained["ref_text"], "nfe": 2, **change}
    with pytest.raises(TTSError, match=match):
        synth.synthesize(**kwargs)


@pytest.mark.parametrize("content, refs, match", [
    (None, ("r.wav", "x"), "batch list not found"),
    ("one\tthe cat\n", (None, None), r"list.tsv:1: two-column line needs --ref-audio"),
    ("a b\tthe cat\n", ("r.wav", "x"), "odd characters"),
    ("one\tx\n\none\ty\n", ("r.wav", "x"), r"list.tsv:3: output name 'one'"),
    ("# only a comment\n\n", ("r.wav", "x"), "has no lines"),
])
def test_bad_batch_lists_are_refused(tmp_path, content, refs, match):
    from tts_recipes.batch_list import read_batch_tsv

    lst = tmp_path / "list.tsv"
    if content is not None:
        lst.write_text(content)
    with pytest.raises(TTSError, match=match):
        read_batch_tsv(lst, *refs)


def test_cli_needs_text_and_reference_without_batch(trained, tmp_path, capsys):
    assert main(["synthesize", "--model", str(trained["model_dir"]), "--text", "the cat", "-o", str(tmp_path / "o.wav")]) == 2
    _one_line_error(capsys, "give --text, --ref-audio and --ref-text")
    assert not (tmp_path / "o.wav").exists()


def test_epss_switch_changes_only_the_nfes_it_has_a_schedule_for(synth, trained):
    from f5_tts.model.utils import get_epss_timesteps

    from tts_recipes.synthesis import sampling_times

    assert sampling_times(7, True, None) == [round(float(t), 6) for t in get_epss_timesteps(7, "cpu", torch.float64)]
    assert sampling_times(7, True, None)[:3] == [0.0, 0.0625, 0.125]  # dense near t=0
    assert sampling_times(8, True, None) == sampling_times(8, False, None)  # no table for 8: uniform
    args = ("the cat sat", trained["ref_wav"], trained["ref_text"])
    kw = dict(seed=1, duration=1.0)
    on, off = synth.synthesize(*args, nfe=7, epss=True, **kw), synth.synthesize(*args, nfe=7, epss=False, **kw)
    assert not torch.equal(on, off)
    assert synth.last_schedule == sampling_times(7, False, -1.0)
    assert torch.equal(synth.synthesize(*args, nfe=8, epss=True, **kw), synth.synthesize(*args, nfe=8, epss=False, **kw))


def test_a_reference_is_encoded_once_and_read_again_when_it_changes(trained, tmp_path):
    synth = Synthesizer.from_pretrained(trained["model_dir"])
    calls = []
    encode = synth.space.encode
    synth.space.encode = lambda wav: calls.append(wav.numel()) or encode(wav)
    ref = tmp_path / "ref.wav"
    shutil.copy(trained["ref_wav"], ref)
    kw = dict(nfe=2, seed=5, duration=1.0)
    first = synth.synthesize("the cat sat", ref, trained["ref_text"], **kw)
    again = synth.synthesize("a dog ran", ref, trained["ref_text"], **kw)
    assert len(calls) == 1
    assert torch.equal(first, synth.synthesize("the cat sat", ref, trained["ref_text"], **kw))
    # same samples as a (wave, rate) pair: cached by content
    wav, sr = sf.read(ref, dtype="float32")
    synth.synthesize("the cat sat", (wav, sr), trained["ref_text"], **kw)
    synth.synthesize("the cat sat", (wav.copy(), sr), trained["ref_text"], **kw)
    assert len(calls) == 2
    # another transcript, or the file rewritten, is prepared afresh
    synth.synthesize("the cat sat", ref, "another transcript", **kw)
    assert len(calls) == 3
    sf.write(ref, 0.5 * wav, sr)
    import os
    os.utime(ref, ns=(1, 1))
    quieter = synth.synthesize("the cat sat", ref, trained["ref_text"], **kw)
    assert len(calls) == 4 and quieter.shape == again.shape


def test_cli_prints_the_schedule_it_used(trained, tmp_path, capsys):
    assert _cli(trained, tmp_path, "--seed", "1", "--duration", "0.5", "--nfe", "7", "--sway", "0") == 0
    assert "NFE 7, EPSS schedule: t = 0.000, 0.062, 0.125, 0.188, 0.250, 0.500, 0.750, 1.000" in capsys.readouterr().out
    assert _cli(trained, tmp_path, "--seed", "1", "--duration", "0.5", "--nfe", "7", "--no-epss", "--overwrite") == 0
    assert "NFE 7, uniform schedule" in capsys.readouterr().out


def test_bf16_decoder_option_changes_only_the_decode_rounding(trained):
    kw = dict(nfe=2, seed=3, duration=1.0)
    args = ("the cat sat", trained["ref_wav"], trained["ref_text"])
    fp32 = Synthesizer.from_pretrained(trained["model_dir"]).synthesize(*args, **kw)
    bf16_synth = Synthesizer.from_pretrained(trained["model_dir"], decoder_dtype="bfloat16")
    assert bf16_synth.space.vae.decode_dtype == torch.bfloat16
    bf16 = bf16_synth.synthesize(*args, **kw)
    assert bf16.shape == fp32.shape
    assert 0 < (bf16 - fp32).abs().max() <= 0.05 * fp32.abs().max()


def test_a_swapped_rate_and_waveform_pair_is_a_user_error(synth, trained):
    from svae_tts.errors import SvaeError

    wav, sr = sf.read(trained["ref_wav"], dtype="float32")
    with pytest.raises(SvaeError):
        synth.synthesize("the cat sat", (sr, wav), trained["ref_text"], nfe=2, seed=0, duration=0.5)


# -- text bounds -----------------------------------------------------------------------------------
def test_a_transcript_or_text_past_the_models_positions_is_refused_in_one_line(synth, trained, tmp_path, capsys):
    limit = synth.max_positions
    assert limit == 8192  # F5-TTS's text position table, which a longer sequence overruns with a tensor error
    long_ref = " ".join(["the cat sat"] * 910)  # 10,009 characters
    with pytest.raises(TTSError, match=f"over the model's limit of {limit}"):
        synth.synthesize("the cat", trained["ref_wav"], long_ref, nfe=2, seed=0)
    argv = ["synthesize", "--model", str(trained["model_dir"]), "--ref-audio", str(trained["ref_wav"]),
            "--ref-text", long_ref, "--text", "the cat", "-o", str(tmp_path / "o.wav"), "--nfe", "2"]
    assert main(argv) == 2
    _one_line_error(capsys, "reference transcript", f"limit of {limit}")
    # a text of 10,000 characters: over the per-call limit; and a duration past the positions
    assert _cli(trained, tmp_path, text="the cat sat " * 834) == 2
    _one_line_error(capsys, "over the limit")
    with pytest.raises(TTSError, match=f"over the model's limit of {limit}"):
        synth.synthesize("the cat", trained["ref_wav"], trained["ref_text"], nfe=2, seed=0,
                         duration=limit / synth.space.frame_rate)


def test_a_transcript_that_does_not_fit_its_reference_warns(synth, trained, tmp_path, caplog):
    wav, sr = sf.read(trained["ref_wav"], dtype="float32")
    ref = tmp_path / "ref_3s.wav"
    sf.write(ref, np.tile(wav, 6), sr)  # the fixture's clip is under a second
    seconds = synth.prepare_reference(ref).wav.numel() / synth.sample_rate
    assert seconds > 3
    plausible = " ".join(["the cat sat"] * round(seconds * 14 / 12))  # about 14 characters a second
    with caplog.at_level(logging.WARNING, logger="tts_recipes.synthesis"):
        synth.synthesize("the cat", ref, plausible, nfe=2, seed=0, duration=0.5)
    assert "transcript has" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="tts_recipes.synthesis"):
        synth.synthesize("the cat", ref, "x", nfe=2, seed=0, duration=0.5)
    assert "transcript has 1 characters" in caplog.text and "a second" in caplog.text
    caplog.clear()
    five = tmp_path / "ref_5s.wav"  # the mix-up users meet: a one-word placeholder for a 5 s clip
    sf.write(five, np.tile(wav, 12)[: int(5.2 * sr)], sr)
    assert 4.5 < synth.prepare_reference(five).wav.numel() / synth.sample_rate < 5.5
    with caplog.at_level(logging.WARNING, logger="tts_recipes.synthesis"):
        synth.synthesize("the cat", five, "placeholder", nfe=2, seed=0, duration=0.5)
    assert "transcript has 11 characters" in caplog.text


def test_text_mostly_in_another_script_warns_a_phoneme_model(caplog):
    """eSpeak's English voice spells Cyrillic or Chinese letters out instead of failing, so only the
    script tells a phoneme model's user that the text will not be spoken as written."""
    from tts_recipes.synthesis import warn_other_script

    for text, warned in [("Привет, как дела?", True), ("你好世界", True), ("Hello there, Zoë.", False),
                         ("The café in Москва.", False), ("12 + 7 = 19", False)]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tts_recipes.synthesis"):
            warn_other_script(text, "en-us")
        assert ("are not Latin" in caplog.text) is warned, text


def test_text_mostly_outside_the_vocabulary_is_refused_naming_characters(synth, trained, tmp_path, capsys):
    with pytest.raises(TTSError, match="not in the model's vocabulary.*read as nothing") as info:
        synth.synthesize("привет мир", trained["ref_wav"], trained["ref_text"], nfe=2, seed=0)
    assert "п" in str(info.value) and "\n" not in str(info.value)
    assert _cli(trained, tmp_path, text="привет мир") == 2
    _one_line_error(capsys, "веимпрт", "9 of its 9 characters", "vocabulary")
    with pytest.raises(TTSError, match="4 of its 4 characters \('世你好界'\)"):
        synth.synthesize("你好世界", trained["ref_wav"], trained["ref_text"], nfe=2, seed=0)
    # a few unknown characters only warn: the rest of the text is read
    synth.synthesize("the cat sat " + "д", trained["ref_wav"], trained["ref_text"], nfe=2, seed=0, duration=0.5)
