"""Cue detection for the item bank (`certamen bank lint`): can a test-wise reader find the key without knowing?

Pure functions over loaded `ItemSource`s (no files, no database). Each option gets a few surface features
(length, justification, absolute, hedge and cautious words, words shared with the stem, likeness to the other
options, its opening word). A *single-feature rule* ("pick the longest", "pick the one without a
justification") is scored on every item: it gets 1/k of the item when the key is among the k options it picks
(ties included), else 0; its bank rate is the mean. A bank whose keys carry no cue leaves every rule near
chance (1/4). The rest: where the key's length ranks, which word classes keys and distractors use, the reading
grade of each item (Flesch-Kincaid), negative stems, near-duplicate scenarios and options, and what the keys
teach. docs/item-writing.md gives each rule's source in the item-writing literature.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse, stats

from item_bank.content import KEY_LETTERS, TEACHES_VALUES, ItemSource
from item_bank.readability import STOPWORDS, Readability, readability

# ------------------------------------------------------------------------------------------ thresholds

RULE_MAX_RATE = 0.30  # chance is 0.25; above 0.30 a rule beats guessing by a fifth (the limit)
CHANCE_RATE = 0.25  # 1 / 4 options
MAX_GRADE = 10.0  # plain-language target for a workforce exam: nothing above US grade 10 (Flesch-Kincaid)
RANK_ALPHA = 0.05  # warn when the key's length rank departs from uniform at this significance
SCENARIO_SHINGLE_WORDS = 3  # word 3-grams: unrelated scenarios share almost none, a reused sentence shares many
SCENARIO_DUPLICATE_JACCARD = 0.30  # unrelated scenarios share < 8% of 3-grams; a reworded copy shares > 35%
OPTION_DUPLICATE_JACCARD = 0.75  # options sharing 3/4 of their words differ by a word or two: redundant or a tell
KEY_LENGTH_MARGIN = 1.25  # the key 25% longer (or shorter) than every distractor stands out at a glance
MIN_TEACHES = {"protected": 20, "well-made": 20}  # keys that reward posting, not only holding back

# ------------------------------------------------------------------------------------------ word lists
# Phrases are matched as whole words on lower-cased text with "n't" spelled "not"; "word*" takes any ending.

# Why an option says it is fine: the reasoning tail of a plausible-but-wrong excuse ("..., since it's public").
JUSTIFICATION_WORDS = (
    "since", "because", "as long as", "so long as", "provided", "it's fine", "it is fine", "that's fine",
    "only a problem", "only matters", "no one will", "nobody will", "no one would", "anyway", "after all",
    "just", "so that", "otherwise", "unless", "harmless", "everyone", "everybody", "obviously", "of course",
    "clearly", "no harm", "not a big deal", "technically", "as it's", "as it is", "it's only", "it's just",
)
# Specific determiners and absolute claims: test-wise readers learn that sweeping options are usually wrong.
ABSOLUTE_WORDS = (
    "always", "never", "all", "every", "only", "must", "none", "nothing", "completely", "any", "entirely",
    "totally", "absolutely", "certainly", "definitely", "guaranteed", "automatically", "whatever",
)
# Qualifiers: careful keys get qualified ("may", "usually") while distractors overstate.
HEDGES = (
    "may", "might", "could", "usually", "generally", "often", "perhaps", "possibly", "consider*", "likely",
    "some", "probably", "typically", "sometimes", "potentially", "in most cases", "tend*", "unlikely",
)
# Holding back or handing over: when every key does this, "pick the careful one" answers the bank.
CAUTIOUS_PHRASES = (
    "not post*", "not share*", "not publish*", "not repost*", "not repl*", "not comment*", "not click*",
    "not name*", "not tag*", "not forward*", "report*", "escalat*", "ask*", "check with", "check*", "delet*",
    "remov*", "take down", "take it down", "taken down", "declin*", "refus*", "wait*", "say nothing",
    "hold off", "hold back", "flag*", "pass it to", "pass the", "refer*", "tell her manager", "tell his manager",
    "tell their manager", "tell a manager", "raise it with", "leave it to", "stay out", "pause*", "stop*",
    "get permission", "permission", "confirm*", "verify*", "approv*",
)
# Negative stems (not, never, except, least): a reader who misses the negation answers the opposite question.
NEGATIVE_STEM_WORDS = ("not", "never", "except", "least")


# ------------------------------------------------------------------------------------------ text


def normalise(text: str) -> str:
    """Lower case, straight apostrophes, "n't" spelled "not", single spaces."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"\bwon't\b", "will not", text)
    text = re.sub(r"\bcan't\b", "can not", text)
    text = re.sub(r"n't\b", " not", text)
    return " ".join(text.split())


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    parts = []
    for phrase in sorted(phrases, key=len, reverse=True):
        words = [re.escape(w[:-1]) + r"[a-z']*" if w.endswith("*") else re.escape(w) for w in phrase.split()]
        parts.append(r"\s+".join(words))
    return re.compile(r"(?<![\w'-])(?:" + "|".join(parts) + r")(?![\w'-])")


