"""A seeded generator of varied, grammatical English sentences (our own grammar and word lists).

Why: the embedded corpus must need no downloaded or third-party text, yet a TTS model and a CTC
judge trained on it should see a realistic spread of words, lengths and sentence shapes. A small
phrase-structure grammar with agreement (a/an, singular/plural verbs, tenses) gives that; every
choice comes from one ``random.Random(seed)`` so a seed always yields the same sentences.

Held-out text: a fixed set of content words (``HELDOUT_*`` below) is reserved for the sentences of
dev and test speakers. The ``"train"`` vocabulary never uses them; the ``"heldout"`` vocabulary puts
at least one in every sentence. So no held-out sentence can equal a training sentence, and the
texts that report hold words training never saw (a model that memorised its sentences is caught).
"""

from __future__ import annotations

import random
import re

from svae_tts.config import require_order
from svae_tts.errors import ConfigError

# The grammar makes sentences of 2 to about 40 words; fewer than 1 in 500 have more than 30. A
# window must reach into that spread or no sentence ever fits (and redrawing would never end).
MIN_GRAMMAR_WORDS = 2
MAX_MIN_WORDS = 30
MAX_TRIES = 10_000  # every allowed window fits at least ~1 draw in 600, so this is never reached in practice

ADJ = """old young small large quiet noisy bright dark warm cold gentle clever careful busy lazy
happy tired curious honest patient brave shy proud calm strange simple heavy light narrow wide
empty famous ancient modern wooden golden silver green blue red yellow purple hungry sleepy
friendly distant rusty dusty fresh crisp sudden steady rapid slow loud soft polite eager
humble swift tiny enormous hidden open broken silent rainy sunny windy frozen thin thick""".split()

# (singular, plural); grouped loosely so verbs and objects stay plausible
PEOPLE = [("teacher", "teachers"), ("farmer", "farmers"), ("doctor", "doctors"), ("child", "children"),
          ("sailor", "sailors"), ("painter", "painters"), ("baker", "bakers"), ("student", "students"),
          ("driver", "drivers"), ("neighbour", "neighbours"), ("woman", "women"), ("man", "men"),
          ("captain", "captains"), ("musician", "musicians"), ("gardener", "gardeners"), ("nurse", "nurses"),
          ("writer", "writers"), ("soldier", "soldiers"), ("merchant", "merchants"), ("engineer", "engineers"),
          ("grandmother", "grandmothers"), ("stranger", "strangers"), ("officer", "officers"), ("actor", "actors")]
ANIMALS = [("dog", "dogs"), ("cat", "cats"), ("horse", "horses"), ("fox", "foxes"), ("owl", "owls"),
           ("rabbit", "rabbits"), ("goat", "goats"), ("bird", "birds"), ("mouse", "mice"), ("wolf", "wolves"),
           ("duck", "ducks"), ("bear", "bears"), ("sheep", "sheep"), ("eagle", "eagles")]
THINGS = [("book", "books"), ("letter", "letters"), ("basket", "baskets"), ("lamp", "lamps"), ("box", "boxes"),
          ("key", "keys"), ("map", "maps"), ("coat", "coats"), ("cup", "cups"), ("bottle", "bottles"),
          ("chair", "chairs"), ("window", "windows"), ("apple", "apples"), ("bicycle", "bicycles"),
          ("picture", "pictures"), ("ticket", "tickets"), ("candle", "candles"), ("blanket", "blankets"),
          ("engine", "engines"), ("umbrella", "umbrellas"), ("bell", "bells"), ("ring", "rings"),
          ("newspaper", "newspapers"), ("radio", "radios"), ("loaf of bread", "loaves of bread")]
PLACES = ["the market", "the river", "the village", "the station", "the harbour", "the old bridge",
          "the library", "the garden", "the hill", "the forest", "the kitchen", "the school", "the farm",
          "the museum", "the city", "the beach", "the valley", "the church", "the hospital", "the castle",
          "the square", "the mountain", "the lake", "the island", "the office", "the bakery"]
NAMES = ["Anna", "Thomas", "Maria", "Peter", "Helen", "David", "Clara", "Samuel", "Lucy", "Oliver", "Grace",
         "Henry", "Emma", "Daniel", "Rose", "Arthur", "Julia", "Martin", "Alice", "Victor", "Nora", "Edward",
         "Sophie", "Jacob", "Laura", "Simon", "Ruth", "George"]
