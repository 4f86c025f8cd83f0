"""One examinee's adaptive test: select, record, re-estimate, stop.

The test is a deterministic function of (bank, config, seed, responses):
every random choice uses ``step_uniform(seed, step, draw)``, so ``from_state``
rebuilds it by replaying the stored answers and arrives at the same next item.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import irt
from ._cache import LRUCache
from .bank import Bank, BankTables
from .config import CATConfig
from .constraints import Blueprint, EnemyIndex
from .estimators import ESTIMATORS, Estimator, GridPosterior, ResponsePattern, eap
from .exposure import EXPOSURE_METHODS, Chooser
from .selection import SELECTORS, Criterion
from .stopping import SPRT, StopContext, StoppingRule, decide, stopping_rules

__all__ = ["AdaptiveTest", "SessionPlan", "prepare"]

STATE_VERSION = 1


@dataclass(frozen=True)
class SessionPlan:
    """Everything derived from (bank, config) alone, built once and shared by many adaptive tests.

    The configured strategies are looked up in their registries here, once, and
    bound to their settings: per step the test only calls ``criterion``,
    ``choose``, ``estimator`` and ``stopping.check``.
    """

    tables: BankTables
    blueprint: Blueprint
    enemies: EnemyIndex
    criterion: Criterion
    choose: Chooser
    estimator: Estimator
    # (prior_mean, prior_sd, n_points, bounds): the rest of the Estimator call
    estimator_settings: tuple[float, float, int, tuple[float, float]]
    incremental_eap: bool  # EAP: read off the test's running GridPosterior instead of calling estimator
    stopping: StoppingRule
    sprt: SPRT | None

    @classmethod
    def build(cls, bank: Bank, config: CATConfig) -> SessionPlan:
        blueprint = Blueprint(bank.area, config.blueprint, config.max_length)
        blueprint.check_feasible()
        enemies = EnemyIndex(config.enemies, bank.n_items)
        tables = bank.tables(config.quadrature_points, (config.theta_min, config.theta_max))
        estimator = ESTIMATORS.resolve(config.estimator)
        rules = stopping_rules(config)
        sprt = next((rule for rule in rules if isinstance(rule, SPRT)), None)
        return cls(
            tables=tables,
            blueprint=blueprint,
            enemies=enemies,
            criterion=SELECTORS.resolve(config.selector)(bank, tables, config),
            choose=EXPOSURE_METHODS.resolve(config.exposure)(bank, config),
            estimator=estimator,
            estimator_settings=(config.prior_mean, config.prior_sd, config.quadrature_points,
                                (config.theta_min, config.theta_max)),
            incremental_eap=estimator is eap,
            stopping=StoppingRule(config.min_length, config.max_length, rules),
            sprt=sprt,
        )


_PLAN_CACHE: LRUCache[SessionPlan] = LRUCache(size=32)


def prepare(bank: Bank, config: CATConfig) -> SessionPlan:
    """The ``SessionPlan`` for this bank and config, cached by their content fingerprints."""
    key = (bank.fingerprint, config.fingerprint)
    return _PLAN_CACHE.get_or_build(key, lambda: SessionPlan.build(bank, config))


class AdaptiveTest:
    """An adaptive test in progress.

    Usage: ``item = t.next_item()`` → show it → ``t.record(item, score)`` →
    repeat until ``next_item()`` returns None; then read ``decision``,
    ``theta``, ``se``, ``stop_reason`` and ``area_scores()``.
    """

    def __init__(self, bank: Bank, config: CATConfig, seed: int = 0):
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self._plan = prepare(bank, config)
        self._bank = bank
        self._config = config
        self._seed = int(seed)
        n = bank.n_items
        self._penalty = np.zeros(n, dtype=np.float32)
        self._buffer = np.empty(n, dtype=np.float32)
        self._scratch = np.empty(n, dtype=np.float32)
        self._items: list[int] = []
        self._scores: list[int] = []
        self._set_aside: list[int] = []
        self._barred = np.zeros(n, dtype=bool)  # set aside by Sympson-Hetter for this examinee
        self._pending: int | None = None
        self._counts = self._plan.blueprint.new_counts()
        self._posterior = GridPosterior(self._plan.tables.grid, config.prior_mean, config.prior_sd)
        self._theta, self._se = self._posterior.estimate()
        self._sprt_log_ratio = 0.0
        self._completing_blueprint = False
        self._finished = False
        self._stop_reason: str | None = None

    # ----- read-only views -------------------------------------------------
    @property
    def theta(self) -> float:
        return self._theta

    @property
    def se(self) -> float:
        return self._se

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    @property
    def decision(self) -> str | None:
        """'pass'/'fail' once finished (None before, or when the config has no cut score)."""
        if not self._finished:
            return None
        return decide(self._theta, self._config.cut_score, self._plan.sprt, self._sprt_log_ratio)

    @property
    def administered(self) -> list[int]:
        return list(self._items)

    @property
    def responses(self) -> list[int]:
        return list(self._scores)

    @property
    def set_aside(self) -> list[int]:
        """Items Sympson–Hetter drew but did not administer (barred for this examinee)."""
        return list(self._set_aside)

    @property
    def pending(self) -> int | None:
        return self._pending

    @property
    def sprt_log_ratio(self) -> float:
        return self._sprt_log_ratio

    # ----- the loop ----------------------------------------------------------
    def next_item(self) -> int | None:
        """Item to show next; the same one until it is recorded; None once finished."""
        if self._finished:
            return None
        if self._pending is not None:
            return self._pending
        step = len(self._items)
        item, set_aside = self._plan.choose(self._selection_scores(), self._seed, step, self._barred)
        if set_aside:
            self._barred[list(set_aside)] = True
            self._set_aside.extend(set_aside)
        if item is None:
            self._finish("bank_exhausted")
            return None
        self._pending = item
        return item

    def record(self, index: int, score: int) -> None:
        """Score the pending item (0/1, or 0..K-1 for graded items) and update θ, SE and stopping."""
        if self._finished:
            raise ValueError("the session is finished; no more responses can be recorded")
        if self._pending is None or index != self._pending:
            raise ValueError(f"item {index} is not the pending item (pending: {self._pending}); call next_item() first")
        self._apply(int(index), self._checked_score(index, score))

    def copy(self) -> AdaptiveTest:
        """An independent test in this one's state, in microseconds where ``from_state`` replays
        every answer: a caller that may have to take back the next ``record`` keeps one."""
        twin = copy.copy(self)  # the plan, bank and config are shared: nothing writes them
        twin._penalty, twin._barred, twin._counts = self._penalty.copy(), self._barred.copy(), self._counts.copy()
        twin._buffer, twin._scratch = np.empty_like(self._buffer), np.empty_like(self._scratch)
        twin._items, twin._scores, twin._set_aside = list(self._items), list(self._scores), list(self._set_aside)
        twin._posterior = self._posterior.copy()
        return twin

    # ----- internals ---------------------------------------------------------
    def _checked_score(self, index: int, score: object) -> int:
        top = int(self._bank.max_score[index])
        if isinstance(score, (bool, np.bool_)):
            score = int(score)
        if not isinstance(score, (int, np.integer, float, np.floating)) or score != int(score) or not 0 <= score <= top:
            raise ValueError(f"score for item {index} must be an integer in 0..{top}, got {score!r}")
        return int(score)

    def _selection_scores(self) -> np.ndarray:
        plan = self._plan
        buffer = self._buffer
        plan.criterion(self._theta, len(self._items), buffer, self._scratch)
        buffer += self._penalty
        blueprint = plan.blueprint
        if blueprint.active:
            restricted = blueprint.restricted_slots(self._counts, len(self._items), self._completing_blueprint)
            if restricted is not None:
                # last slot stands for "area outside the blueprint" (item_slot == -1)
                slot_penalty = np.full(blueprint.codes.size + 1, -np.inf)
                slot_penalty[restricted] = 0.0
                buffer += slot_penalty[blueprint.item_slot]
        return buffer

    def _apply(self, index: int, score: int) -> None:
        plan = self._plan
        bank = self._bank
        self._items.append(index)
        self._scores.append(score)
        self._pending = None
        self._penalty[index] = -np.inf
        enemies = plan.enemies.of(index)
        if enemies.size:
            self._penalty[enemies] = -np.inf
        blueprint = plan.blueprint
        slot = blueprint.item_slot[index] if blueprint.active else -1
        if slot >= 0:
            self._counts[slot] += 1
            if self._counts[slot] >= blueprint.maximums[slot]:
                self._penalty[blueprint.items_by_slot[slot]] = -np.inf

        graded = bank.is_graded[index]
        if graded:
            self._posterior.add(bank.category_log_probs(index, plan.tables.grid)[score])
        else:
            self._posterior.add(plan.tables.log_probs[index, score])
        if plan.incremental_eap:
            self._theta, self._se = self._posterior.estimate()  # equals eap() on the same grid, in O(grid)
        else:
            pattern = ResponsePattern.from_bank(bank, self._items, self._scores)
            self._theta, self._se = plan.estimator(pattern, *plan.estimator_settings)
        if plan.sprt is not None:
            self._sprt_log_ratio += self._log_ratio(index, score, plan.sprt)

        blueprint_met = not blueprint.active or blueprint.unmet(self._counts) == 0
        context = StopContext(len(self._items), self._theta, self._se, self._sprt_log_ratio, blueprint_met)
        reason = plan.stopping.check(context)
        if reason is not None:
            self._finish(reason)
        elif not blueprint_met:
            met = dataclasses.replace(context, blueprint_met=True)
            self._completing_blueprint = plan.stopping.check(met) is not None

    def _log_ratio(self, index: int, score: int, sprt: SPRT) -> float:
        bank = self._bank
        if bank.is_graded[index]:
            log_probs = bank.category_log_probs(index, np.array([sprt.theta_fail, sprt.theta_pass]))
            return float(log_probs[score, 1] - log_probs[score, 0])
        a, b, c, d = bank.a[index], bank.b[index], bank.c[index], bank.d[index]

        def log_prob(theta: float) -> float:
            p = irt.logistic_prob_one(theta, a, b, c, d)
            return math.log(max(p if score else 1.0 - p, 1e-300))

        return log_prob(sprt.theta_pass) - log_prob(sprt.theta_fail)

    def _finish(self, reason: str) -> None:
        self._finished = True
        self._stop_reason = reason
        self._pending = None

    # ----- reporting -----------------------------------------------------------
    def area_scores(self) -> list[dict[str, float]]:
        """Per content area: items, observed vs model-expected score at the final θ.

        A clearly negative ``difference`` means the examinee did worse in that area
        than their overall ability predicts: the place to study.
        """
        if not self._items:
            return []
        items = np.asarray(self._items, dtype=np.int64)
        scores = np.asarray(self._scores, dtype=float)
        expected = self._bank.expected_score(self._theta, items)
        maxima = self._bank.max_score[items].astype(float)
        areas = self._bank.area[items]
        report = []
        for code in np.unique(areas):
            mine = areas == code
            observed = float(scores[mine].sum())
            possible = float(maxima[mine].sum())
            predicted = float(expected[mine].sum())
            report.append(
                {
                    "area": int(code),
                    "n_items": int(mine.sum()),
                    "score": observed,
                    "max_score": possible,
                    "proportion": observed / possible,
                    "expected": predicted,
                    "expected_proportion": predicted / possible,
                    "difference": (observed - predicted) / possible,
                }
            )
        return report

    # ----- persistence -------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """JSON-able state; items + scores + seed are the truth, the rest is informative."""
        return {
            "version": STATE_VERSION,
            "seed": self._seed,
            "items": [int(i) for i in self._items],
            "scores": [int(s) for s in self._scores],
            "pending": self._pending,
            "finished": self._finished,
            "stop_reason": self._stop_reason,
            "theta": float(self._theta),
            "se": float(self._se),
        }

    @classmethod
    def from_state(cls, bank: Bank, config: CATConfig, state: dict[str, Any], strict: bool = True) -> AdaptiveTest:
        """Rebuild by replaying stored answers through the same selection steps.

        With ``strict`` a stored item that the replay would not have chosen (bank
        or config changed since) raises ValueError; without it the stored items
        are applied as given.
        """
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported session state (expected version {STATE_VERSION})")
        items, scores = state.get("items", []), state.get("scores", [])
        if len(items) != len(scores):
            raise ValueError("session state has different numbers of items and scores")
        test = cls(bank, config, seed=state.get("seed", 0))
        for step, (index, score) in enumerate(zip(items, scores, strict=True)):
            chosen = test.next_item()
            if chosen != index:
                if strict or test.finished:
                    raise ValueError(f"replay diverged at step {step}: stored item {index}, replay chose {chosen}")
                test._pending = int(index)
            test.record(int(index), score)
        pending = state.get("pending")
        if pending is not None and strict and test.next_item() != pending:
            raise ValueError(f"replay diverged: stored pending item {pending}, replay chose {test.next_item()}")
        return test
