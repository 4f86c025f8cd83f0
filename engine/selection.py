"""Item selection criteria over an eligibility mask.

Scores are "higher is better" arrays over the whole bank; ineligible items are
pushed to -inf so a plain argmax (or top-k) respects the mask.

Selectors for sessions are registered by name in ``SELECTORS``. Each entry has
the one ``Selector`` signature ``selector(bank, tables, config) -> Criterion``:
it binds what the config and bank fix once per ``SessionPlan``, and returns the
per-step ``Criterion``::

    criterion(theta, n_administered, out, scratch) -> None

which writes every item's score at θ̂ into ``out`` (``scratch`` is a work array
of the same shape and dtype).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from . import irt
from .irt import FloatArray
from .registry import Registry

if TYPE_CHECKING:
    from .bank import Bank, BankTables
    from .config import CATConfig

__all__ = [
    "masked_scores",
    "best_item",
    "top_k",
    "max_info_scores",
    "kl_scores",
    "Criterion",
    "Selector",
    "max_info_selector",
    "kl_selector",
    "SELECTORS",
]

# Beyond this k a partition beats repeated argmax passes (measured on 10k items:
# one argmax pass ~1.3 µs, one argpartition ~85 µs).
_ARGMAX_TOP_K_LIMIT = 32


def masked_scores(scores: np.ndarray, eligible: np.ndarray | None) -> np.ndarray:
    """Copy of scores with ineligible items at -inf."""
    scores = np.asarray(scores, dtype=float)
    if eligible is None:
        return scores.copy()
    return np.where(eligible, scores, -np.inf)


def best_item(scores: np.ndarray, eligible: np.ndarray | None = None) -> int | None:
    """Index of the highest-scoring eligible item, or None if nothing is eligible."""
    if eligible is not None:
        scores = masked_scores(scores, eligible)
    index = int(scores.argmax())
    return None if scores[index] == -np.inf else index


def top_k(scores: np.ndarray, k: int, eligible: np.ndarray | None = None) -> np.ndarray:
    """The k best eligible items, best first (fewer if fewer are eligible).

    ``scores`` is left unchanged (entries are temporarily masked and restored).
    """
    if eligible is not None:
        scores = masked_scores(scores, eligible)
    n = scores.size
    k = min(int(k), n)
    if k <= _ARGMAX_TOP_K_LIMIT:
        chosen: list[int] = []
        saved: list[float] = []
        for _ in range(k):
            index = int(scores.argmax())
            if scores[index] == -np.inf:
                break
            chosen.append(index)
            saved.append(float(scores[index]))
            scores[index] = -np.inf
        scores[chosen] = saved
        return np.asarray(chosen, dtype=np.int64)
    part = np.argpartition(scores, n - k)[n - k :]
    part = part[scores[part] > -np.inf]
    order = np.lexsort((part, -scores[part]))
    return part[order].astype(np.int64)


def max_info_scores(bank: Bank, theta: float) -> FloatArray:
    """Fisher information of every item at θ (the maximum-information criterion)."""
    return bank.information(theta)


def kl_scores(bank: Bank, theta: float, n_administered: int, delta_c: float = 3.0, n_points: int = 11) -> FloatArray:
    """Chang & Ying (1996) global KL index: ∫ KL(θ̂ ‖ t) dt over t ∈ [θ̂ − δ, θ̂ + δ], δ = c/√n.

    The interval shrinks as the test lengthens, so early selection looks at a
    wide neighbourhood of θ̂ (robust to a poor early estimate) and late
    selection approaches Fisher information. Integrated with Simpson's rule.
    """
    if n_points % 2 == 0:
        n_points += 1
    delta = delta_c / math.sqrt(max(n_administered, 1))
    nodes = np.linspace(theta - delta, theta + delta, n_points)
    weights = np.ones(n_points)
    weights[1:-1:2] = 4.0
    weights[2:-1:2] = 2.0
    weights *= (nodes[1] - nodes[0]) / 3.0

    b = np.nan_to_num(bank.b)
    log_p_hat, log_q_hat = irt.logistic_log_prob(theta, bank.a, b, bank.c, bank.d)
    log_p, log_q = irt.logistic_log_prob(nodes[:, None], bank.a, b, bank.c, bank.d)
    divergence = np.exp(log_p_hat) * (log_p_hat - log_p) + np.exp(log_q_hat) * (log_q_hat - log_q)
    index: FloatArray = weights @ divergence
    if bank.has_graded:
        g = bank.graded_indices
        p_hat = irt.graded_category_probs(theta, bank.a[g], bank.thresholds[g])
        p_nodes = irt.graded_category_probs(nodes, bank.a[g], bank.thresholds[g])
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p_hat > 0, p_hat * (np.log(p_hat) - np.log(np.maximum(p_nodes, 1e-300))), 0.0)
        index[g] = weights @ terms.sum(axis=-1)
    return index


# the session's float32 score buffer and a scratch array of the same shape
ScoreBuffer = npt.NDArray[np.float32]
Criterion = Callable[[float, int, ScoreBuffer, ScoreBuffer], None]
Selector = Callable[["Bank", "BankTables", "CATConfig"], Criterion]


def max_info_selector(bank: Bank, tables: BankTables, config: CATConfig) -> Criterion:
    """Maximum Fisher information, interpolated from the bank's precomputed table."""
    information_at = tables.information_at

    def criterion(theta: float, n_administered: int, out: ScoreBuffer, scratch: ScoreBuffer) -> None:
        information_at(theta, out, scratch)

    return criterion


def kl_selector(bank: Bank, tables: BankTables, config: CATConfig) -> Criterion:
    """Chang & Ying global KL index with ``config.kl_delta`` (see ``kl_scores``)."""
    delta_c = config.kl_delta

    def criterion(theta: float, n_administered: int, out: ScoreBuffer, scratch: ScoreBuffer) -> None:
        out[:] = kl_scores(bank, theta, n_administered, delta_c)

    return criterion


SELECTORS: Registry[Selector] = Registry("selector", {"max_info": max_info_selector, "kl": kl_selector})