TIMES = ["in the morning", "at noon", "in the evening", "at night", "on Monday", "on Sunday", "last week",
         "every day", "after dinner", "before dawn", "in the spring", "in the winter", "this afternoon",
         "at the end of the day", "once a year", "early on Friday", "late last summer"]
ADVERBS = ["quickly", "slowly", "carefully", "quietly", "happily", "suddenly", "patiently", "gently", "loudly",
           "eagerly", "rarely", "often", "always", "never", "proudly", "calmly", "nervously", "politely"]

# Reserved for held-out (dev/test) sentences; every one is also an entry of the lists above, which
# the "train" vocabulary uses without them. A mix of categories gives the held-out text variety;
# the names' capitals (A, S, J, R) and every letter also begin or occur in words training keeps,
# so held-out text needs no character a model trained on the train text lacks.
HELDOUT_NAMES = ("Arthur", "Sophie", "Jacob", "Ruth")
HELDOUT_PLACES = ("the harbour", "the castle", "the island", "the museum")
HELDOUT_THINGS = (("umbrella", "umbrellas"), ("candle", "candles"), ("bicycle", "bicycles"))
HELDOUT_ANIMALS = (("owl", "owls"), ("wolf", "wolves"), ("eagle", "eagles"))
HELDOUT_ADJ = ("ancient", "curious", "enormous", "frozen", "golden", "rusty")
# in the held-out vocabulary, the chance that one word slot takes a reserved word (the rest come
# from the train words, so held-out sentences read like training sentences but for these words)
HELDOUT_SHARE = 0.3
VOCABULARIES = ("train", "heldout")

# verbs: (base, third person, past, participle, ing); regular forms are derived by _verb


def _verb(base: str, past: str | None = None, participle: str | None = None, ing: str | None = None,
          third: str | None = None) -> tuple[str, str, str, str, str]:
    """Conjugate ``base`` (its first word, for phrasal verbs); irregular forms are given."""
    head, _, rest = base.partition(" ")
    tail = f" {rest}" if rest else ""
    if head[-1] == "y" and head[-2] not in "aeiou":
        reg_third, reg_past = head[:-1] + "ies", head[:-1] + "ied"
    else:
        reg_third = head + ("es" if head.endswith(("s", "x", "ch", "sh", "o")) else "s")
        reg_past = head + ("d" if head.endswith("e") else "ed")
    reg_ing = (head[:-1] if head.endswith("e") and not head.endswith("ee") else head) + "ing"
    past = past or reg_past + tail
    return (base, third or reg_third + tail, past, participle or past, ing or reg_ing + tail)


V_TRANS = [_verb("carry"), _verb("find", "found"), _verb("open"), _verb("paint"), _verb("read", "read"),
           _verb("sell", "sold"), _verb("buy", "bought"), _verb("hide", "hid", "hidden"), _verb("clean"),
           _verb("borrow"), _verb("lose", "lost"), _verb("mend"), _verb("watch"), _verb("bring", "brought"),
           _verb("keep", "kept"), _verb("drop", "dropped", ing="dropping"), _verb("wrap", "wrapped", ing="wrapping"),
           _verb("send", "sent"), _verb("take", "took", "taken"), _verb("give away", "gave away", "given away"),
           _verb("describe"), _verb("notice")]
V_INTRANS = [_verb("sleep", "slept"), _verb("laugh"), _verb("wait"), _verb("sing", "sang", "sung"), _verb("work"),
             _verb("rest"), _verb("run", "ran", "run", "running"), _verb("walk"), _verb("arrive"), _verb("listen"),
             _verb("travel", "travelled", ing="travelling"), _verb("whisper"), _verb("dance"), _verb("smile"),
             _verb("swim", "swam", "swum", "swimming"), _verb("climb")]
V_MOTION = [_verb("go", "went", "gone"), _verb("walk"), _verb("drive", "drove", "driven"), _verb("hurry"),
            _verb("return"), _verb("ride", "rode", "ridden")]
V_SAY = ["said", "thought", "believed", "explained", "noticed", "remembered", "whispered", "promised", "hoped"]
SUBORD = ["because", "although", "while", "when", "after", "before", "until", "since"]
COORD = ["and", "but", "so", "yet"]
DETS_SG = ["the", "a", "this", "that", "every", "one", "my", "our", "her", "his", "their"]
DETS_PL = ["the", "some", "these", "those", "many", "a few", "two", "three", "several", "our", "their", "my"]
QUANT = ["two", "three", "four", "five", "six", "seven", "eight", "ten", "twelve", "twenty"]


