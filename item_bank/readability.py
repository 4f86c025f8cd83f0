"""How hard an item is to read: the Flesch-Kincaid grade level (Kincaid, Fishburne, Rogers & Chissom, 1975) over
words, sentences and syllables counted here, with no dictionary to download. `certamen bank lint` fails an
item above grade 10 (item_bank/lint.py); tests check the syllable counter on words of known count and a
passage counted by hand.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Function words: left out of stem overlap and option likeness, which should count content words only.
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off
on once only or other our ours ourselves out over own same she should so some such than that the their theirs
them themselves then there these they this those through to too under until up very was we were what when where
which while who whom why will with would you your yours yourself yourselves it's that's they're we're you're
isn't doesn't don't won't can't didn't shouldn't wouldn't couldn't she's he's what's let's
""".split())

# Words whose sound the spelling rules below get wrong (checked against the CMU Pronouncing Dictionary).
SYLLABLE_EXCEPTIONS = {
    "business": 2, "people": 2, "someone": 2, "maybe": 2, "tuesday": 2, "wednesday": 2, "colonel": 2,
    "evening": 2, "evenings": 2, "junior": 2, "senior": 2, "linkedin": 2, "coordinator": 5, "homeowner": 3,
    "being": 2, "ceo": 3, "recipe": 3, "naive": 2, "coordinate": 4, "cooperate": 4, "cooperation": 5,
    "several": 3, "different": 3, "interest": 3, "family": 3, "camera": 3, "chocolate": 3, "restaurant": 3,
    "vegetable": 4, "temperature": 4, "average": 3, "apostrophe": 4, "hyperbole": 4, "simile": 3,
}
_ABBREVIATIONS = ("mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "etc.", "inc.", "ltd.", "co.", "e.g.", "i.e.", "no.")

_VOWELS = frozenset("aeiou")
_SILENT_E_COMPOUND = re.compile(  # face-book, ware-house, some-thing: the first part's e is silent
    r"^(?:fore(?=[cgmhw])|face|home|time|trade|ware|else|safe|some|life|like|place|house|base|side|store|phone"
    r"|name|whole)(?=[^aeiou][a-z]*[aeiouy])")
_SUFFIX_AFTER_SILENT_E = re.compile(r"^([a-z]*[aeiouy][a-z]*[^aeiouy]e)(?:ments?|ly|ful|fully|less|ness)$")
_HIATUS = tuple(re.compile(p) for p in (  # two vowels side by side, said as two syllables: me-di-a, ra-di-o
    r"(?<![cstg])ia", r"[ct]iat", r"(?<![tscxg])io(?!n)", r"(?<![qg])ua", r"(?<![qg])ue(?=[^aeiouy])", r"iu",
    r"eo", r"oe(?=[a-z])", r"[aeiou]ings?$", r"ie(?=t)", r"(?<![ct])ie(?=n[tc])", r"(?<!sh)iers?$",
    r"[ct]ialit", r"scien", r"creat", r"idea", r"area", r"^re(?:act|ass|u|i)", r"realis", r"realiz", r"realit",
    r"theat", r"[ai]sm$",
))


def _vowel_groups(word: str) -> int:
    """Runs of vowels; y is a vowel unless it starts a syllable (you, player), and after a consonant it is
    a syllable of its own even when a vowel follows (a-ny-one, co-py-ing)."""
    groups, in_group, split = 0, False, False
    for i, c in enumerate(word):
        if c == "y":
            prev = word[i - 1] if i else ""
            nxt = word[i + 1] if i + 1 < len(word) else ""
            prev_vowelish = prev in _VOWELS or (prev == "w" and i >= 2 and word[i - 2] in _VOWELS)
            if (i == 0 or prev_vowelish) and nxt in _VOWELS:
                vowel = False
            else:
                vowel = True
                if i > 0 and not prev_vowelish and nxt in _VOWELS:
                    groups, in_group, split = groups + 1, True, True
                    continue
        else:
            vowel = c in _VOWELS
        if vowel and (not in_group or split):
            groups += 1
        in_group, split = vowel, False
    return groups


def _has_vowel(text: str) -> bool:
    return any(c in "aeiouy" for c in text)


def _count_word(w: str) -> int:
    if w in SYLLABLE_EXCEPTIONS:
        return SYLLABLE_EXCEPTIONS[w]
    core = w
    if len(core) >= 4 and core.endswith("es") and not (core[-3] in "sxzcg" or core.endswith(("ches", "shes"))):
        core = core[:-1]  # makes -> make, tables -> table (but pa-ges, u-ses)
    elif core.endswith("eed"):
        core = core[:-1]  # agreed -> agree
    elif core.endswith("ed") and core[-3:-2] not in ("t", "d") and _has_vowel(core[:-2]):
        core = core[:-2]  # asked -> ask (post-ed keeps its syllable)
    if re.search(r"[aeiou](?:gue|que)$", core):
        core = core[:-2]  # colleague, technique
    if (core.endswith("e") and not core.endswith("ee") and _has_vowel(core[:-1])
            and not re.search(r"[^aeiouy][lr]e$", core)):
        core = core[:-1]  # silent e (but ta-ble, cen-tre)
    count = _vowel_groups(core)
    if w.endswith("ed") and re.search(r"[^aeiouyl]l$", core):
        count += 1  # hand-led
    count += sum(len(p.findall(core)) for p in _HIATUS)
    suffixed = _SUFFIX_AFTER_SILENT_E.match(w)
    if suffixed and not re.search(r"(?:[^aeiouy]l|e)e$", suffixed.group(1)):
        count -= 1  # complete-ly, state-ment
    elif _SILENT_E_COMPOUND.match(w):
        count -= 1
    if w.startswith("every"):
        count -= 1  # ev-ry
    if w.endswith("ically"):
        count -= 1  # ba-sic-ly
    return max(1, count)


def count_syllables(token: str) -> int:
    """Syllables in one word as written (vowel groups with the usual English adjustments).

    Initialisms are spelt out (HR: 2, CEO: 3), numbers count one syllable a digit, contractions
    count what is said (isn't: 2, don't: 1), hyphenated words add up their parts.
    """
    token = token.replace("\u2019", "'").strip("'")
    if "-" in token:
        return sum(count_syllables(part) for part in token.split("-") if part)
    if any(c.isdigit() for c in token):
        return max(1, sum(c.isdigit() for c in token))
    if (token.isalpha() and token.isupper() and 2 <= len(token) <= 5
            and (not re.search("[AEIOUY]", token) or (len(token) <= 3 and token.lower() not in STOPWORDS))):
        return sum(3 if c == "W" else 1 for c in token)
    base, _, tail = token.lower().partition("'")
    base = re.sub(r"[^a-z]", "", base)
    if not base:
        return 0
    if tail == "t" and base.endswith("n"):  # isn't, doesn't; don't, can't, won't
        stem = base[:-1]
        if stem and stem[-1] not in "aeiouy" and stem not in ("ca", "wo"):
            return _count_word(stem) + 1
        return _count_word(base)
    count = _count_word(base)
    if tail == "s" and re.search(r"(?:[sxz]|[cs]h|[cg]e)$", base):
        count += 1  # Felix's
    if tail == "d" and base in ("it", "that", "what"):
        count += 1  # it'd
    return count


_GRADE_WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019-][A-Za-z0-9]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")


