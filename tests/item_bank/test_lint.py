"""`certamen bank lint`: cue statistics over synthetic banks written to temporary folders (never the shipped one)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from item_bank import lint
from item_bank.content import ContentError, load_items
from item_bank.readability import count_syllables, readability, sentences

AREAS = """\
areas:
  - slug: defamation
    code: DEF
    title: Defamation
  - slug: privacy
    code: PRI
    title: Privacy
"""

# Five-letter words (so an option's length is set by how many it has), none of them a lint word.
OPTION_WORDS = """
apple bread chair plant river stone cloud green brick lemon tiger piano house horse mouse train plane candy sugar
honey paper glass metal wheel truck shirt boots socks scarf towel sheet clock radio music dance light night beach
coast field grass juice melon olive onion pasta pizza salad toast bacon cream fruit grape peach berry crane eagle
goose robin shark snake whale zebra camel llama otter panda koala sheep
""".split()
SCENARIO_WORDS = """
office morning laptop printer window garden kitchen coffee budget market ticket letter parcel doctor nurse driver
farmer baker painter singer writer teacher student sister brother cousin neighbour village city harbour bridge
tunnel castle temple museum library station airport hotel
""".split()
QUESTION = "Which one fits best?"


def make_item(t: int, key_rank: int, *, area_code: str = "DEF", number: int | None = None,
              teaches: str | None = None) -> dict:
    """Item t: key at position t % 4, the key's length rank `key_rank` (1 = longest, 4 = shortest).

    The options share no word with each other or with the stem, open with different words and carry
    no lint word, so every rule but the length rules ties on all four options.
    """
    rng = np.random.default_rng(t)
    words = list(rng.permutation(OPTION_WORDS)[:30])
    key = t % 4
    others = [r for r in (1, 2, 3, 4) if r != key_rank]
    others = others[t % 3:] + others[:t % 3]
    ranks = others[:key] + [key_rank] + others[key:]
    options = []
    for rank in ranks:
        count = 10 - rank  # rank 1: nine words (54 characters) .. rank 4: six (36), none 25% longer than the next
        chosen, words = words[:count], words[count:]
        options.append({"text": " ".join(chosen).capitalize() + ".", "rationale": "Said in the guide."})
    scenario = " ".join(rng.permutation(SCENARIO_WORDS)[:12]).capitalize() + "."
    item = {"id": f"{area_code}-{(t + 1) if number is None else number:03d}", "difficulty": 0.0,
            "scenario": scenario, "question": QUESTION, "options": options, "key": "ABCD"[key]}
    if teaches:
        item["teaches"] = teaches
    return item


def balanced_items(n: int = 48, rank: Callable[[int], int] = lambda t: (t // 4) % 4 + 1) -> list[dict]:
    """A clean bank: key positions and key length ranks each uniform, 20 protected and 20 well-made keys."""
    kinds = ["protected"] * 20 + ["well-made"] * 20 + ["restraint"] * (n - 40)
    return [make_item(t, rank(t), teaches=kinds[t]) for t in range(n)]


def write_bank(tmp_path: Path, items: list[dict], privacy: list[dict] | None = None) -> Path:
    root = tmp_path / "content"
    (root / "items").mkdir(parents=True)
    (root / "areas.yaml").write_text(AREAS)
    (root / "items" / "defamation.yaml").write_text(yaml.safe_dump({"area": "defamation", "items": items},
                                                                   sort_keys=False, width=1000))
    if privacy:
        (root / "items" / "privacy.yaml").write_text(yaml.safe_dump({"area": "privacy", "items": privacy},
                                                                    sort_keys=False, width=1000))
    return root


def lint_bank(tmp_path: Path, items: list[dict], **kwargs) -> lint.LintReport:
    return lint.lint_items(load_items(write_bank(tmp_path, items, **kwargs)))


def rule(report: lint.LintReport, name: str) -> dict:
    return next(r for r in report.rules if r["name"] == name)


def codes(report: lint.LintReport, item: str | None = None) -> list[tuple[str, str | None, str]]:
    return [(f.item, f.option, f.code) for f in report.findings if item is None or f.item == item]


# ------------------------------------------------------------------------------------ the length rules


def test_a_key_that_is_always_longest_fails_the_longest_rule(tmp_path):
    report = lint_bank(tmp_path, balanced_items(rank=lambda t: 1))
    assert rule(report, "longest")["rate"] == 1.0 and not rule(report, "longest")["passed"]
    assert rule(report, "shortest")["rate"] == 0.0
    assert not report.passed and any("'longest'" in f for f in report.failures)
    ranks = report.key_length_rank
    assert ranks["counts"] == {"1": 48, "2": 0, "3": 0, "4": 0}
    assert ranks["p_value"] < 1e-6 and ranks["warning"]


def test_with_key_lengths_shuffled_every_rule_is_at_chance_and_the_bank_passes(tmp_path):
    report = lint_bank(tmp_path, balanced_items())
    assert {r["name"]: r["rate"] for r in report.rules} == {r.name: 0.25 for r in lint.RULES}
    assert report.key_length_rank["counts"] == {"1": 12, "2": 12, "3": 12, "4": 12}
    assert report.key_length_rank["p_value"] == 1.0 and not report.key_length_rank["warning"]
    assert report.passed, report.failures
    assert report.findings == [] and report.near_duplicates == []


def test_a_key_never_longest_is_a_warning_to_strike_the_longest_out(tmp_path):
    report = lint_bank(tmp_path, balanced_items(rank=lambda t: 2 + t % 3))
    longest = rule(report, "longest")
    assert longest["rate"] == 0.0 and longest["passed"]
    assert longest["avoid_rate"] == pytest.approx(1 / 3, abs=1e-4) and longest["avoid_warning"]
    assert any("'longest' rarely picks the key" in w for w in report.warnings)


def test_a_much_longer_key_is_named_in_its_item(tmp_path):
    items = balanced_items()
    items[0]["options"][0]["text"] = "Apple bread chair plant river stone cloud green lemon tiger piano house."
    report = lint_bank(tmp_path, items)
    assert ("DEF-001", "A", "length-cue") in codes(report, "DEF-001")


def test_rule_shares_split_ties():
    values = np.array([[3.0, 3.0, 1.0, 0.0], [5.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
    keys = np.array([1, 2, 3])
    assert lint.rule_shares(values, keys, "max").tolist() == [0.5, 0.0, 0.25]
    assert lint.rule_shares(values, keys, "min").tolist() == [0.0, 1 / 3, 0.25]
    assert lint.elimination_shares(values, keys, "max").tolist() == [0.0, 1 / 3, 0.25]


# ------------------------------------------------------------------------------------ word classes


def test_justification_tails_in_distractors_are_found(tmp_path):
    items = balanced_items()
    for item in items:
        key = "ABCD".index(item["key"])
        for n, option in enumerate(item["options"]):
            if n != key:
                option["text"] = option["text"][:-1] + ", since it is public."
    report = lint_bank(tmp_path, items)
    fewest = rule(report, "fewest-justifications")
    assert fewest["rate"] == 1.0 and not fewest["passed"]
    justification = next(w for w in report.word_classes if w["name"] == "justification")
    assert justification == {"name": "justification", "keys": 0.0, "distractors": 1.0}
    first = [(option, code) for _, option, code in codes(report, "DEF-001") if code == "justification-cue"]
    assert first == [("B", "justification-cue"), ("C", "justification-cue"), ("D", "justification-cue")]
    message = next(f.message for f in report.findings if f.code == "justification-cue")
    assert "'since'" in message


@pytest.mark.parametrize("word_class, text, found", [
    ("justification", "Post it, as long as nobody is named.", ["as long as"]),
    ("justification", "It's fine, because everyone does it.", ["it's fine", "because", "everyone"]),
    ("justification", "Justify the choice in the report.", []),
    ("absolute", "Never share anything, always ask first.", ["never", "always"]),
    ("absolute", "Everyone can see it.", []),
    ("hedge", "It may be seen as a promise and could spread.", ["may", "could"]),
    ("cautious", "Don\u2019t post it; report it to your manager.", ["not post", "report"]),
    ("cautious", "Post it now.", []),
])
def test_word_classes_match_whole_words_and_phrases(word_class, text, found):
    assert lint.find_words(word_class, text) == found


# ------------------------------------------------------------------------------------ stems and grade


def test_a_negative_stem_is_found_and_a_word_containing_not_is_not(tmp_path):
    items = balanced_items()
    items[4]["question"] = "Which of these is NOT a risk?"
    items[5]["question"] = "Which one doesn't fit?"
    items[6]["question"] = "Which notice fits best?"
    report = lint_bank(tmp_path, items)
    negative = [f.item for f in report.findings if f.code == "negative-stem"]
    assert negative == ["DEF-005", "DEF-006"]
    assert report.passed  # a warning, not a failure


KNOWN_SYLLABLES = {
    "the": 1, "a": 1, "you": 1, "yes": 1, "they": 1, "day": 1, "make": 1, "makes": 1, "page": 1, "fine": 1,
    "table": 2, "tables": 2, "people": 2, "posted": 2, "asked": 1, "shared": 1, "needed": 2, "agreed": 2,
    "handled": 2, "called": 1, "pages": 2, "uses": 2, "places": 2, "goes": 1, "does": 1, "issue": 2, "issues": 2,
    "value": 2, "colleague": 2, "colleagues": 2, "media": 3, "social": 2, "radio": 3, "video": 3, "nation": 2,
    "opinion": 3, "usual": 3, "actually": 4, "situation": 4, "anyone": 3, "everyone": 3, "every": 2,
    "copying": 3, "player": 2, "lawyer": 2, "employee": 3, "going": 2, "being": 2, "doing": 2, "completely": 3,
    "likely": 2, "statement": 2, "careful": 2, "settlement": 3, "something": 2, "sometimes": 2, "facebook": 2,
    "warehouse": 2, "safety": 2, "idea": 3, "area": 3, "create": 2, "react": 2, "client": 2, "science": 2,
    "experience": 4, "quiet": 2, "society": 4, "supplier": 3, "basically": 3, "isn't": 2, "doesn't": 2,
    "don't": 1, "can't": 1, "it's": 1, "HR": 2, "CEO": 3, "CCTV": 4, "NOT": 1, "second-hand": 3, "500": 3,
    "confidential": 4, "reputation": 4, "information": 4, "defamatory": 5, "permission": 3, "screenshot": 2,
    "online": 2, "manager": 3, "customer": 3, "business": 2, "review": 2, "bakery's": 3, "maya": 2,
}


@pytest.mark.parametrize("word, syllables", sorted(KNOWN_SYLLABLES.items()))
def test_syllables_of_words_with_known_counts(word, syllables):
    assert count_syllables(word) == syllables


# Counted by hand: Maya(2) manages(3) the(1) bakery's(3) page(1) = 5 words, 10 syllables;
# A(1) customer(3) posted(2) an(1) angry(2) review(2) about(2) a(1) late(1) order(2) = 10 words, 17;
# What(1) should(1) Maya(2) do(1) = 4 words, 5. 19 words, 3 sentences, 32 syllables:
# 0.39 * 19/3 + 11.8 * 32/19 - 15.59 = 2.4700 + 19.8737 - 15.59 = 6.7537.
PASSAGE = "Maya manages the bakery's page. A customer posted an angry review about a late order. What should Maya do?"


def test_flesch_kincaid_grade_of_a_passage_counted_by_hand():
    counts = readability([PASSAGE])
    assert (counts.words, counts.sentences, counts.syllables) == (19, 3, 32)
    assert counts.grade == pytest.approx(6.7537, abs=1e-4)
    assert sentences("Dr. Lee posted it, e.g. on Monday. Then she left.") == [
        "Dr. Lee posted it, e.g. on Monday.", "Then she left."]


def test_an_item_above_grade_ten_fails_the_bank(tmp_path):
    items = balanced_items()
    items[7]["scenario"] = ("Organisational communication requires considerable professional discretion "
                            "regarding confidential information.")
    report = lint_bank(tmp_path, items)
    assert report.reading_grade["per_item"]["DEF-008"] > 10
    assert [a["item"] for a in report.reading_grade["above"]] == ["DEF-008"]
    assert ("DEF-008", None, "reading-grade") in codes(report)
    assert not report.passed and any("DEF-008 reads at grade" in f for f in report.failures)
    assert all(g <= 10 for i, g in report.reading_grade["per_item"].items() if i != "DEF-008")


# ------------------------------------------------------------------------------------ duplicates


def test_near_duplicate_scenarios_across_items_are_listed(tmp_path):
    items = balanced_items()
    base = ("Dana runs the bakery page on Instagram. A regular customer sends her a photo of a queue outside "
            "the rival shop. She wants to post it with a joke about their bread.")
    items[2]["scenario"] = base
    twin = make_item(2, 1, area_code="PRI", number=1)
    twin["scenario"] = base.replace("She wants to post it with a joke about their bread.",
                                    "Her manager says nothing about it.")
    report = lint_bank(tmp_path, items, privacy=[twin])
    assert report.near_duplicates == [{"first": "DEF-003", "second": "PRI-001",
                                       "jaccard": report.near_duplicates[0]["jaccard"]}]
    assert report.near_duplicates[0]["jaccard"] >= lint.SCENARIO_DUPLICATE_JACCARD
    assert ("PRI-001", None, "near-duplicate") in codes(report)


def test_two_nearly_identical_options_in_an_item_are_found(tmp_path):
    items = balanced_items()
    items[9]["options"][2]["text"] = items[9]["options"][0]["text"][:-1] + " grape."
    report = lint_bank(tmp_path, items)
    assert ("DEF-010", "A/C", "similar-options") in codes(report, "DEF-010")
    assert [f.item for f in report.findings if f.code == "similar-options"] == ["DEF-010"]


# ------------------------------------------------------------------------------------ teaches


def test_an_unknown_teaches_value_is_a_schema_problem_with_its_line(tmp_path):
    items = balanced_items(8)
    items[1]["teaches"] = "bravery"
    with pytest.raises(ContentError) as caught:
        load_items(write_bank(tmp_path, items))
    problem = next(p for p in caught.value.problems if "'teaches'" in p)
    line = (tmp_path / "content/items/defamation.yaml").read_text().splitlines().index("- id: DEF-002") + 1
    assert f"defamation.yaml:{line}: DEF-002: 'teaches' must be one of restraint, protected, well-made" in problem


def test_teaches_counts_and_the_minimum_of_protected_and_well_made(tmp_path):
    items = balanced_items()
    for item in items[:2]:
        del item["teaches"]
    for item in items[20:25]:
        item["teaches"] = "restraint"
    report = lint_bank(tmp_path, items)
    assert report.teaches["counts"] == {"restraint": 13, "protected": 18, "well-made": 15}
    assert report.teaches["missing"] == 2 and not report.teaches["passed"]
    assert sorted(f for f in report.failures if "teach" in f) == [
        "15 item(s) teach 'well-made' (at least 20 needed)", "18 item(s) teach 'protected' (at least 20 needed)"]
    assert [f.item for f in report.findings if f.code == "teaches-missing"] == ["DEF-001", "DEF-002"]
    assert any("2 item(s) do not say what they teach" in w for w in report.warnings)


def test_teaches_leaves_the_content_hash_alone(tmp_path):
    item = load_items(write_bank(tmp_path, [make_item(0, 1)]))[0]
    assert item.teaches is None
    before = item.content_hash()
    legacy = hashlib.sha256(json.dumps(
        {"s": item.scenario, "q": item.question, "o": item.options, "k": item.key_index, "a": item.area},
        sort_keys=True).encode()).hexdigest()
    assert before == legacy  # the hash items had before the field existed
    item.teaches = "protected"
    assert item.content_hash() == before  # re-labelling is no new version (it would lose the item's parameters)
    item.question += " Why?"
    assert item.content_hash() != before


# ------------------------------------------------------------------------------------ the command


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", "bank", "lint", *args], capture_output=True, text=True,
                          env={**os.environ, "DATABASE_URL": "sqlite://"}, timeout=120)


def test_cli_exit_status_table_and_json(tmp_path):
    clean = write_bank(tmp_path / "clean", balanced_items())
    proc = run_cli("--content", str(clean))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "longest" in proc.stdout and "Result: pass" in proc.stdout and "chi-square" in proc.stdout

    failing = write_bank(tmp_path / "failing", balanced_items(rank=lambda t: 1))
    proc = run_cli("--content", str(failing), "--json")
    assert proc.returncode == 1 and "bank lint failed" in proc.stderr and "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) == {"passed", "items", "failures", "warnings", "rules", "key_length_rank", "word_classes",
                           "reading_grade", "teaches", "near_duplicates", "findings"}
    assert report["passed"] is False and report["items"] == 48
    assert [r["name"] for r in report["rules"]] == [r.name for r in lint.RULES]
    assert set(report["rules"][0]) == {"name", "description", "rate", "threshold", "passed", "avoid_rate",
                                       "avoid_warning"}
    assert next(r for r in report["rules"] if r["name"] == "longest")["passed"] is False
    assert set(report["key_length_rank"]) == {"counts", "ties", "chi_square", "p_value", "alpha", "warning"}
    assert set(report["teaches"]) == {"counts", "missing", "minimum", "passed"}
    assert all(set(f) == {"item", "option", "code", "severity", "message"} for f in report["findings"])

    text = run_cli("--content", str(failing))
    assert text.returncode == 1 and "FAIL" in text.stdout and "longest" in text.stdout


def test_cli_unreadable_content_exits_2(tmp_path):
    broken = write_bank(tmp_path, balanced_items(8))
    path = broken / "items" / "defamation.yaml"
    path.write_text(path.read_text().replace("key: A", "key: [A", 1))
    proc = run_cli("--content", str(broken))
    assert proc.returncode == 2 and "not valid YAML" in proc.stderr and "Traceback" not in proc.stderr
    missing = run_cli("--content", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "nowhere" in missing.stderr
