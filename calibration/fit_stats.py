"""Item fit: Orlando & Thissen's (2000) summed-score S-X2.

For each item and summed score s, the observed proportion in each category
among persons with total score s is compared with the model-implied
proportion

    E_ik(s) = integral P_ik(theta) S*_{s-k}(theta) g(theta) / integral S_s(theta) g(theta),

where S_s is the probability of total score s on all items and S*_{s-k} on all
items but i, both from the Lord & Wingersky (1984) recursion; g is the fitted
ability distribution on the calibration quadrature. Polytomous items use the
Kang & Chen (2008) generalisation (all categories of the item). Score groups
are collapsed from the tails inward until every expected cell count reaches
``min_expected`` (1, as in Orlando & Thissen); df = groups x (K - 1) minus the
number of estimated item parameters.

Missing data: summed scores are comparable only among persons who answered the
same items, so the statistic uses the *complete cases* of the analysed item
set (``n_persons`` reports how many). For sparse adaptive data pass ``items``
= a block of items administered together (e.g. a fixed linking form); the
function refuses to run on fewer than ``min_persons`` complete cases instead of
producing a misleading statistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .data import ResponseData
from .errors import CalibrationInputError

__all__ = ["s_x2", "ItemFitResult", "lord_wingersky"]


def lord_wingersky(P: np.ndarray, n_cat=None) -> np.ndarray:
    """Summed-score distribution at each node: P (J, K, Q) -> S (max score + 1, Q).

    The recursion runs over items (unavoidable); each step is vectorised over
    scores and nodes.
    """
    J, K, Q = P.shape
    n_cat = np.full(J, K) if n_cat is None else np.asarray(n_cat)
    S = np.ones((1, Q))
    for j in range(J):
        k_j = int(n_cat[j])
        new = np.zeros((S.shape[0] + k_j - 1, Q))
        for k in range(k_j):
            new[k:k + S.shape[0]] += S * P[j, k]
        S = new
    return S


@dataclass
class ItemFitResult:
    """S-X2 per item; ``p_value`` NaN where df <= 0."""

    item_ids: list
    statistic: np.ndarray
    df: np.ndarray
    p_value: np.ndarray
    n_groups: np.ndarray
    n_persons: int
    min_expected: float

    def misfitting(self, alpha: float = 0.01) -> list:
        """Item ids with p < alpha (consider a multiplicity correction for long tests)."""
        return [i for i, p in zip(self.item_ids, self.p_value, strict=True) if np.isfinite(p) and p < alpha]

    def to_dict(self) -> dict:
        rows = []
        for j, iid in enumerate(self.item_ids):
            p = float(self.p_value[j])
            rows.append({"id": iid, "s_x2": float(self.statistic[j]), "df": int(self.df[j]),
                         "p_value": p if np.isfinite(p) else None, "n_groups": int(self.n_groups[j])})
        return {"statistic": "S-X2 (Orlando & Thissen 2000)", "n_persons": self.n_persons,
                "min_expected": self.min_expected, "items": rows}


def _collapse(expected: np.ndarray, min_expected: float) -> list:
    """Group adjacent score rows (expected counts, rows x K) from both tails inward."""
    n = len(expected)
    if n == 0:
        return []
    low = expected.min(axis=1)
    mid = n // 2
    groups_lo, cur, acc = [], [], None
    for s in range(mid):
        cur.append(s)
        acc = expected[cur].sum(axis=0)
        if acc.min() >= min_expected:
            groups_lo.append(cur)
            cur = []
    left = cur
    groups_hi, cur = [], []
    for s in range(n - 1, mid - 1, -1):
        cur.append(s)
        if expected[cur].sum(axis=0).min() >= min_expected:
            groups_hi.append(sorted(cur))
            cur = []
    right = cur
    middle = sorted(left + right)
    groups = groups_lo + ([middle] if middle else []) + groups_hi[::-1]
    # a sub-threshold middle group joins its smaller neighbour
    while len(groups) > 1:
        sums = np.array([expected[g].sum(axis=0).min() for g in groups])
        bad = np.nonzero(sums < min_expected)[0]
        if not len(bad):
            break
        i = int(bad[0])
        if i == 0:
            j = 1
        elif i == len(groups) - 1:
            j = i - 1
        else:
            j = i - 1 if sums[i - 1] <= sums[i + 1] else i + 1
        lo, hi = min(i, j), max(i, j)
        groups[lo] = sorted(groups[lo] + groups[hi])
        del groups[hi]
    del low
    return groups


def s_x2(result, responses, *, items=None, min_expected: float = 1.0, min_persons: int = 100) -> ItemFitResult:
    """Orlando-Thissen S-X2 for the calibrated items (see module docstring)."""
    if not isinstance(responses, ResponseData):
        responses = ResponseData.from_dense(responses, item_ids=result.item_ids)
    if items is not None:
        responses = responses.subset(items=items)
    ids = list(responses.item_ids)
    pos = np.asarray([result.item_index(i) for i in ids])
    J = len(ids)
    if J < 2:
        raise CalibrationInputError("S-X2 needs at least 2 items")
    complete = responses.person_counts() == J
    n = int(complete.sum())
    if n < min_persons:
        raise CalibrationInputError(
            f"S-X2 needs complete response vectors: only {n} of {responses.n_persons} persons answered "
            f"all {J} items (minimum {min_persons}); pass items= a block of items answered together")
    X = np.full((responses.n_persons, J), -1, dtype=np.int64)
    X[responses.person_idx, responses.item_idx] = responses.score
    X = X[complete]
    n_cat = result.n_categories[pos]
    if np.any(X >= n_cat[None, :]):
        raise CalibrationInputError("responses contain scores outside the calibrated categories")
    theta = result.population_mean + result.population_sd * result.quadrature_nodes
    w = np.exp(result.quadrature_log_weights)
    P = result.probabilities(theta)[pos]                        # (J, K, Q)
    total = X.sum(axis=1)
    max_score = int((n_cat - 1).sum())
    S_full = lord_wingersky(P, n_cat)                                # (max+1, Q)
    denom = S_full @ w                                          # P(total = s)
    n_s = np.bincount(total, minlength=max_score + 1).astype(float)
    scores = np.arange(1, max_score)                            # drop the two extreme scores
    n_params = _n_params(result)[pos]
    stat = np.full(J, np.nan)
    df = np.zeros(J, dtype=np.int64)
    ngroups = np.zeros(J, dtype=np.int64)
    for i in range(J):
        others = np.delete(np.arange(J), i)
        S_rest = lord_wingersky(P[others], n_cat[others])                    # (max - K_i + 2, Q)
        k_i = int(n_cat[i])
        E = np.zeros((len(scores), k_i))
        for k in range(k_i):
            idx = scores - k
            ok = (idx >= 0) & (idx < S_rest.shape[0])
            E[ok, k] = (S_rest[idx[ok]] * P[i, k]) @ w
        E /= denom[scores][:, None]
        obs = np.zeros((max_score + 1, k_i))
        np.add.at(obs, (total, X[:, i]), 1.0)
        O_cnt = obs[scores]
        E_cnt = E * n_s[scores][:, None]
        keep = n_s[scores] > 0
        groups = _collapse(E_cnt[keep], min_expected)
        Oc, Ec = O_cnt[keep], E_cnt[keep]
        x2 = 0.0
        for g in groups:
            o, e = Oc[g].sum(axis=0), Ec[g].sum(axis=0)
            x2 += float(np.sum((o - e) ** 2 / np.maximum(e, 1e-12)))
        stat[i] = x2
        ngroups[i] = len(groups)
        df[i] = len(groups) * (k_i - 1) - int(n_params[i])
    with np.errstate(invalid="ignore"):
        p = np.where(df > 0, stats.chi2.sf(stat, np.maximum(df, 1)), np.nan)
    return ItemFitResult(ids, stat, df, p, ngroups, n, min_expected)


def _n_params(result) -> np.ndarray:
    """Estimated parameters per item (0 for fixed items) for the degrees of freedom."""
    model = result.model
    k = np.asarray(result.n_categories)
    if model in ("RASCH", "1PL"):
        n = k - 1
    elif model == "3PL":
        n = np.full(len(k), 3)
    else:
        n = k.copy()
    return np.where(np.asarray(result.fixed), 0, n)