def sentences(text: str) -> list[str]:
    """Sentences of one passage: split after . ! ? before a capital or digit, not after Mr., e.g. and the like."""
    pieces: list[str] = []
    for piece in _SENTENCE_END.split(text.strip()):
        if pieces and pieces[-1].lower().endswith(_ABBREVIATIONS):
            pieces[-1] += " " + piece
        else:
            pieces.append(piece)
    return [p for p in pieces if _GRADE_WORD.search(p)]


def flesch_kincaid_grade(words: int, sentence_count: int, syllables: int) -> float:
    """Kincaid, Fishburne, Rogers & Chissom (1975): 0.39 words/sentence + 11.8 syllables/word - 15.59."""
    if not words or not sentence_count:
        return 0.0
    return 0.39 * words / sentence_count + 11.8 * syllables / words - 15.59


@dataclass(frozen=True)
class Readability:
    words: int
    sentences: int
    syllables: int

    @property
    def grade(self) -> float:
        return flesch_kincaid_grade(self.words, self.sentences, self.syllables)


def readability(passages: Sequence[str]) -> Readability:
    """Counts over passages read one after another; each passage is at least one sentence (an option is)."""
    words = syllables = sentence_count = 0
    for passage in passages:
        tokens = _GRADE_WORD.findall(passage)
        if not tokens:
            continue
        words += len(tokens)
        syllables += sum(count_syllables(t) for t in tokens)
        sentence_count += max(1, len(sentences(passage)))
    return Readability(words, sentence_count, syllables)