WORD_CLASSES: dict[str, tuple[str, ...]] = {
    "justification": JUSTIFICATION_WORDS,
    "absolute": ABSOLUTE_WORDS,
    "hedge": HEDGES,
    "cautious": CAUTIOUS_PHRASES,
}
_CLASS_PATTERNS = {name: _phrase_pattern(words) for name, words in WORD_CLASSES.items()}
_NEGATIVE_STEM = _phrase_pattern(NEGATIVE_STEM_WORDS)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def find_words(word_class: str, text: str) -> list[str]:
    """The phrases of one word class in `text`, in order (each occurrence once)."""
    return [m.group(0) for m in _CLASS_PATTERNS[word_class].finditer(normalise(text))]


def _stem(word: str) -> str:
    word = word.removesuffix("'s")
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def content_words(text: str) -> set[str]:
    """Stems of the words that carry meaning (no function words, none shorter than 3 letters)."""
    return {_stem(t) for t in _TOKEN.findall(normalise(text)) if len(t) >= 3 and t not in STOPWORDS}


def _opening(text: str) -> str:
    tokens = _TOKEN.findall(normalise(text))
    return tokens[0] if tokens else ""


def jaccard(first: set[str], second: set[str]) -> float:
    union = first | second
    return len(first & second) / len(union) if union else 0.0


# ------------------------------------------------------------------------------------------ reading grade


def item_readability(item: ItemSource) -> Readability:
    return readability([item.scenario, item.question, *(o["text"] for o in item.options)])


# ------------------------------------------------------------------------------------------ features


@dataclass(frozen=True)
class OptionFeatures:
    length: int  # characters
    words: dict[str, list[str]]  # word class -> the phrases found
    stem_overlap: int  # distinct content words shared with the scenario and question
    likeness: float  # mean Jaccard of content words with the other three options
    opening_shared: int  # how many other options open with the same word

    def count(self, word_class: str) -> int:
        return len(self.words[word_class])


def item_features(item: ItemSource) -> list[OptionFeatures]:
    texts = [o["text"] for o in item.options]
    stem = content_words(item.scenario + " " + item.question)
    contents = [content_words(t) for t in texts]
    openings = [_opening(t) for t in texts]
    features = []
    for n, text in enumerate(texts):
        others = [m for m in range(len(texts)) if m != n]
        features.append(OptionFeatures(
            length=len(text),
            words={name: find_words(name, text) for name in WORD_CLASSES},
            stem_overlap=len(contents[n] & stem),
            likeness=float(np.mean([jaccard(contents[n], contents[m]) for m in others])) if others else 0.0,
            opening_shared=sum(openings[m] == openings[n] for m in others),
        ))
    return features


@dataclass(frozen=True)
class Rule:
    name: str
    description: str  # what a test-wise reader does
    value: Callable[[OptionFeatures], float]
    pick: str  # "max" or "min"


RULES = (
    Rule("longest", "pick the longest option", lambda f: f.length, "max"),
    Rule("shortest", "pick the shortest option", lambda f: f.length, "min"),
    Rule("fewest-justifications", "pick the option with the fewest justification words",
         lambda f: f.count("justification"), "min"),
    Rule("fewest-absolutes", "pick the option with the fewest absolutes", lambda f: f.count("absolute"), "min"),
    Rule("most-hedges", "pick the option with the most hedges", lambda f: f.count("hedge"), "max"),
    Rule("most-cautious", "pick the most cautious option", lambda f: f.count("cautious"), "max"),
    Rule("least-cautious", "pick the least cautious option", lambda f: f.count("cautious"), "min"),
    Rule("most-stem-overlap", "pick the option sharing most words with the stem", lambda f: f.stem_overlap, "max"),
    Rule("least-stem-overlap", "pick the option sharing fewest words with the stem",
         lambda f: f.stem_overlap, "min"),
    Rule("most-like-others", "pick the option most like the other options", lambda f: f.likeness, "max"),
    Rule("odd-one-out", "pick the option least like the other options", lambda f: f.likeness, "min"),
    Rule("odd-opening", "pick the option whose first word no other option starts with",
         lambda f: f.opening_shared, "min"),
)


