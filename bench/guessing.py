"""Can a test-wise candidate pass by guessing from the options' surface? Pass rates of guessing rules.

    python bench/guessing.py                 # 200 candidates per rule (a few minutes)
    python bench/guessing.py --quick         # 40 per rule, for a smoke check
    python bench/guessing.py --json          # machine-readable output only
    python bench/guessing.py --strike-out    # also "strike the rule's pick out, guess among the rest"

Simulated candidates sit whole adaptive exams through the JSON API (Flask's test client on a throw-away
SQLite database holding the shipped bank; nothing leaves the process). Each candidate knows the key of a
random share of the bank (`--known`, default half) and answers those items right; for every other item it
applies one guessing rule to what a learner sees: the scenario, the question and the option texts in the
order this sitting shows them. The rules are random guessing, "always the first position" (which tests the
per-sitting shuffle) and each single-feature rule of `certamen bank lint` (item_bank/lint.py), computed with
the lint's own feature functions, ties broken at random.

The reference is random guessing, measured in the same run by candidates with the same knowledge: a rule
whose pass rate is above it by more than twice the standard error of the difference (a pooled two-proportion
z-test, z > 2) beats guessing beyond the noise of the run. Candidates who know nothing and who know every key
are run too (fewer of them), to show how far the pass rate can move. Every candidate's knowledge, tie breaks
and sitting seed come from `--seed`, so a run is reproducible.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli.database import initialise  # noqa: E402
from item_bank import lint  # noqa: E402

GOAL = "no rule beats random guessing by more than the noise"
Z_NOISE = 2.0  # "beyond the noise": the difference is more than twice its standard error
PASSWORD = "bench guessing password 1"
# Many learners register and sign in from one address within seconds; these are the Flask config keys of
# the four limits (settings.DEFAULT_RATE_LIMITS), raised as the API tests raise them.
GENEROUS_RATE_LIMITS = {key: "100000 per minute" for key in ("RATELIMIT_SIGNIN", "RATELIMIT_REGISTER",
                                                             "RATELIMIT_ANSWERS", "RATELIMIT_VERIFY")}

Item = dict[str, Any]  # the "item" of a sitting view: seq, item_id, scenario, question, options [{index, text}]
Choose = Callable[[Item, np.random.Generator], int]  # a rule: the position to answer, from what a learner sees

# ------------------------------------------------------------------------------------------ guessing rules


@dataclass(frozen=True)
class LearnerView:
    """What a learner sees of an item, in the shape the lint's feature functions read (scenario, question,
    options as [{"text"}]). It has no key, so a rule cannot use one even by mistake."""

    scenario: str
    question: str
    options: list[dict[str, str]]

    @classmethod
    def of(cls, item: Item) -> LearnerView:
        return cls(item["scenario"], item["question"], [{"text": o["text"]} for o in item["options"]])


@dataclass(frozen=True)
class GuessRule:
    name: str
    description: str
    choose: Choose


def pick_extreme(values: Sequence[float], pick: str, rng: np.random.Generator) -> int:
    """Index of the largest (or smallest) value; ties, as the lint counts them (np.isclose), at random."""
    array = np.asarray(values, dtype=float)
    best = array.max() if pick == "max" else array.min()
    return int(rng.choice(np.flatnonzero(np.isclose(array, best))))


def strike_extreme(values: Sequence[float], pick: str, rng: np.random.Generator) -> int:
    """A random index among those the rule does not pick (all of them when it picks every one): the
    lint's "avoiding it" reader."""
    array = np.asarray(values, dtype=float)
    best = array.max() if pick == "max" else array.min()
    left = np.flatnonzero(~np.isclose(array, best))
    return int(rng.choice(left if left.size else np.arange(array.size)))


def lint_rule(rule: lint.Rule, strike: bool = False) -> GuessRule:
    """One of the lint's single-feature rules as a guess: the lint's features of the options as shown."""
    choose_index = strike_extreme if strike else pick_extreme

    def choose(item: Item, rng: np.random.Generator) -> int:
        values = [rule.value(f) for f in lint.item_features(LearnerView.of(item))]  # type: ignore[arg-type]
        return int(item["options"][choose_index(values, rule.pick, rng)]["index"])

    if strike:
        return GuessRule(f"not-{rule.name}", f"strike out: {rule.description}, then guess among the rest", choose)
    return GuessRule(rule.name, rule.description, choose)


