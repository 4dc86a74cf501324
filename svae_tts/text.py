"""The project's text normalisations: what a TTS model reads, and what speech recognition is scored on.

They are two ideas on purpose (plus the CTC judge's targets, derived from the second), each written
once here so that every stage means the same by them:

* :func:`tts_text` is the text a TTS model is trained on and conditioned with. Case and
  punctuation carry prosody, so it only makes equal strings equal (Unicode NFC, single spaces).
  A TTS model's saved character vocabulary was built from this form: changing it would change
  what a saved vocabulary means.
* :func:`asr_scoring_text` is the form references and transcripts are compared in for WER/CER,
  as zero-shot TTS papers report them: Unicode NFKC, lower case, punctuation stripped (an
  apostrophe inside a word such as "don't" is kept), single spaces. Numbers are left as written
  ("42" stays "42"): expanding digits would need a language-specific verbaliser and would
  silently disagree with the references of other languages.
* :func:`ctc_char_targets` is what the small character CTC judge learns to write: the scoring
  form without digits, since the judge hears digits spoken as words and cannot spell "42" from
  the sound of "forty two". Trained on the form it is scored in, it is never marked wrong for
  casing or punctuation it was not taught to write.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
# anything that is not a letter/digit/mark/apostrophe/space is punctuation or a symbol
_NON_WORD = re.compile(r"[^\w\s']|_", re.UNICODE)
_EDGE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")
_DIGITS = re.compile(r"\d", re.UNICODE)


def tts_text(text: str) -> str:
    """NFC-normalise and collapse whitespace, so the same sentence always gives the same tokens."""
    return " ".join(unicodedata.normalize("NFC", str(text)).split())


def asr_scoring_text(text: str) -> str:
    """Lower-case, strip punctuation (keep in-word apostrophes), collapse spaces; numbers untouched."""
    text = unicodedata.normalize("NFKC", str(text)).translate(_APOSTROPHES).lower()
    text = _NON_WORD.sub(" ", text)
    text = _EDGE_APOSTROPHE.sub(" ", text)
    return " ".join(text.split())


def ctc_char_targets(text: str) -> str:
    """:func:`asr_scoring_text` without digits: the characters a CTC judge can learn from speech."""
    return " ".join(_EDGE_APOSTROPHE.sub(" ", _DIGITS.sub(" ", asr_scoring_text(text))).split())