def rule_shares(values: np.ndarray, keys: np.ndarray, pick: str) -> np.ndarray:
    """Per item, the share of the key among the options a rule picks: 1/k when the key is one of k ties, else 0.

    `values` is items x options; `keys` the key's column per item.
    """
    if values.size == 0:
        return np.zeros(0)
    best = values.max(axis=1, keepdims=True) if pick == "max" else values.min(axis=1, keepdims=True)
    picked = np.isclose(values, best)
    key_picked = picked[np.arange(len(keys)), keys]
    return np.where(key_picked, 1.0 / picked.sum(axis=1), 0.0)


def elimination_shares(values: np.ndarray, keys: np.ndarray, pick: str) -> np.ndarray:
    """Per item, the chance of a reader who strikes out the rule's picks and guesses among the rest.

    A rule that almost never picks the key is a cue too ("never the longest"): striking its pick out
    answers a third of the items. When the rule picks every option nothing is struck out (1/4).
    """
    if values.size == 0:
        return np.zeros(0)
    best = values.max(axis=1, keepdims=True) if pick == "max" else values.min(axis=1, keepdims=True)
    picked = np.isclose(values, best)
    left = values.shape[1] - picked.sum(axis=1)
    key_left = ~picked[np.arange(len(keys)), keys]
    return np.where(left == 0, 1.0 / values.shape[1], np.where(key_left, 1.0 / np.maximum(left, 1), 0.0))


def key_length_ranks(lengths: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """1 = the key is the longest option .. 4 = the shortest; a tie counts in the key's favour (the higher rank)."""
    key_lengths = lengths[np.arange(len(keys)), keys]
    ranks: np.ndarray = 1 + (lengths > key_lengths[:, None]).sum(axis=1)
    return ranks


def scenario_duplicates(items: Sequence[ItemSource], threshold: float = SCENARIO_DUPLICATE_JACCARD,
                        n: int = SCENARIO_SHINGLE_WORDS) -> list[tuple[int, int, float]]:
    """Pairs of items (indexes, first < second) whose scenarios' word n-gram sets have Jaccard >= threshold."""
    vocabulary: dict[tuple[str, ...], int] = {}
    rows, cols = [], []
    for i, item in enumerate(items):
        tokens = _TOKEN.findall(normalise(item.scenario))
        shingles = {tuple(tokens[k:k + n]) for k in range(max(1, len(tokens) - n + 1))} if tokens else set()
        for shingle in shingles:
            rows.append(i)
            cols.append(vocabulary.setdefault(shingle, len(vocabulary)))
    if not vocabulary:
        return []
    incidence = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(items), len(vocabulary)))
    shared = sparse.triu(incidence @ incidence.T, k=1).tocoo()
    sizes = np.asarray(incidence.sum(axis=1)).ravel()
    pairs = []
    for a, b, inter in zip(shared.row, shared.col, shared.data, strict=True):
        score = inter / (sizes[a] + sizes[b] - inter)
        if score >= threshold:
            pairs.append((int(a), int(b), float(score)))
    return sorted(pairs)


# ------------------------------------------------------------------------------------------ the report


@dataclass(frozen=True)
class Finding:
    item: str
    code: str
    severity: str  # "fail" or "warn"
    message: str
    option: str | None = None  # A-D, or "A/C" for a pair, or None for the item as a whole

    def as_dict(self) -> dict[str, Any]:
        return {"item": self.item, "option": self.option, "code": self.code, "severity": self.severity,
                "message": self.message}


@dataclass
class LintReport:
    items: int
    rules: list[dict[str, Any]]
    key_length_rank: dict[str, Any]
    word_classes: list[dict[str, Any]]
    reading_grade: dict[str, Any]
    teaches: dict[str, Any]
    near_duplicates: list[dict[str, Any]]
    findings: list[Finding] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "items": self.items,
            "failures": list(self.failures),
            "warnings": list(self.warnings),
            "rules": self.rules,
            "key_length_rank": self.key_length_rank,
            "word_classes": self.word_classes,
            "reading_grade": self.reading_grade,
            "teaches": self.teaches,
            "near_duplicates": self.near_duplicates,
            "findings": [f.as_dict() for f in self.findings],
        }


