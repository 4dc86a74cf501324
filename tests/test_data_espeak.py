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


def test_train_vocabulary_never_uses_a_reserved_word_and_heldout_always_does():
    from data_prep import sentences as S

    train = S.SentenceGenerator(11, 3, 24).sentences(2000)
    held = S.SentenceGenerator(12, 3, 24, vocabulary="heldout").sentences(2000)
    assert not [s for s in train if S.has_reserved_word(s)]
    assert all(S.has_reserved_word(s) for s in held)
    assert not {S.normalise(s) for s in train} & {S.normalise(s) for s in held}
    assert len(set(held)) > 1900
    # every reserved word is one (and only one kind of) entry of the full lists, which train drops
    words = S.RESERVED_WORDS
    assert {"arthur", "castle", "umbrellas", "wolves", "golden"} <= words and "the" not in words
    # held-out text needs no character the train text lacks (a model trained on train can read it)
    assert set("".join(held)) <= set("".join(train))
    assert set("".join(words)) <= set("".join(S.normalise(s) for s in train))
    with pytest.raises(Exception, match="vocabulary 'test'"):
        S.SentenceGenerator(0, vocabulary="test")


def test_heldout_text_check_names_a_leaked_sentence():
    from data_prep.errors import DataError
    from data_prep.espeak_corpus import check_heldout_text

    items = [{"id": "spk000_000000", "speaker": "spk000", "text": "The cat slept."},
             {"id": "spk001_000001", "speaker": "spk001", "text": "the cat  slept"}]
    check_heldout_text(items, ["train", "train"])
    with pytest.raises(DataError, match="'the cat  slept'.*spk001_000001.*training sentence"):
        check_heldout_text(items, ["train", "test"])


def test_dev_needs_test_speakers_and_enough_voices():
    from data_prep.corpus import SplitSpec
    from data_prep.espeak_corpus import ESpeakCorpusConfig
    from svae_tts.errors import ConfigError

    with pytest.raises(ConfigError, match="dev_speakers .1. needs test_speakers"):
        SplitSpec(dev_speakers=1)
    with pytest.raises(ConfigError, match=r"test_speakers \+ dev_speakers \(2 \+ 2\) must be fewer than voices \(4\)"):
        ESpeakCorpusConfig(voices=4, test_speakers=2, dev_speakers=2)


def test_espeak_corpus_dev_and_test_hold_out_voices_and_sentences(tmp_path):
    from data_prep.corpus import SplitSpec, held_out_speakers
    from data_prep.sentences import has_reserved_word, normalise

    dd = build_espeak_corpus(tmp_path / "c", hours=1.0, voices=4, seed=2, max_utterances=12, min_words=3,
                             max_words=8, test_speakers=1, dev_speakers=1)
    assert list(dd) == ["train", "dev", "test"]
    spk = {s: set(dd[s]["speaker"]) for s in dd}
    assert len(spk["train"]) == 2 and len(spk["dev"]) == 1 and len(spk["test"]) == 1
    assert not spk["train"] & spk["dev"] and not spk["train"] & spk["test"] and not spk["dev"] & spk["test"]
    # the split's held-out speakers are the ones that got held-out text (one choice, in one place)
    held = held_out_speakers([f"spk{k:03d}" for k in range(4)], SplitSpec(test_speakers=1, dev_speakers=1, seed=2))
    assert held == {"dev": spk["dev"], "test": spk["test"]}
    train_text = {normalise(t) for t in dd["train"]["text"]}
    for s in ("dev", "test"):
        assert len(dd[s]) == 3
        assert all(has_reserved_word(t) and normalise(t) not in train_text for t in dd[s]["text"])
    assert not any(has_reserved_word(t) for t in dd["train"]["text"])
    assert not set(dd["dev"]["text"]) & set(dd["test"]["text"])
