"""Differential item functioning: Mantel-Haenszel (Holland & Thayer, 1988).

Persons are matched on a stratifying variable (by default the total score on
the analysed items, studied item included, as in Holland & Thayer); within each
stratum a 2x2 table (reference/focal x correct/incorrect) is formed per item.

* common odds ratio alpha_MH = sum(A D / T) / sum(B C / T)  (A, B: reference
  right/wrong, C, D: focal right/wrong); alpha > 1 favours the reference group;
* ETS delta  MH D-DIF = -2.35 ln(alpha_MH)  (negative = item harder for the focal group);
* MH chi-square with continuity correction, 1 df;
* SE of ln(alpha) by Robins, Breslow & Greenland (1986);
* ETS categories (Zwick, 2012): A if |D| < 1 or the chi-square is not
  significant at .05; C if |D| >= 1.5 and |D| is significantly greater than 1
  (one-sided .05, z = (|D| - 1) / SE > 1.645); B otherwise.

Missing data: total-score matching needs complete responses, so only persons
who answered every analysed item are used. For sparse adaptive data pass
``matching=`` an integer stratum per person (for example binned EAP
abilities from :meth:`CalibrationResult.eap`); every person who answered the
studied item then contributes to its table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .data import ResponseData
from .errors import CalibrationInputError

__all__ = ["mantel_haenszel", "mh_statistics", "DIFResult", "ets_category"]


def mh_statistics(A, B, C, D, correct: bool = True) -> dict:
    """MH statistics from per-stratum counts; arrays (..., strata), vectorised over leading axes."""
    A, B, C, D = (np.asarray(x, dtype=float) for x in (A, B, C, D))
    T = A + B + C + D
    n_ref, n_foc = A + B, C + D
    m1, m0 = A + C, B + D
    use = T > 1
    Ts = np.where(use, T, 1.0)
    R = np.where(use, A * D / Ts, 0.0)
    S = np.where(use, B * C / Ts, 0.0)
    sR, sS = R.sum(axis=-1), S.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = sR / sS
        EA = np.where(use, n_ref * m1 / Ts, 0.0)
        VA = np.where(use, n_ref * n_foc * m1 * m0 / (Ts ** 2 * np.where(use, Ts - 1, 1.0)), 0.0)
        dev = np.abs(np.where(use, A, 0.0).sum(axis=-1) - EA.sum(axis=-1))
        if correct:
            dev = np.maximum(dev - 0.5, 0.0)
        chi2 = dev ** 2 / VA.sum(axis=-1)
        Pk = np.where(use, (A + D) / Ts, 0.0)
        Qk = np.where(use, (B + C) / Ts, 0.0)
        var_log = ((Pk * R).sum(axis=-1) / (2 * sR ** 2)
                   + (Pk * S + Qk * R).sum(axis=-1) / (2 * sR * sS)
                   + (Qk * S).sum(axis=-1) / (2 * sS ** 2))
        log_alpha = np.log(alpha)
    delta = -2.35 * log_alpha
    se_delta = 2.35 * np.sqrt(var_log)
    p = stats.chi2.sf(chi2, 1)
    return {"alpha": alpha, "log_alpha": log_alpha, "se_log_alpha": np.sqrt(var_log), "delta": delta,
            "se_delta": se_delta, "chi2": chi2, "p_value": p,
            "n_reference": n_ref.sum(axis=-1), "n_focal": n_foc.sum(axis=-1)}


def ets_category(delta, se_delta, p_value, alpha: float = 0.05) -> np.ndarray:
    """ETS A/B/C classification of MH D-DIF values (vectorised)."""
    delta, se_delta, p_value = (np.asarray(x, dtype=float) for x in (delta, se_delta, p_value))
    absd = np.abs(delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_gt1 = (absd - 1.0) / se_delta
    is_a = (absd < 1.0) | ~(p_value < alpha) | ~np.isfinite(delta)
    is_c = (absd >= 1.5) & (z_gt1 > stats.norm.ppf(1 - alpha))
    return np.where(is_a, "A", np.where(is_c, "C", "B"))


@dataclass
class DIFResult:
    """Mantel-Haenszel DIF per item (reference vs focal)."""

    item_ids: list
    alpha: np.ndarray
    delta: np.ndarray
    se_delta: np.ndarray
    chi2: np.ndarray
    p_value: np.ndarray
    category: np.ndarray
    n_reference: np.ndarray
    n_focal: np.ndarray
    reference: object
    focal: object
    n_strata: int

    def flagged(self, categories=("C",)) -> list:
        return [i for i, c in zip(self.item_ids, self.category, strict=True) if c in categories]

    def to_dict(self) -> dict:
        def f(x):
            x = float(x)
            return x if np.isfinite(x) else None
        items = []
        for j, iid in enumerate(self.item_ids):
            d = self.delta[j]
            items.append({"id": iid, "mh_odds_ratio": f(self.alpha[j]), "mh_d_dif": f(d),
                          "se_mh_d_dif": f(self.se_delta[j]), "chi2": f(self.chi2[j]),
                          "p_value": f(self.p_value[j]), "ets_category": str(self.category[j]),
                          "favours": None if not np.isfinite(d) or d == 0 else
                          ("reference" if d < 0 else "focal"),
                          "n_reference": int(self.n_reference[j]), "n_focal": int(self.n_focal[j])})
        return {"method": "Mantel-Haenszel (Holland & Thayer 1988), ETS delta = -2.35 ln(alpha)",
                "reference": str(self.reference), "focal": str(self.focal), "n_strata": self.n_strata,
                "items": items}


def mantel_haenszel(responses, groups, *, reference, focal, matching="total", items=None,
                    correct: bool = True) -> DIFResult:
    """MH DIF for every analysed (dichotomous) item.

    groups: one label per person (aligned with ``responses.person_ids``) or a
        mapping person id -> label; persons in neither group are ignored.
    matching: "total" (total score, complete cases) or an integer stratum per person.
    """
    if not isinstance(responses, ResponseData):
        responses = ResponseData.from_dense(responses)
    if items is not None:
        responses = responses.subset(items=items)
    if responses.score.max() > 1:
        raise CalibrationInputError("Mantel-Haenszel DIF here is for dichotomous (0/1) items")
    N, J = responses.n_persons, responses.n_items
    if isinstance(groups, dict):
        labels = np.asarray([groups.get(p, None) for p in responses.person_ids], dtype=object)
    else:
        labels = np.asarray(groups, dtype=object)
        if labels.shape != (N,):
            raise CalibrationInputError(f"groups has {labels.size} labels for {N} persons")
    g = np.full(N, -1)
    g[labels == reference] = 0
    g[labels == focal] = 1
    if not (g == 0).any() or not (g == 1).any():
        raise CalibrationInputError(f"need persons in both groups (reference={reference!r}, focal={focal!r})")
    if isinstance(matching, str):
        if matching != "total":
            raise CalibrationInputError("matching must be 'total' or an array of strata")
        complete = responses.person_counts() == J
        stratum = np.full(N, -1)
        totals = np.bincount(responses.person_idx, weights=responses.score, minlength=N)
        stratum[complete] = totals[complete].astype(np.int64)
    else:
        stratum = np.asarray(matching)
        if stratum.shape != (N,):
            raise CalibrationInputError(f"matching has {stratum.size} values for {N} persons")
        if not np.issubdtype(stratum.dtype, np.integer):
            raise CalibrationInputError("matching must hold integer strata (bin continuous abilities first)")
        stratum = stratum.astype(np.int64) - int(stratum.min())
    keep_p = (g >= 0) & (stratum >= 0)
    obs = keep_p[responses.person_idx]
    n_strata = int(stratum.max()) + 1
    pi = responses.person_idx[obs]
    key = ((responses.item_idx[obs] * n_strata + stratum[pi]) * 2 + g[pi]) * 2 + responses.score[obs]
    counts = np.bincount(key, minlength=J * n_strata * 4).reshape(J, n_strata, 2, 2)
    A, B = counts[:, :, 0, 1], counts[:, :, 0, 0]          # reference right / wrong
    C, D = counts[:, :, 1, 1], counts[:, :, 1, 0]          # focal right / wrong
    st = mh_statistics(A, B, C, D, correct=correct)
    cat = ets_category(st["delta"], st["se_delta"], st["p_value"])
    return DIFResult(list(responses.item_ids), st["alpha"], st["delta"], st["se_delta"], st["chi2"],
                     st["p_value"], cat, st["n_reference"], st["n_focal"], reference, focal, n_strata)