def _a(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _words(entries) -> set[str]:
    """The lowercase words of list entries (strings or (singular, plural) pairs)."""
    flat = [w for e in entries for w in ((e,) if isinstance(e, str) else e)]
    return {t for w in flat for t in normalise(w).split()}


def normalise(text: str) -> str:
    """Lowercase, punctuation dropped, single spaces: the form in which two sentences count as the same."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


# (all entries, the reserved ones) per word slot of the grammar
_SLOTS = {"adj": (ADJ, HELDOUT_ADJ), "people": (PEOPLE, ()), "animals": (ANIMALS, HELDOUT_ANIMALS),
          "things": (THINGS, HELDOUT_THINGS), "places": (PLACES, HELDOUT_PLACES), "names": (NAMES, HELDOUT_NAMES)}
# the lowercase words that mark a sentence as held-out: those of the reserved entries that no train
# entry has (so "the" of "the castle" is not one)
RESERVED_WORDS = frozenset(
    set().union(*(_words(reserved) for _, reserved in _SLOTS.values()))
    - set().union(*(_words(e for e in entries if e not in reserved) for entries, reserved in _SLOTS.values())))


def _pools(vocabulary: str) -> dict[str, tuple[tuple, tuple]]:
    """Per slot ``(common entries, reserved entries)``; the train vocabulary has no reserved ones."""
    out = {}
    for slot, (entries, reserved) in _SLOTS.items():
        common = tuple(e for e in entries if e not in reserved)
        out[slot] = (common, tuple(reserved) if vocabulary == "heldout" else ())
    return out


def has_reserved_word(sentence: str) -> bool:
    return not RESERVED_WORDS.isdisjoint(normalise(sentence).split())


class SentenceGenerator:
    """``SentenceGenerator(seed).sentence()`` → one sentence; same seed → same sequence.

    ``min_words``/``max_words`` bound the length (sentences are redrawn until they fit), giving the
    4–30 word spread of read speech. A window the grammar cannot fill is refused here rather than
    answered with sentences of the wrong length. ``vocabulary="train"`` never uses a reserved word
    (:data:`RESERVED_WORDS`); ``"heldout"`` redraws until a sentence holds at least one.
    """

    def __init__(self, seed: int = 0, min_words: int = 4, max_words: int = 30, vocabulary: str = "train") -> None:
        if vocabulary not in VOCABULARIES:
            raise ConfigError(f"vocabulary {vocabulary!r}: expected one of {', '.join(VOCABULARIES)}")
        if not 1 <= min_words <= MAX_MIN_WORDS or max_words < MIN_GRAMMAR_WORDS:
            raise ConfigError(f"min_words {min_words} / max_words {max_words}: the sentence grammar needs "
                              f"1 <= min_words <= {MAX_MIN_WORDS} and max_words >= {MIN_GRAMMAR_WORDS}")
        require_order("min_words", min_words, "max_words", max_words)
        self.rng = random.Random(seed)
        self.min_words = min_words
        self.max_words = max_words
        self.vocabulary = vocabulary
        self._slots = _pools(vocabulary)

    def _pick(self, slot: str):
        """One entry of ``slot``; in the held-out vocabulary a reserved one with chance ``HELDOUT_SHARE``.
        The train vocabulary draws exactly as many random numbers as before words were reserved."""
        common, reserved = self._slots[slot]
        if reserved and self.rng.random() < HELDOUT_SHARE:
            return self.rng.choice(reserved)
        return self.rng.choice(common)

    # ---- noun phrases: return (text, plural)
    def _noun(self, pool: str | None = None):
        sg, pl = self._pick(pool or self.rng.choice(["people", "people", "animals", "things"]))
        return sg, pl

    def np(self, pool: str | None = None, allow_name=True) -> tuple[str, bool]:
        r = self.rng
        if allow_name and pool is None and r.random() < 0.15:
            return self._pick("names"), False
        sg, pl = self._noun(pool)
        plural = r.random() < 0.35
        noun = pl if plural else sg
        if r.random() < 0.45:
            adj = self._pick("adj")
            if r.random() < 0.15:
                adj = f"{r.choice(['very', 'rather', 'quite'])} {adj}"
            noun = f"{adj} {noun}"
        det = r.choice(DETS_PL if plural else DETS_SG)
        if det == "a":
            det = _a(noun)
        phrase = f"{det} {noun}"
        if r.random() < 0.12:
            phrase += f" {r.choice(['from', 'near', 'by'])} {self._pick('places')}"
        return phrase, plural

    def object_np(self) -> str:
        r = self.rng
        if r.random() < 0.7:
            return self.np(r.choice(["things", "things", "animals"]))[0]
        return self.np()[0]

    # ---- verb phrases
    def verb(self, entry, plural: bool, tense: str) -> str:
        base, third, past, part, ing = entry
        if tense == "past":
            return past
        if tense == "present":
            return base if plural else third
        if tense == "future":
            return f"will {base}"
        if tense == "perfect":
            return f"{'have' if plural else 'has'} {part}"
        if tense == "progressive":
            return f"{'were' if plural else 'was'} {ing}"
        if tense == "modal":
            return f"{self.rng.choice(['can', 'should', 'might', 'must', 'could'])} {base}"
        raise ValueError(tense)

    def vp(self, plural: bool, tense: str) -> str:
        r = self.rng
        kind = r.random()
        copula = False
        if kind < 0.45:
            v = self.verb(r.choice(V_TRANS), plural, tense)
            out = f"{v} {self.object_np()}"
        elif kind < 0.7:
            out = self.verb(r.choice(V_INTRANS), plural, tense)
        elif kind < 0.88:
            out = f"{self.verb(r.choice(V_MOTION), plural, tense)} to {self._pick('places')}"
        else:
            be = {"past": "were" if plural else "was", "present": "are" if plural else "is",
                  "future": "will be", "perfect": "have been" if plural else "has been",
                  "progressive": "were" if plural else "was", "modal": "might be"}[tense]
            out = f"{be} {r.choice(['very', 'rather', 'quite', 'not', ''])} {self._pick('adj')}".replace("  ", " ")
            copula = True
        if not copula and r.random() < 0.25:
            out = f"{out} {r.choice(ADVERBS)}"
        if r.random() < 0.3:
            out += f" {r.choice(['in', 'near', 'behind', 'beside', 'across', 'outside'])} {self._pick('places')}"
        if r.random() < 0.25:
            out += f" {r.choice(TIMES)}"
        return out

    def clause(self, tense: str | None = None) -> str:
        r = self.rng
        tense = tense or r.choice(["past", "past", "present", "future", "perfect", "progressive", "modal"])
        subj, plural = self.np()
        if r.random() < 0.12:
            rel_tense = r.choice(["past", "present"])
            subj += f" who {self.vp(plural, rel_tense)}" if subj.split()[-1] in {p for pair in PEOPLE for p in pair} else ""
        return f"{subj} {self.vp(plural, tense)}"

    def _raw(self) -> str:
        r = self.rng
        shape = r.random()
        if shape < 0.35:
            s = self.clause() + "."
        elif shape < 0.5:
            s = f"{self.clause()}, {r.choice(COORD)} {self.clause()}."
        elif shape < 0.63:
            s = f"{self.clause('past')} {r.choice(SUBORD)} {self.clause('past')}."
        elif shape < 0.72:
            s = f"{r.choice(TIMES).capitalize()}, {self.clause()}."
        elif shape < 0.82:
            subj, plural = self.np()
            aux = r.choice(["Did", "Will", "Can", "Should"])
            if r.random() < 0.5:
                base, tail = r.choice(V_TRANS)[0], f" {self.object_np()}"
            else:
                base, tail = r.choice(V_INTRANS)[0], ""
            s = f"{aux} {subj} {base}{tail}?"
        elif shape < 0.9:
            s = f"{self._pick('names')} {r.choice(V_SAY)} that {self.clause('past')}."
        elif shape < 0.95:
            n = r.choice(QUANT)
            thing = self._pick("things")[1]
            s = f"There were {n} {thing} {r.choice(['on the table', 'in the box', 'by the door', 'under the bed'])}."
        else:
            s = f"{r.choice(['Please', 'Quickly,', 'Now'])} {r.choice(V_TRANS)[0]} {self.object_np()}."
        s = " ".join(s.split())
        return s[0].upper() + s[1:]

    def _fits(self, s: str) -> bool:
        if not self.min_words <= len(s.split()) <= self.max_words:
            return False
        return self.vocabulary == "train" or has_reserved_word(s)

    def sentence(self) -> str:
        for _ in range(MAX_TRIES):
            s = self._raw()
            if self._fits(s):
                return s
        raise ConfigError(f"no sentence of {self.min_words} to {self.max_words} words in {MAX_TRIES} draws; "
                          "widen the window")

    def sentences(self, n: int) -> list[str]:
        return [self.sentence() for _ in range(n)]
