"""The embedded eSpeak corpus and its sentence generator."""

import numpy as np
import pytest
import soundfile as sf

from data_prep.espeak import VoiceParams, get_engine
from data_prep.espeak import synth_utterance
from data_prep.espeak_corpus import build_espeak_corpus, make_speakers
from data_prep.sentences import SentenceGenerator


def test_sentences_are_seeded_varied_and_well_formed():
    a = SentenceGenerator(7).sentences(300)
    assert a == SentenceGenerator(7).sentences(300)
    assert a != SentenceGenerator(8).sentences(300)
    lengths = [len(s.split()) for s in a]
    assert min(lengths) >= 4 and max(lengths) <= 30
    assert np.std(lengths) > 2.0  # realistic spread of lengths, not one template
    assert len(set(a)) > 290
    assert len({w.lower().strip(".,?") for s in a for w in s.split()}) > 300
    for s in a:
        assert s[0].isupper() and s[-1] in ".?" and "  " not in s
        assert " a a" not in s and " an " + "b" not in s


def _voice_print(wav, sr=16000, n=512):
    """Long-term log-mel envelope over the louder half of the frames: a crude speaker signature."""
    import torch
    from torchaudio.functional import melscale_fbanks

    frames = np.lib.stride_tricks.sliding_window_view(wav, n)[::160]
    power = np.abs(np.fft.rfft(frames * np.hanning(n), axis=-1)) ** 2
    fb = melscale_fbanks(n // 2 + 1, 0.0, sr / 2, 40, sr).numpy()
    logmel = np.log(power @ fb + 1e-8)
    energy = logmel.max(1)
    return logmel[energy > np.median(energy)].mean(0)


def test_voices_are_distinct_and_synthesis_is_deterministic():
    speakers = make_speakers(5, seed=0)
    assert len({(s.voice, s.pitch, s.rate) for s in speakers}) == 5
    assert make_speakers(5, seed=0) == speakers
    texts = ["The old farmer carried a basket to the market.", "Several owls laughed politely across the island."]
    wavs = {(i, j): synth_utterance(t, s, 16000) for i, s in enumerate(speakers) for j, t in enumerate(texts)}
    np.testing.assert_array_equal(wavs[0, 0], synth_utterance(texts[0], speakers[0], 16000))
    a = wavs[0, 0]
    assert a.dtype == np.float32 and 1.5 < len(a) / 16000 < 8 and np.abs(a).max() > 0.05
    # each speaker's second sentence is closest to its own first sentence: voices are distinct
    # from one another and consistent across utterances
    prints = {k: _voice_print(w) for k, w in wavs.items()}
    for i in range(len(speakers)):
        dists = [np.abs(prints[i, 0] - prints[k, 1]).mean() for k in range(len(speakers))]
        assert int(np.argmin(dists)) == i, (i, np.round(dists, 2))


def test_phonemes_are_ipa():
    ph = get_engine().phonemes("The quick brown fox.")
    assert "ˈ" in ph and "k" in ph and len(ph.split()) == 4
    with pytest.raises(Exception, match="unknown voice"):
        get_engine().synth("hello", VoiceParams(voice="no-such-voice"))


def test_espeak_corpus_is_deterministic_with_held_out_speakers(tmp_path):
    kw = dict(hours=1.0, voices=6, seed=3, max_utterances=18, test_speakers=2)
    dd = build_espeak_corpus(tmp_path / "a", **kw)
    dd2 = build_espeak_corpus(tmp_path / "b", **kw)
    assert len(dd["train"]) == 12 and len(dd["test"]) == 6
    assert not set(list(dd["train"]["speaker"])) & set(list(dd["test"]["speaker"]))
    assert list(dd["train"]["text"]) == list(dd2["train"]["text"])
    for r1, r2 in zip(dd["train"], dd2["train"]):
        x1, sr = sf.read(r1["audio"], dtype="float32")
        x2, _ = sf.read(r2["audio"], dtype="float32")
        assert sr == 16000 and r1["sample_rate"] == 16000
        np.testing.assert_array_equal(x1, x2)
        assert abs(r1["duration"] - len(x1) / sr) < 1e-9
        assert r1["phonemes"] and r1["phonemes"] == r2["phonemes"]
    other = build_espeak_corpus(tmp_path / "c", **{**kw, "seed": 4})
    assert list(other["train"]["text"]) != list(dd["train"]["text"])
