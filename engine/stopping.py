"""Composable stopping rules and the pass/fail decision.

Each rule looks at a ``StopContext`` snapshot and returns its stop reason or
None. ``StoppingRule`` combines them: stop at max length, or once the minimum
length and the blueprint minimums are met and any chosen rule fires.

Every rule has the one signature ``rule.check(ctx) -> reason or None``. The
classification rules an exam config names (``classification: none|ci|sprt``)
are registered in ``CLASSIFICATION_RULES``, each as
``build(config) -> rule or None``; ``stopping_rules(config)`` assembles the
optional rules of a config in the order they are checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .registry import Registry

if TYPE_CHECKING:
    from .config import CATConfig

__all__ = [
    "StopContext",
    "SETarget",
    "MinLength",
    "MaxLength",
    "ClassificationCI",
    "SPRT",
    "StoppingRule",
    "Rule",
    "RuleBuilder",
    "CLASSIFICATION_RULES",
    "stopping_rules",
    "decide",
]


@dataclass(frozen=True)
class StopContext:
    n_administered: int
    theta: float
    se: float
    sprt_log_ratio: float = 0.0
    blueprint_met: bool = True


@dataclass(frozen=True)
class SETarget:
    """Stop once the standard error is at or below the target precision."""

    target: float
    reason = "se_target"

    def check(self, ctx: StopContext) -> str | None:
        return self.reason if ctx.se <= self.target else None


@dataclass(frozen=True)
class MinLength:
    length: int
    reason = "min_length"

    def check(self, ctx: StopContext) -> str | None:
        return self.reason if ctx.n_administered >= self.length else None


@dataclass(frozen=True)
class MaxLength:
    length: int
    reason = "max_length"

    def check(self, ctx: StopContext) -> str | None:
        return self.reason if ctx.n_administered >= self.length else None


@dataclass(frozen=True)
class ClassificationCI:
    """NCLEX-style: stop when θ ± z·SE lies entirely on one side of the cut."""

    cut: float
    z: float = 1.96
    reason = "classification_ci"

    def check(self, ctx: StopContext) -> str | None:
        half_width = self.z * ctx.se
        if ctx.theta - half_width > self.cut or ctx.theta + half_width < self.cut:
            return self.reason
        return None


@dataclass(frozen=True)
class SPRT:
    """Wald's SPRT between θ = cut − δ (fail) and θ = cut + δ (pass).

    The session accumulates log L(cut+δ) − log L(cut−δ) item by item; it stops
    when that ratio leaves (log B, log A) with A = (1−β)/α, B = β/(1−α).
    """

    cut: float
    delta: float = 0.2
    alpha: float = 0.05
    beta: float = 0.05
    reason = "sprt"

    @property
    def upper(self) -> float:
        return math.log((1.0 - self.beta) / self.alpha)

    @property
    def lower(self) -> float:
        return math.log(self.beta / (1.0 - self.alpha))

    @property
    def theta_pass(self) -> float:
        return self.cut + self.delta

    @property
    def theta_fail(self) -> float:
        return self.cut - self.delta

    def decision(self, log_ratio: float) -> str | None:
        if log_ratio >= self.upper:
            return "pass"
        if log_ratio <= self.lower:
            return "fail"
        return None

    def check(self, ctx: StopContext) -> str | None:
        return self.reason if self.decision(ctx.sprt_log_ratio) is not None else None


@dataclass(frozen=True)
class StoppingRule:
    """max length always stops; otherwise any rule may stop once min length and blueprint minimums are met."""

    min_length: int
    max_length: int
    rules: tuple[Rule, ...] = ()

    def check(self, ctx: StopContext) -> str | None:
        if ctx.n_administered >= self.max_length:
            return MaxLength.reason
        if ctx.n_administered < self.min_length or not ctx.blueprint_met:
            return None
        for rule in self.rules:
            reason = rule.check(ctx)
            if reason is not None:
                return reason
        return None


class Rule(Protocol):
    reason: str

    def check(self, ctx: StopContext) -> str | None: ...


RuleBuilder = Callable[["CATConfig"], "Rule | None"]

def _cut_score(config: CATConfig) -> float:
    """The cut a classification rule needs (``CATConfig.validate`` already insists on one)."""
    if config.cut_score is None:
        raise ValueError(f"classification {config.classification!r} needs a cut_score")
    return config.cut_score


CLASSIFICATION_RULES: Registry[RuleBuilder] = Registry(
    "classification",
    {
        "none": lambda config: None,
        "ci": lambda config: ClassificationCI(_cut_score(config), config.ci_z),
        "sprt": lambda config: SPRT(_cut_score(config), config.sprt_delta, config.sprt_alpha, config.sprt_beta),
    },
)


def stopping_rules(config: CATConfig) -> tuple[Rule, ...]:
    """The optional rules of a config, in checking order: SE target, then the classification rule."""
    rules: list[Rule] = []
    if config.se_target is not None:
        rules.append(SETarget(config.se_target))
    classification = CLASSIFICATION_RULES.resolve(config.classification)(config)
    if classification is not None:
        rules.append(classification)
    return tuple(rules)


def decide(theta: float, cut: float | None, sprt: SPRT | None = None, sprt_log_ratio: float = 0.0) -> str | None:
    """'pass' / 'fail' against the cut; an SPRT that reached a boundary decides instead.

    An SPRT that never reached a boundary (test ended on length) falls back to θ ≥ cut.
    """
    if cut is None:
        return None
    if sprt is not None:
        verdict = sprt.decision(sprt_log_ratio)
        if verdict is not None:
            return verdict
    return "pass" if theta >= cut else "fail"