def _percent(rate: float) -> str:
    return f"{100 * rate:.1f}%"


def _quoted(phrases: Iterable[str]) -> str:
    return ", ".join(f"'{p}'" for p in dict.fromkeys(phrases))


def _item_findings(item: ItemSource, features: list[OptionFeatures], grade: float,
                   max_grade: float = MAX_GRADE) -> list[Finding]:
    found: list[Finding] = []
    ident, key = item.external_id, item.key_index
    letter = KEY_LETTERS[key]
    distractors = [n for n in range(len(features)) if n != key]

    def add(code: str, severity: str, message: str, option: str | None = None) -> None:
        found.append(Finding(ident, code, severity, message, option))

    if grade > max_grade:
        add("reading-grade", "fail", f"reads at grade {grade:.1f} (limit {max_grade:g})")
    negatives = [m.group(0) for m in _NEGATIVE_STEM.finditer(normalise(item.question))]
    if negatives:
        add("negative-stem", "warn", f"the question is worded negatively ({_quoted(negatives)})")
    if item.teaches is None:
        add("teaches-missing", "warn", f"no 'teaches' ({', '.join(TEACHES_VALUES)})")
    if not features[key].count("justification"):
        for n in distractors:
            if features[n].count("justification"):
                add("justification-cue", "warn", f"distractor justifies itself "
                    f"({_quoted(features[n].words['justification'])}); the key does not", KEY_LETTERS[n])
    if not features[key].count("absolute"):
        for n in distractors:
            if features[n].count("absolute"):
                add("absolute-cue", "warn", f"distractor uses an absolute "
                    f"({_quoted(features[n].words['absolute'])}); the key does not", KEY_LETTERS[n])
    if features[key].count("hedge") and not any(features[n].count("hedge") for n in distractors):
        add("hedge-cue", "warn", f"only the key hedges ({_quoted(features[key].words['hedge'])})", letter)
    lengths = [f.length for f in features]
    others = [lengths[n] for n in distractors]
    if others and lengths[key] >= KEY_LENGTH_MARGIN * max(others):
        add("length-cue", "warn", f"the key is much the longest ({lengths[key]} chars, "
            f"distractors {min(others)}-{max(others)})", letter)
    elif others and min(others) >= KEY_LENGTH_MARGIN * lengths[key]:
        add("length-cue", "warn", f"the key is much the shortest ({lengths[key]} chars, "
            f"distractors {min(others)}-{max(others)})", letter)
    openings = [_opening(o["text"]) for o in item.options]
    distractor_openings = {openings[n] for n in distractors}
    if len(distractors) >= 3 and len(distractor_openings) == 1 and openings[key] not in distractor_openings:
        add("odd-opening", "warn", f"every distractor opens with '{openings[distractors[0]]}'; the key does not",
            letter)
    contents = [content_words(o["text"]) for o in item.options]
    for a in range(len(contents)):
        for b in range(a + 1, len(contents)):
            score = jaccard(contents[a], contents[b])
            if score >= OPTION_DUPLICATE_JACCARD:
                add("similar-options", "warn", f"options {KEY_LETTERS[a]} and {KEY_LETTERS[b]} are nearly the "
                    f"same (word overlap {score:.2f}): one is redundant, or the pair points at the key",
                    f"{KEY_LETTERS[a]}/{KEY_LETTERS[b]}")
    return found


