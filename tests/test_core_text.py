"""The text normalisations (svae_tts.text): hand-worked values, and every stage that reads text uses them."""

import pytest

from svae_tts.text import asr_scoring_text, ctc_char_targets, tts_text

# (input, TTS text, ASR scoring text, CTC character targets), worked out by hand
CASES = [
    ("  Hello, World!  It's 42 -- \u201cOK\u201d.", "Hello, World! It's 42 -- \u201cOK\u201d.",
     "hello world it's 42 ok", "hello world it's ok"),
    ("Don\u2019t  'quote'", "Don\u2019t 'quote'", "don't quote", "don't quote"),
    ("twenty-three", "twenty-three", "twenty three", "twenty three"),
    # a decomposed accent is composed (NFC / NFKC), never split off as punctuation
    ("Cafe\u0301 au lait\tnow", "Caf\u00e9 au lait now", "caf\u00e9 au lait now", "caf\u00e9 au lait now"),
    # compatibility characters are folded for scoring only; the TTS text keeps what was written
    ("snake_case_name, x\u00b2 and \ufb01ne", "snake_case_name, x\u00b2 and \ufb01ne",
     "snake case name x2 and fine", "snake case name x and fine"),
    ("The 1990s' best", "The 1990s' best", "the 1990s best", "the s best"),
    ("It's 3's turn", "It's 3's turn", "it's 3's turn", "it's s turn"),  # a digit gone leaves no edge apostrophe
]


@pytest.mark.parametrize("raw, tts, scoring, ctc", CASES)
def test_hand_worked_values(raw, tts, scoring, ctc):
    assert tts_text(raw) == tts
    assert asr_scoring_text(raw) == scoring
    assert ctc_char_targets(raw) == ctc
    assert asr_scoring_text(ctc) == ctc and asr_scoring_text(scoring) == scoring  # scoring leaves them be


@pytest.mark.parametrize("raw, tts, scoring, ctc", CASES)
def test_every_stage_reads_text_the_same_way(raw, tts, scoring, ctc):
    """The former call sites (CTC targets, the probe, WER/CER, the TTS vocabulary) give the same text."""
    from data_prep.ctc_vocab import SEP, target_text
    from eval.metrics.text import word_errors
    from eval.probe import tokenize
    from tts_recipes.text import Vocabulary

    assert target_text({"text": raw}, "char") == ctc
    assert tokenize(raw, "char") == list(scoring.replace(" ", SEP))
    assert word_errors(raw, scoring).errors == 0 and word_errors(scoring, raw).errors == 0
    vocab = Vocabulary.build([raw])
    assert "".join(vocab.chars[i] for i in vocab.ids(raw)) == tts


def test_embedded_corpus_text_is_unchanged_by_every_normaliser():
    """The generated corpus sentences are plain: what a saved judge or TTS vocabulary was built from stays."""
    from data_prep.sentences import SentenceGenerator

    for s in SentenceGenerator(seed=3).sentences(500):
        assert tts_text(s) == s
        assert ctc_char_targets(s) == asr_scoring_text(s) == " ".join(s.lower().replace(",", " ").replace(".", " ")
                                                                      .replace("?", " ").replace("!", " ").split())