def random_guess(item: Item, rng: np.random.Generator) -> int:
    return int(rng.choice([o["index"] for o in item["options"]]))


def first_position(item: Item, rng: np.random.Generator) -> int:
    return int(item["options"][0]["index"])


RANDOM = GuessRule("random", "guess at random", random_guess)


def guessing_rules(strike_out: bool) -> list[GuessRule]:
    """Random guessing first (the reference), then the rules it is compared with; new lint rules join here."""
    rules = [RANDOM, GuessRule("first-position", "always the option shown first", first_position)]
    rules += [lint_rule(rule) for rule in lint.RULES]
    if strike_out:
        rules += [lint_rule(rule, strike=True) for rule in lint.RULES]
    return rules


# ------------------------------------------------------------------------------------------ candidates


@dataclass
class Candidate:
    """Knows the keys of `known` item ids; guesses the rest with `rule`. Keeps score of its own guesses
    (the bench, not the candidate, checks them against the key afterwards)."""

    rule: GuessRule
    known: frozenset[str]
    rng: np.random.Generator
    keys: dict[str, str]  # item id -> the key's text: what a candidate who knows the item knows
    guesses: list[tuple[str, bool]] = field(default_factory=list)  # (item id, right?) per guessed item

    def answer(self, item: Item) -> int:
        key = key_position(item, self.keys[item["item_id"]])
        if item["item_id"] in self.known:
            return key
        choice = self.rule.choose(item, self.rng)
        self.guesses.append((item["item_id"], choice == key))
        return choice


def key_position(item: Item, key_text: str) -> int:
    """Where this sitting shows the key: options arrive shuffled, so the key is found by its text."""
    for option in item["options"]:
        if option["text"] == key_text:
            return int(option["index"])
    raise LookupError(f"{item['item_id']}: the key's text is not among the options shown")


def make_candidate(rule: GuessRule, known_share: float, item_ids: Sequence[str], keys: dict[str, str],
                   seed: Sequence[int]) -> tuple[Candidate, int]:
    """A candidate who knows round(share × bank) items drawn at random, and the seed of its sitting."""
    rng = np.random.default_rng(list(seed))
    count = round(known_share * len(item_ids))
    known = frozenset(str(i) for i in rng.choice(item_ids, size=count, replace=False)) if count else frozenset()
    sitting_seed = int(rng.integers(2**31 - 1))
    return Candidate(rule, known, rng, keys), sitting_seed


# ------------------------------------------------------------------------------------------ the app


def make_app(workdir: Path) -> Any:
    """The API on a throw-away SQLite database in `workdir`, its keys and instance folder there too."""
    from api import create_app
    from item_bank import accounts
    from settings import Settings

    # argon2's production parameters cost ~0.1 s a hash; thousands of registrations and sign-ins would
    # spend minutes on passwords, which have nothing to do with guessing.
    accounts.use_cheap_hashing_for_tests()
    url = f"sqlite:///{workdir / 'guessing.sqlite'}"
    initialise(url)
    settings = Settings(database_url=url, instance_dir=workdir, key_dir=workdir / "keys",
                        secret_key=secrets.token_hex(16))
    return create_app(GENEROUS_RATE_LIMITS, settings)


def bank_keys(app: Any) -> dict[str, str]:
    """Every current item's key text, by item id: the knowledge a candidate draws its known items from."""
    from sqlalchemy import select

    from storage import Item as ItemRow
    from storage.db import transaction

    with transaction(app.extensions["db_factory"]) as db:
        rows = db.execute(select(ItemRow.external_id, ItemRow.options, ItemRow.key_index)
                          .where(ItemRow.is_current.is_(True))).all()
    return {external_id: options[key]["text"] for external_id, options, key in rows}


class _SittingSeed:
    """Stands in for `secrets` in item_bank.delivery.starting while the bench runs, so each sitting's
    secret seed (its option orders, pretest items and exposure-control draws) comes from the candidate's
    seed and a run can be repeated. Session ids stay random."""

    token_urlsafe = staticmethod(secrets.token_urlsafe)

    def __init__(self) -> None:
        self.value = 0

    def randbelow(self, n: int) -> int:
        return self.value % n