def lint_items(items: Sequence[ItemSource], *, max_rate: float = RULE_MAX_RATE, max_grade: float = MAX_GRADE,
               min_teaches: dict[str, int] | None = None) -> LintReport:
    """Every statistic and finding of `certamen bank lint` over the given items."""
    min_teaches = MIN_TEACHES if min_teaches is None else min_teaches
    usable = [i for i in items if len(i.options) == len(KEY_LETTERS)]
    features = [item_features(i) for i in usable]
    keys = np.array([i.key_index for i in usable], dtype=int)
    failures: list[str] = []
    warnings: list[str] = []

    rules = []
    for rule in RULES:
        values = np.array([[rule.value(f) for f in fs] for fs in features], dtype=float).reshape(-1, 4)
        shares = rule_shares(values, keys, rule.pick)
        rate = float(shares.mean()) if len(shares) else 0.0
        avoid = elimination_shares(values, keys, rule.pick)
        avoid_rate = float(avoid.mean()) if len(avoid) else 0.0
        passed = rate <= max_rate
        rules.append({"name": rule.name, "description": rule.description, "rate": round(rate, 4),
                      "threshold": max_rate, "passed": passed, "avoid_rate": round(avoid_rate, 4),
                      "avoid_warning": avoid_rate > max_rate})
        if not passed:
            failures.append(f"rule '{rule.name}' ({rule.description}) picks the key in {_percent(rate)} "
                            f"of items (limit {_percent(max_rate)}; chance {_percent(CHANCE_RATE)})")
        if avoid_rate > max_rate:
            warnings.append(f"rule '{rule.name}' rarely picks the key ({_percent(rate)}): striking its pick out "
                            f"and guessing among the rest answers {_percent(avoid_rate)}")

    lengths = np.array([[f.length for f in fs] for fs in features], dtype=float).reshape(-1, 4)
    ranks = key_length_ranks(lengths, keys) if len(keys) else np.zeros(0, dtype=int)
    counts = np.bincount(ranks, minlength=5)[1:5] if len(ranks) else np.zeros(4, dtype=int)
    chi2: float | None = None
    p_value: float | None = None
    if len(ranks) >= 4:
        test = stats.chisquare(counts)
        chi2, p_value = float(test.statistic), float(test.pvalue)
    rank_warning = p_value is not None and p_value < RANK_ALPHA
    ties = int(sum(1 for row, k in zip(lengths, keys, strict=True) if (row == row[k]).sum() > 1))
    key_length_rank = {"counts": {str(r + 1): int(c) for r, c in enumerate(counts)}, "ties": ties,
                       "chi_square": None if chi2 is None else round(chi2, 3),
                       "p_value": None if p_value is None else round(p_value, 4), "alpha": RANK_ALPHA,
                       "warning": rank_warning}
    if rank_warning:
        warnings.append(f"the key's length rank is not uniform (chi-square {chi2:.2f}, p = {p_value:.3g})")

    word_classes = []
    for name in WORD_CLASSES:
        present = np.array([[f.count(name) > 0 for f in fs] for fs in features], dtype=bool).reshape(-1, 4)
        is_key = np.zeros_like(present)
        is_key[np.arange(len(keys)), keys] = True
        keys_rate = float(present[is_key].mean()) if is_key.any() else 0.0
        distractor_rate = float(present[~is_key].mean()) if (~is_key).any() else 0.0
        word_classes.append({"name": name, "keys": round(keys_rate, 4), "distractors": round(distractor_rate, 4)})

    grades = [item_readability(i).grade for i in usable]
    above = [(i.external_id, g) for i, g in zip(usable, grades, strict=True) if g > max_grade]
    reading_grade = {
        "formula": "Flesch-Kincaid grade (Kincaid et al. 1975)", "threshold": max_grade,
        "mean": round(float(np.mean(grades)), 2) if grades else None,
        "max": round(float(np.max(grades)), 2) if grades else None,
        "above": [{"item": ident, "grade": round(g, 2)} for ident, g in above],
        "per_item": {i.external_id: round(g, 2) for i, g in zip(usable, grades, strict=True)},
    }
    for ident, g in above:
        failures.append(f"{ident} reads at grade {g:.1f} (limit {max_grade:g})")

    kinds = Counter(i.teaches for i in items)
    teaches_counts = {kind: kinds.get(kind, 0) for kind in TEACHES_VALUES}
    teaches_short = {kind: teaches_counts.get(kind, 0) for kind, least in min_teaches.items()
                     if teaches_counts.get(kind, 0) < least}
    teaches = {"counts": teaches_counts, "missing": kinds.get(None, 0), "minimum": dict(min_teaches),
               "passed": not teaches_short}
    for kind, have in teaches_short.items():
        failures.append(f"{have} item(s) teach '{kind}' (at least {min_teaches[kind]} needed)")
    if kinds.get(None, 0):
        warnings.append(f"{kinds[None]} item(s) do not say what they teach")

    near_duplicates = []
    findings: list[Finding] = []
    for a, b, score in scenario_duplicates(usable):
        first, second = usable[a].external_id, usable[b].external_id
        near_duplicates.append({"first": first, "second": second, "jaccard": round(score, 3)})
        findings.append(Finding(second, "near-duplicate", "warn",
                                f"scenario nearly duplicates {first} (shared word 3-grams {score:.2f})"))
    if near_duplicates:
        warnings.append(f"{len(near_duplicates)} pair(s) of near-duplicate scenarios")

    for item, fs, grade in zip(usable, features, grades, strict=True):
        findings.extend(_item_findings(item, fs, grade, max_grade))
    findings.sort(key=lambda f: (f.item, f.option or "", f.code))
    negative = sum(1 for f in findings if f.code == "negative-stem")
    if negative:
        warnings.append(f"{negative} negatively worded stem(s)")
    return LintReport(items=len(usable), rules=rules, key_length_rank=key_length_rank, word_classes=word_classes,
                      reading_grade=reading_grade, teaches=teaches, near_duplicates=near_duplicates,
                      findings=findings, failures=failures, warnings=warnings)


