"""A seeded generator of varied, grammatical English sentences (our own grammar and word lists).

Why: the embedded corpus must need no downloaded or third-party text, yet a TTS model and a CTC
judge trained on it should see a realistic spread of words, lengths and sentence shapes. A small
phrase-structure grammar with agreement (a/an, singular/plural verbs, tenses) gives that; every
choice comes from one ``random.Random(seed)`` so a seed always yields the same sentences.
"""

from __future__ import annotations

import random

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


class SentenceGenerator:
    """``SentenceGenerator(seed).sentence()`` → one sentence; same seed → same sequence.

    ``min_words``/``max_words`` bound the length (sentences are redrawn until they fit), giving the
    4–30 word spread of read speech. A window the grammar cannot fill is refused here rather than
    answered with sentences of the wrong length.
    """

    def __init__(self, seed: int = 0, min_words: int = 4, max_words: int = 30) -> None:
        if not 1 <= min_words <= MAX_MIN_WORDS or max_words < MIN_GRAMMAR_WORDS:
            raise ConfigError(f"min_words {min_words} / max_words {max_words}: the sentence grammar needs "
                              f"1 <= min_words <= {MAX_MIN_WORDS} and max_words >= {MIN_GRAMMAR_WORDS}")
        require_order("min_words", min_words, "max_words", max_words)
        self.rng = random.Random(seed)
        self.min_words = min_words
        self.max_words = max_words

    # ---- noun phrases: return (text, plural)
    def _noun(self, pool=None):
        r = self.rng
        pool = pool or r.choice([PEOPLE, PEOPLE, ANIMALS, THINGS])
        sg, pl = r.choice(pool)
        return sg, pl

    def np(self, pool=None, allow_name=True) -> tuple[str, bool]:
        r = self.rng
        if allow_name and pool is None and r.random() < 0.15:
            return r.choice(NAMES), False
        sg, pl = self._noun(pool)
        plural = r.random() < 0.35
        noun = pl if plural else sg
        if r.random() < 0.45:
            adj = r.choice(ADJ)
            if r.random() < 0.15:
                adj = f"{r.choice(['very', 'rather', 'quite'])} {adj}"
            noun = f"{adj} {noun}"
        det = r.choice(DETS_PL if plural else DETS_SG)
        if det == "a":
            det = _a(noun)
        phrase = f"{det} {noun}"
        if r.random() < 0.12:
            phrase += f" {r.choice(['from', 'near', 'by'])} {r.choice(PLACES)}"
        return phrase, plural

    def object_np(self) -> str:
        r = self.rng
        if r.random() < 0.7:
            return self.np(r.choice([THINGS, THINGS, ANIMALS]))[0]
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
            out = f"{self.verb(r.choice(V_MOTION), plural, tense)} to {r.choice(PLACES)}"
        else:
            be = {"past": "were" if plural else "was", "present": "are" if plural else "is",
                  "future": "will be", "perfect": "have been" if plural else "has been",
                  "progressive": "were" if plural else "was", "modal": "might be"}[tense]
            out = f"{be} {r.choice(['very', 'rather', 'quite', 'not', ''])} {r.choice(ADJ)}".replace("  ", " ")
            copula = True
        if not copula and r.random() < 0.25:
            out = f"{out} {r.choice(ADVERBS)}"
        if r.random() < 0.3:
            out += f" {r.choice(['in', 'near', 'behind', 'beside', 'across', 'outside'])} {r.choice(PLACES)}"
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
            s = f"{r.choice(NAMES)} {r.choice(V_SAY)} that {self.clause('past')}."
        elif shape < 0.95:
            n = r.choice(QUANT)
            thing = r.choice(THINGS)[1]
            s = f"There were {n} {thing} {r.choice(['on the table', 'in the box', 'by the door', 'under the bed'])}."
        else:
            s = f"{r.choice(['Please', 'Quickly,', 'Now'])} {r.choice(V_TRANS)[0]} {self.object_np()}."
        s = " ".join(s.split())
        return s[0].upper() + s[1:]

    def sentence(self) -> str:
        for _ in range(MAX_TRIES):
            s = self._raw()
            if self.min_words <= len(s.split()) <= self.max_words:
                return s
        raise ConfigError(f"no sentence of {self.min_words} to {self.max_words} words in {MAX_TRIES} draws; "
                          "widen the window")

    def sentences(self, n: int) -> list[str]:
        return [self.sentence() for _ in range(n)]