@contextlib.contextmanager
def seeded_sittings() -> Iterator[_SittingSeed | None]:
    """Seeds the sittings started inside (None, and unseeded sittings, if the product changed its ways)."""
    from item_bank.delivery import starting

    if not hasattr(getattr(starting, "secrets", None), "randbelow"):
        yield None
        return
    original, holder = starting.secrets, _SittingSeed()
    starting.secrets = holder  # type: ignore[assignment]
    try:
        yield holder
    finally:
        starting.secrets = original


def sit(client: Any, email: str, exam: str, candidate: Candidate) -> dict[str, Any]:
    """Registers, signs in and sits `exam` to the end through /api/v1, answering as `candidate` does;
    the result (decision, items_answered, ...)."""
    r = client.post("/api/v1/learners", json={"name": "Bench Candidate", "email": email, "password": PASSWORD})
    _expect(r, 202)
    r = client.post("/api/v1/signin", json={"email": email, "password": PASSWORD})
    _expect(r, 200)
    headers = {"Authorization": f"Bearer {r.get_json()['token']}"}
    r = client.post("/api/v1/sessions", json={"exam_id": exam}, headers=headers)
    _expect(r, 201)
    view = r.get_json()
    while view["state"] == "in_progress":
        item = view["item"]
        r = client.post(f"/api/v1/sessions/{view['session_id']}/answers", headers=headers,
                        json={"seq": item["seq"], "item_id": item["item_id"], "choice": candidate.answer(item)})
        _expect(r, 200, 201)
        view = r.get_json()
    r = client.get(f"/api/v1/sessions/{view['session_id']}/result", headers=headers)
    _expect(r, 200)
    result: dict[str, Any] = r.get_json()
    return result


def _expect(response: Any, *statuses: int) -> None:
    if response.status_code not in statuses:
        raise RuntimeError(f"{response.request.method} {response.request.path}: {response.status_code} "
                           f"{response.get_data(as_text=True)[:500]}")


# ------------------------------------------------------------------------------------------ statistics


def wilson(passes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sensible at 0 and 1, unlike p ± 1.96 SE)."""
    if n == 0:
        return 0.0, 1.0
    p = passes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion(passes: int, n: int, ref_passes: int, ref_n: int) -> dict[str, float | None]:
    """Difference from the reference, its pooled standard error (the two-proportion z-test's) and z."""
    diff = passes / n - ref_passes / ref_n
    pooled = (passes + ref_passes) / (n + ref_n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / ref_n))
    z = diff / se if se > 0 else None
    return {"diff": diff, "se": se, "z": z}


# ------------------------------------------------------------------------------------------ the run


def run_group(client: Any, exam: str, rule: GuessRule, known_share: float, n: int, seed: int, group: int,
              item_ids: Sequence[str], keys: dict[str, str], sitting_seed: _SittingSeed | None) -> dict[str, Any]:
    """`n` candidates of one rule and knowledge share sit the exam; their passes, lengths and guesses."""
    decisions, lengths, guesses = [], [], []
    started = time.perf_counter()
    for i in range(n):
        candidate, seed_of_sitting = make_candidate(rule, known_share, item_ids, keys, (seed, group, i))
        if sitting_seed is not None:
            sitting_seed.value = seed_of_sitting
        result = sit(client, f"g{group}-c{i}@example.com", exam, candidate)
        decisions.append(result["decision"] == "pass")
        lengths.append(int(result["items_answered"]))
        guesses.extend(candidate.guesses)
    passes = sum(decisions)
    low, high = wilson(passes, n)
    hits = sum(right for _, right in guesses)
    return {
        "rule": rule.name, "description": rule.description, "known": known_share, "candidates": n,
        "passes": passes, "pass_rate": passes / n, "wilson_95": [low, high],
        "mean_length": float(np.mean(lengths)), "guesses": len(guesses), "guesses_right": hits,
        "guess_hit_rate": hits / len(guesses) if guesses else None,
        "items_above_chance": items_above_chance(guesses),
        "seconds": time.perf_counter() - started,
    }