def render_text(report: LintReport) -> str:
    """The report as a person reads it: tables first, then the findings grouped by item."""
    out = [f"Bank lint: {report.items} items", ""]
    out.append(f"Single-feature rules (fail above {_percent(RULE_MAX_RATE)}; chance is {_percent(CHANCE_RATE)})")
    out.append(f"  {'rule':<24}{'picks key':>10}  {'result':<6}{'avoiding it':>13}  what a test-wise reader does")
    for rule in report.rules:
        avoid = _percent(rule["avoid_rate"]) + ("!" if rule["avoid_warning"] else " ")
        out.append(f"  {rule['name']:<24}{_percent(rule['rate']):>10}  {'pass' if rule['passed'] else 'FAIL':<6}"
                   f"{avoid:>13}  {rule['description']}")
    out.append("  (avoiding it: strike the rule's pick out and guess among the rest; ! above the limit, a warning)")
    rank = report.key_length_rank
    out.append("")
    out.append("Key length rank (1 = longest .. 4 = shortest; ties count for the key)")
    out.append("  " + "   ".join(f"{r}: {c}" for r, c in rank["counts"].items()) + f"   (ties: {rank['ties']})")
    if rank["chi_square"] is not None:
        out.append(f"  chi-square against uniform {rank['chi_square']:.2f}, p = {rank['p_value']:.4g}"
                   + ("  WARNING: not uniform" if rank["warning"] else "  (uniform)"))
    out.append("")
    out.append("Word classes (share of options using at least one)")
    out.append(f"  {'class':<16}{'keys':>8}{'distractors':>13}")
    for wc in report.word_classes:
        out.append(f"  {wc['name']:<16}{_percent(wc['keys']):>8}{_percent(wc['distractors']):>13}")
    grade = report.reading_grade
    out.append("")
    if grade["mean"] is not None:
        out.append(f"Reading grade (Flesch-Kincaid): mean {grade['mean']:.1f}, max {grade['max']:.1f}; "
                   f"{len(grade['above'])} item(s) above {grade['threshold']:g}")
    teaches = report.teaches
    out.append("What the keys teach: " + ", ".join(f"{k} {v}" for k, v in teaches["counts"].items())
               + f", not set {teaches['missing']}  "
               + ("ok" if teaches["passed"] else "FAIL (at least "
                  + ", ".join(f"{v} {k}" for k, v in teaches["minimum"].items()) + ")"))
    if report.near_duplicates:
        out.append(f"Near-duplicate scenarios: {len(report.near_duplicates)} pair(s)")
    if report.findings:
        out.append("")
        out.append("Findings by item (FAIL fails the bank, warn does not)")
        current = None
        for finding in report.findings:
            if finding.item != current:
                current = finding.item
                out.append(f"  {current}")
            severity = "FAIL" if finding.severity == "fail" else "warn"
            out.append(f"    {severity:<5}{finding.option or '-':<4}{finding.code}: {finding.message}")
    out.append("")
    if report.warnings:
        out.append(f"Warnings ({len(report.warnings)})")
        out.extend(f"  - {warning}" for warning in report.warnings)
    if report.failures:
        out.append(f"Result: FAIL ({len(report.failures)} problem(s))")
        out.extend(f"  - {failure}" for failure in report.failures)
    else:
        out.append("Result: pass")
    return "\n".join(out)