def items_above_chance(guesses: Sequence[tuple[str, bool]], top: int = 10) -> list[dict[str, Any]]:
    """The items where a rule's guesses gained most over chance (right answers beyond a quarter of the times
    it guessed them): where its cue works, weighted by how often the adaptive test showed them."""
    seen: dict[str, list[int]] = {}
    for item_id, right in guesses:
        tally = seen.setdefault(item_id, [0, 0])
        tally[0] += 1
        tally[1] += right
    ranked = sorted(seen.items(), key=lambda kv: (-(kv[1][1] - lint.CHANCE_RATE * kv[1][0]), kv[0]))
    return [{"item": item_id, "guessed": met, "right": right} for item_id, (met, right) in ranked[:top]
            if right > lint.CHANCE_RATE * met]


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = 40 if args.quick else args.candidates
    n_reference = max(10, n // 4)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="certamen-guessing-") as tmp:
        app = make_app(Path(tmp))
        setup_seconds = time.perf_counter() - started
        try:
            keys = bank_keys(app)
            item_ids = sorted(keys)
            client = app.test_client()
            # Numbered before filtering: a rule's candidates are the same whichever others run beside it.
            rules = [(g, rule) for g, rule in enumerate(guessing_rules(args.strike_out))
                     if not args.rules or rule is RANDOM or rule.name in args.rules]
            with seeded_sittings() as sitting_seed:
                references = [run_group(client, args.exam, RANDOM, share, n_reference, args.seed, group,
                                        item_ids, keys, sitting_seed)
                              for group, share in enumerate((0.0, 1.0))]
                groups = [run_group(client, args.exam, rule, args.known, n, args.seed, 2 + g, item_ids, keys,
                                    sitting_seed)
                          for g, rule in rules]
        finally:
            app.extensions["db_engine"].dispose()
    compare(groups)
    sittings = sum(g["candidates"] for g in references + groups)
    beaten = [g["rule"] for g in groups if g["beats_random"]]
    return {
        "exam": args.exam, "known": args.known, "candidates_per_rule": n, "reference_candidates": n_reference,
        "seed": args.seed, "quick": args.quick, "bank_items": len(item_ids),
        "seeded_sittings": sitting_seed is not None,
        "python": platform.python_version(), "machine": platform.machine(),
        "references": {"know_none": references[0], "know_all": references[1]},
        "rules": groups,
        "noise": {"z": Z_NOISE, "test": "pooled two-proportion z-test against random guessing, one-sided",
                  "smallest_visible_difference": Z_NOISE * _se_of_equal(groups[0]["pass_rate"], n),
                  "false_alarm_chance": false_alarm_chance(len(groups) - 1)},
        "goal": {"text": GOAL, "met": not beaten, "rules_beating_random": beaten},
        "setup_seconds": setup_seconds, "sittings": sittings,
        "sittings_seconds": sum(g["seconds"] for g in references + groups),
        "total_seconds": time.perf_counter() - started,
    }


def compare(groups: list[dict[str, Any]]) -> None:
    """Adds each group's difference from random guessing (the first group) and whether it is beyond noise."""
    reference = groups[0]
    for group in groups:
        test = two_proportion(group["passes"], group["candidates"], reference["passes"], reference["candidates"])
        group.update(diff_vs_random=test["diff"], se_diff=test["se"], z=test["z"])
        z = test["z"]
        group["beats_random"] = group is not reference and z is not None and z > Z_NOISE
        group["below_random"] = group is not reference and z is not None and z < -Z_NOISE


def false_alarm_chance(comparisons: int) -> float:
    """How often a bank with no cue at all shows some rule at z > Z_NOISE, by chance, in one run (the rules
    taken as independent): why one flag is checked with another --seed before it is believed."""
    one = 0.5 * math.erfc(Z_NOISE / math.sqrt(2))
    return 1 - (1 - one) ** comparisons


def _se_of_equal(p: float, n: int) -> float:
    """Standard error of the difference of two rates p measured on n candidates each."""
    return math.sqrt(2 * p * (1 - p) / n)


# ------------------------------------------------------------------------------------------ output


def print_table(result: dict[str, Any]) -> None:
    n = result["candidates_per_rule"]
    print(f"Certamen guessing bench — {result['exam']}, candidates who know {result['known']:.0%} of the "
          f"{result['bank_items']}-item bank, {n} per rule, seed {result['seed']}"
          f"{' (quick)' if result['quick'] else ''}")
    print(f"  python {result['python']}, {result['machine']}; sittings seeded: "
          f"{'yes' if result['seeded_sittings'] else 'NO (not reproducible)'}")
    print()
    header = (f"  {'rule':<28}{'pass rate':>10}  {'95% (Wilson)':<14}{'vs random':>10}{'2 SE':>7}{'z':>7}"
              f"  {'beyond noise':<13}{'guesses right':>14}{'length':>8}")
    print(header)
    for group in result["rules"]:
        print(_row(group))
    print()
    print("References (random guessing on what they do not know)")
    for label, group in (("knows 0%", result["references"]["know_none"]),
                         ("knows 100%", result["references"]["know_all"])):
        low, high = group["wilson_95"]
        print(f"  {label:<28}{group['pass_rate']:>10.1%}  {f'{low:.0%}-{high:.0%}':<14}"
              f"{'':>37}{group['mean_length']:>8.1f}   ({group['candidates']} candidates)")
    print()
    noise = result["noise"]
    print(f"  noise: {noise['test']}; beyond noise when z > {noise['z']:g}; with {n} a rule, the smallest "
          f"difference this run can see is {noise['smallest_visible_difference']:.1%}")
    print(f"  {len(result['rules']) - 1} rules against one reference: a bank without cues shows some rule beyond "
          f"the noise in {noise['false_alarm_chance']:.0%} of runs; check a flag with another --seed")
    print("  guesses right: share of a rule's guessed answers that were the key (chance 25%)")
    beaten = result["goal"]["rules_beating_random"]
    for group in result["rules"]:
        if group["rule"] in beaten:
            gains = ", ".join(f"{i['item']} {i['right']}/{i['guessed']}" for i in group["items_above_chance"])
            print(f"  {group['rule']} gains most over chance on (right/guessed): {gains}")
    print()
    print(f"{GOAL}: {'MET' if result['goal']['met'] else 'MISSED (' + ', '.join(beaten) + ')'}")
    print(f"\n  {result['sittings']:,} sittings in {result['sittings_seconds']:.1f} s "
          f"({1000 * result['sittings_seconds'] / result['sittings']:.0f} ms each); database and bank "
          f"{result['setup_seconds']:.1f} s; total {result['total_seconds']:.1f} s")


def _row(group: dict[str, Any]) -> str:
    low, high = group["wilson_95"]
    if group["rule"] == RANDOM.name:
        versus, two_se, z, verdict = "-", "", "", "reference"
    else:
        versus, two_se = f"{group['diff_vs_random']:+.1%}", f"{2 * group['se_diff']:.1%}"
        z = "-" if group["z"] is None else f"{group['z']:+.2f}"
        verdict = "BEATS" if group["beats_random"] else ("below" if group["below_random"] else "no")
    hit = "-" if group["guess_hit_rate"] is None else f"{group['guess_hit_rate']:.1%}"
    return (f"  {group['rule']:<28}{group['pass_rate']:>10.1%}  {f'{low:.0%}-{high:.0%}':<14}{versus:>10}"
            f"{two_se:>7}{z:>7}  {verdict:<13}{hit:>14}{group['mean_length']:>8.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="40 candidates per rule instead of --candidates")
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--candidates", type=int, default=200, help="candidates per rule (default 200)")
    parser.add_argument("--known", type=float, default=0.5, help="share of the bank each candidate knows")
    parser.add_argument("--exam", default="social-media-frontline")
    parser.add_argument("--strike-out", action="store_true",
                        help="also each lint rule's opposite: strike its pick out and guess among the rest")
    parser.add_argument("--rules", nargs="+", metavar="NAME",
                        help="run only these rules (and random guessing, the reference), e.g. to check one at scale")
    args = parser.parse_args(argv)
    if not 0.0 <= args.known <= 1.0 or args.candidates < 1:
        parser.error("--known must be between 0 and 1, --candidates at least 1")
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
