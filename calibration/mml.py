"""Marginal maximum likelihood by EM (Bock & Aitkin, 1981) on a fixed quadrature.

E-step: a sparse (persons x item-categories) indicator matrix Z turns the
per-person log-likelihood at every node into one matrix product
``L = Z @ log P`` and the expected counts into ``R = Z.T @ posterior``, so
missing responses cost nothing and no loop runs over persons (persons are only
processed in memory-bounded row chunks). Dense data uses BLAS, sparse data
scipy's CSR kernels; small tests are collapsed to distinct response patterns.

M-step (:mod:`calibration.mstep`): Fisher scoring on all items at once (batched
p x p systems) with a per-item step-halving line search on the expected
complete-data log-posterior, i.e. a generalised EM that never decreases the
marginal log-posterior.

Standard errors: observed information of the marginal likelihood by Louis's
(1982) identity, I = E[complete information | x] - sum_n Cov[complete score | x_n],
computed exactly; for problems too large for that (cost ~ persons * nodes *
parameters^2) the cross-product (XPD) approximation sum_n s_n s_n' is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from .errors import CalibrationInputError
from .models import prior_terms
from .mstep import log_prior, mstep

__all__ = ["Quadrature", "Design", "run_em", "observed_information"]

_CELL_BUDGET = 2_000_000        # floats per person-chunk work array (~16 MB)
_LOUIS_BUDGET = 2.0e10          # multiply-adds allowed for exact Louis information
_SMALL_BUDGET = 200_000         # floats per cache-sized block in the information sums


@dataclass
class Quadrature:
    """Equally spaced nodes on [-bound, bound] with normalised N(0, 1) weights.

    A rectangle rule on a wide grid is spectrally accurate for smooth integrands
    against the normal density (what BILOG-MG and mirt use); with the default
    41 nodes on [-6, 6] the LSAT-6 log-likelihood is exact to < 1e-6.
    """

    n: int = 41
    bound: float = 6.0

    def __post_init__(self):
        if int(self.n) < 5:
            raise CalibrationInputError(f"n_quadrature must be at least 5, got {self.n}")
        self.z = np.linspace(-self.bound, self.bound, int(self.n))
        lw = -0.5 * self.z ** 2
        self.log_w = lw - np.log(np.exp(lw).sum())

    @property
    def weights(self):
        return np.exp(self.log_w)


class Design:
    """Persons x item-category indicator matrix, chunked by persons.

    Incomplete (sparse) data use one column per item category and one nonzero
    per response. Complete data use the reduced coding
    L = sum_{c>=1} Z_c (log P_c - log P_0) + sum_j log P_j0, whose last term is
    a constant row, so dichotomous complete data need only one column per item.
    Persons without responses are dropped (they carry no information about
    items); ``weights`` are pattern frequencies when identical response
    patterns were collapsed (short tests).
    """

    def __init__(self, data, n_cat: np.ndarray, n_nodes: int, *, dense: bool | None = None,
                 collapse: bool | None = None):
        J = data.n_items
        self.n_items = J
        self.n_cat = np.asarray(n_cat, dtype=np.int64)
        self.k_max = int(self.n_cat.max())
        counts = data.person_counts()
        active = np.nonzero(counts > 0)[0]
        row_len = counts[active]
        items = data.item_idx
        scores = data.score
        n = len(active)
        self.person_index = active            # design row -> person index (None if collapsed)
        self.n_persons = int(n)
        weights = None
        rows = None                           # per-response design rows, built only when needed
        if collapse is None:
            collapse = J <= 24 and n >= 50
        if collapse:
            rows = self._rows(data, active)
            codes = np.full((n, J), -1, dtype=np.int8 if self.k_max < 120 else np.int16)
            codes[rows, items] = scores
            uniq, counts_u = np.unique(codes, axis=0, return_counts=True)
            if len(uniq) <= 0.5 * n:
                rows, items = np.nonzero(uniq >= 0)          # row-major: sorted by row
                scores = uniq[rows, items]
                row_len = np.bincount(rows, minlength=len(uniq))
                weights = counts_u.astype(float)
                n = len(uniq)
                self.person_index = None
        self.n_rows = n
        self.weights = weights
        nnz = len(items)
        self.complete = nnz == n * J
        self.density = nnz / max(1.0, n * J)
        offsets = np.concatenate([[0], np.cumsum(self.n_cat - (1 if self.complete else 0))[:-1]])
        offsets = offsets.astype(np.int32)
        if self.complete:                     # reduced coding: columns (j, c >= 1)
            if rows is None:
                rows = self._rows(data, active)
            self.n_cols = int((self.n_cat - 1).sum())
            self.col_item = np.repeat(np.arange(J), self.n_cat - 1)
            self.col_cat = np.arange(self.n_cols) - offsets[self.col_item] + 1
            pos = scores > 0
            z_cols = (offsets[items[pos]] + scores[pos] - 1).astype(np.int32)
            row_len = np.bincount(rows[pos], minlength=n)
            # the reduced matrix does not list category-0 responses: keep them for SEs
            self._entries = (np.asarray(rows, dtype=np.int64), items.astype(np.int64), scores.astype(np.int64))
        else:                                 # full coding: columns (j, c), one entry per response
            self.n_cols = int(self.n_cat.sum())
            self.col_item = np.repeat(np.arange(J), self.n_cat)
            self.col_cat = np.arange(self.n_cols) - offsets[self.col_item]
            z_cols = None                     # built chunk by chunk below
            self._entries = None
        # responses are sorted by person then item, so CSR arrays are built directly
        # (no COO copy), chunk by chunk, so that no full-size temporary exists
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(row_len, out=indptr[1:])
        if dense is None:
            dense = self.density > 0.25 and n * self.n_cols * 8 < 2e9
        self.dense = bool(dense)
        step = max(1, int(_CELL_BUDGET // max(n_nodes, self.n_cols if self.dense else 1)))
        self.chunks = []
        for start in range(0, n, step):
            stop = min(n, start + step)
            a, b = indptr[start], indptr[stop]
            if z_cols is None:
                cols = offsets[items[a:b]]
                cols += scores[a:b]
            else:
                cols = z_cols[a:b].copy()
            Zc = sparse.csr_matrix((np.ones(b - a), cols, (indptr[start:stop + 1] - a).astype(np.int32)),
                                   shape=(stop - start, self.n_cols), copy=False)
            w = None if weights is None else weights[start:stop]
            if self.dense:
                Zd = Zc.toarray()
                self.chunks.append((Zd, np.ascontiguousarray(Zd.T), w, (start, stop), Zc))
            else:
                # Zc.T is a CSC view: column-wise accumulation reads the posterior row by
                # row (cache friendly), unlike a CSR copy of the transpose
                self.chunks.append((Zc, Zc.T, w, (start, stop), Zc))

    @staticmethod
    def _rows(data, active):
        remap = np.full(data.n_persons, -1, dtype=np.int64)
        remap[active] = np.arange(len(active))
        return remap[data.person_idx]

    def table(self, logp: np.ndarray):
        """(J, K, Q) log-probabilities -> design-column table and constant row."""
        if self.complete:
            lp0 = logp[:, 0, :]
            return logp[self.col_item, self.col_cat] - lp0[self.col_item], lp0.sum(axis=0)
        return logp[self.col_item, self.col_cat], np.zeros(logp.shape[2])

    def estep(self, logp: np.ndarray, log_w: np.ndarray):
        """Expected counts R (J, K, Q), node totals and marginal log-likelihood."""
        table, const = self.table(logp)
        lw = log_w + const
        Q = len(log_w)
        Rz = np.zeros((self.n_cols, Q))
        node_total = np.zeros(Q)
        ll = 0.0
        for Z, ZT, w, _, _ in self.chunks:
            post, ll_n = self._posterior(Z, table, lw)
            if w is not None:
                ll += float(w @ ll_n)
                post *= w[:, None]
            else:
                ll += float(ll_n.sum())
            Rz += ZT @ post
            node_total += post.sum(axis=0)
        J = self.n_items
        R3 = np.zeros((J, self.k_max, Q))
        R3[self.col_item, self.col_cat] = Rz
        if self.complete:
            R3[:, 0] = np.maximum(node_total[None, :] - R3[:, 1:].sum(axis=1), 0.0)
        return R3, node_total, ll

    @staticmethod
    def _posterior(Z, table, log_w):
        L = Z @ table
        L += log_w
        mx = L.max(axis=1)
        L -= mx[:, None]
        np.exp(L, out=L)
        s = L.sum(axis=1)
        L /= s[:, None]
        return L, mx + np.log(s)

    def entries(self, chunk):
        """(local row, item, category) of every response in a chunk."""
        (r0, r1), Zc = chunk[3], chunk[4]
        if self._entries is not None:
            rows, items, cats = self._entries
            lo, hi = np.searchsorted(rows, [r0, r1])
            return rows[lo:hi] - r0, items[lo:hi], cats[lo:hi]
        rows = np.repeat(np.arange(r1 - r0), np.diff(Zc.indptr))
        return rows, self.col_item[Zc.indices], self.col_cat[Zc.indices]

    def posteriors(self, logp: np.ndarray, log_w: np.ndarray):
        """Yield (chunk, weights or None, posterior) chunk by chunk."""
        table, const = self.table(logp)
        lw = log_w + const
        for chunk in self.chunks:
            post, _ = self._posterior(chunk[0], table, lw)
            yield chunk, chunk[2], post


# ---------------------------------------------------------------------- EM
@dataclass
class EMState:
    params: np.ndarray
    mu: float = 0.0
    sigma: float = 1.0
    iterations: int = 0
    converged: bool = False
    max_change: list = field(default_factory=list)
    loglik_history: list = field(default_factory=list)
    log_likelihood: float = float("nan")
    log_prior: float = 0.0
    item_change: np.ndarray | None = None
    mstep_failures: np.ndarray | None = None


def log_probs(model, params, theta):
    """log P (J, K, Q) with impossible categories at a large negative finite value."""
    P = model.probs(params, theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log(np.where(P > 0, P, np.nan))
    return np.nan_to_num(lp, nan=-745.0)          # exp(-745) ~ smallest double


def run_em(problem, *, max_iter: int, tol: float, accelerate: bool = True, callback=None) -> EMState:
    """Generalised EM for a :class:`~calibration.problem.CalibrationProblem`, from its start
    values until the largest parameter change of an EM step is below ``tol``.

    With ``accelerate`` the EM map is extrapolated by SQUAREM (Varadhan & Roland,
    2008, scheme S3): two EM steps give a secant step length, the extrapolated
    point is stabilised by one more EM step and kept only if the marginal
    log-posterior did not decrease (else the step is shortened back towards
    plain EM). ``iterations`` counts E-steps.
    """
    design, model, quad, free = problem.design, problem.model, problem.quad, problem.free
    params0 = problem.start
    estimate_population = problem.estimate_population
    state = EMState(params=params0.copy())
    vec_mask = np.concatenate([free.ravel(), [estimate_population, estimate_population]])

    def pack(params, mu, sigma):
        return np.concatenate([params.ravel(), [mu, sigma]])

    def unpack(x):
        return x[:-2].reshape(params0.shape), float(x[-2]), float(x[-1])

    def em_map(x):
        """One E- and M-step; returns (new x, log-posterior at x, ll at x, item change, fails)."""
        params, mu, sigma = unpack(x)
        theta = mu + sigma * quad.z
        if not np.isfinite(x).all() or sigma <= 0:
            return None, -np.inf, -np.inf, None, None
        logp = log_probs(model, params, theta)
        if (model.probs(params, theta) < 0).any():
            return None, -np.inf, -np.inf, None, None
        R3, node_total, ll = design.estep(logp, quad.log_w)
        lpost = ll + log_prior(problem, params)
        new, fails = mstep(problem, params, R3, theta)
        if estimate_population:
            tot = node_total.sum()
            mu = float(node_total @ theta / tot)
            sigma = float(math.sqrt(node_total @ (theta - mu) ** 2 / tot))
        xn = pack(new, mu, sigma)
        item_change = np.where(free, np.abs(new - params), 0.0).max(axis=1)
        return xn, lpost, ll, item_change, fails

    x = pack(params0, 0.0, 1.0)
    step_max = 4.0
    while state.iterations < max_iter:
        x1, lp0, ll0, ich, fails = em_map(x)
        state.iterations += 1
        change = float(np.abs(np.where(vec_mask, x1 - x, 0.0)).max()) if vec_mask.any() else 0.0
        state.loglik_history.append(ll0)
        state.max_change.append(change)
        state.item_change, state.mstep_failures = ich, fails
        if callback is not None:
            callback(state.iterations, ll0, change)
        if change < tol or not accelerate or state.iterations >= max_iter:
            x = x1
            if change < tol:
                state.converged = True
                break
            continue
        x2, lp1, ll1, ich, fails = em_map(x1)
        state.iterations += 1
        change = float(np.abs(np.where(vec_mask, x2 - x1, 0.0)).max())
        state.loglik_history.append(ll1)
        state.max_change.append(change)
        state.item_change, state.mstep_failures = ich, fails
        if change < tol:
            x = x2
            state.converged = True
            break
        x0 = x
        r = np.where(vec_mask, x1 - x0, 0.0)
        v = np.where(vec_mask, x2 - x1, 0.0) - r
        vv = float(v @ v)
        alpha = -math.sqrt(float(r @ r) / vv) if vv > 0 else -1.0
        alpha = max(-step_max, min(-1.0, alpha))
        x = x2
        if alpha == -1.0:
            continue
        while state.iterations < max_iter:
            xp = x0 - 2 * alpha * r + alpha ** 2 * v
            x3, lpp, llp, ich, fails = em_map(xp)
            state.iterations += 1
            if x3 is not None and lpp >= lp1 - 1e-8 * abs(lp1):
                state.loglik_history.append(llp)
                change = float(np.abs(np.where(vec_mask, x3 - xp, 0.0)).max())
                state.max_change.append(change)
                state.item_change, state.mstep_failures = ich, fails
                x = x3
                if alpha <= -step_max + 1e-12:
                    step_max *= 4.0
                break
            alpha = (alpha - 1.0) / 2.0
            if alpha > -1.01:
                break                       # give up extrapolating: keep the plain EM point x2
        if state.max_change[-1] < tol:
            state.converged = True
            break
    params, mu, sigma = unpack(x)
    state.params, state.mu, state.sigma = params, mu, sigma
    theta = mu + sigma * quad.z
    _, _, ll = design.estep(log_probs(model, params, theta), quad.log_w)
    state.log_likelihood = ll
    state.log_prior = log_prior(problem, params)
    return state


# ---------------------------------------------------------------------- information
def free_index(free: np.ndarray, shared_a: bool):
    """Map each (item, param) entry to a column of the free-parameter vector (-1 = fixed)."""
    J, p = free.shape
    idx = np.full((J, p), -1, dtype=np.int64)
    n = 0
    if shared_a and free[:, 0].any():
        idx[free[:, 0], 0] = 0
        n = 1
        rest = free.copy()
        rest[:, 0] = False
    else:
        rest = free
    pos = np.nonzero(rest.ravel())[0]
    idx.ravel()[pos] = n + np.arange(len(pos))
    return idx, n + len(pos)


def _projector(idx: np.ndarray, n_free: int):
    """Sparse (J*p x n_free) matrix mapping full parameter space to free parameters."""
    flat = idx.ravel()
    rows = np.nonzero(flat >= 0)[0]
    return sparse.csr_matrix((np.ones(len(rows)), (rows, flat[rows])), shape=(len(flat), n_free))


def observed_information(problem, state: EMState, method: str = "auto"):
    """Observed information of the free parameters (Louis) or its XPD approximation, at the
    estimates in ``state`` of a :class:`~calibration.problem.CalibrationProblem`.

    Returns (information matrix, method used, free-index map).
    """
    design, model, quad, free = problem.design, problem.model, problem.quad, problem.free
    params, mu, sigma = state.params, state.mu, state.sigma
    priors, shared_a, a_prior = problem.priors, problem.shared_a, problem.a_prior
    idx, n_free = free_index(free, shared_a)
    if n_free == 0:
        return np.zeros((0, 0)), "none", idx
    theta = mu + sigma * quad.z
    J, p = params.shape
    Q = len(theta)
    mask = problem.mask
    cost = design.n_rows * Q * float(n_free) ** 2          # the (persons*nodes) x P Gram product
    if method == "auto":
        method = "louis" if cost <= _LOUIS_BUDGET else "xpd"
    T = _projector(idx, n_free)
    TT = T.T.tocsr()
    P, dP, d2P = model.derivs(params, theta, second=(method == "louis"))
    with np.errstate(divide="ignore", invalid="ignore"):
        # Probabilities below 1e-12 carry no usable information and would overflow 1/P.
        invP = np.where(P > 1e-12, 1.0 / np.maximum(P, 1e-12), 0.0)
    s_tab = dP * invP[:, :, None, :]                                        # (J, K, p, Q)
    logp = log_probs(model, params, theta)
    info = np.zeros((n_free, n_free))
    comp_info = None
    K = model.k_max

    if method == "louis":
        R3, _, _ = design.estep(logp, quad.log_w)
        sub = max(1, int(_SMALL_BUDGET // max(1, Q * n_free)))          # cache-sized blocks
        qq = np.arange(Q)
        fidx = np.where(idx >= 0, idx, n_free)                               # n_free = discard column
        for chunk, w, post in design.posteriors(logp, quad.log_w):
            rows, item, cat = design.entries(chunk)
            n_c = post.shape[0]
            bounds = np.searchsorted(rows, np.arange(0, n_c + sub, sub).clip(max=n_c))
            for k, s0 in enumerate(range(0, n_c, sub)):
                s1 = min(n_c, s0 + sub)
                sel = slice(bounds[k], bounds[k + 1])
                rr, it, ct = rows[sel] - s0, item[sel], cat[sel]
                Wo = post[s0:s1][rr]                                         # (obs, Q)
                dev = s_tab[it, ct]                                          # (obs, p, Q)
                m = np.einsum("opq,oq->op", dev, Wo)                         # posterior mean score
                dev -= m[:, :, None]
                np.sqrt(Wo, out=Wo)
                dev *= Wo[:, None, :]
                if w is not None:
                    dev *= np.sqrt(w[s0:s1][rr])[:, None, None]
                key = (rr[:, None, None] * Q + qq) * (n_free + 1) + fidx[it][:, :, None]
                # rows (person, node) x free columns; shared slopes add up
                A = np.bincount(key.ravel(), weights=dev.ravel(), minlength=(s1 - s0) * Q * (n_free + 1))
                A = A.reshape((s1 - s0) * Q, n_free + 1)[:, :n_free]
                info -= A.T @ A
        # E[complete-data information] = sum R * (s s' - d2P / P)
        ss = np.einsum("jkpq,jkrq->jkprq", s_tab, s_tab)
        comp = np.einsum("jkq,jkprq->jpr", R3, ss - d2P * invP[:, :, None, None, :])
        comp_info = _blocks_to_free(comp, TT, T)
    else:  # cross-product of per-person scores
        s_cols = s_tab.reshape(J * K * p, Q)                                 # row (j, k, r)
        sub = max(1, int(_SMALL_BUDGET // max(1, J * K * p, n_free)))
        fidx = np.where(idx >= 0, idx, n_free)
        for chunk, w, post in design.posteriors(logp, quad.log_w):
            rows, item, cat = design.entries(chunk)
            n_c = post.shape[0]
            bounds = np.searchsorted(rows, np.arange(0, n_c + sub, sub).clip(max=n_c))
            for k, s0 in enumerate(range(0, n_c, sub)):
                s1 = min(n_c, s0 + sub)
                sel = slice(bounds[k], bounds[k + 1])
                WS = post[s0:s1] @ s_cols.T                                  # (n, J*K*p)
                rr, it, ct = rows[sel] - s0, item[sel], cat[sel]
                # per-person score vectors in free columns (shared slopes add up)
                vals = WS[rr[:, None], (it * K + ct)[:, None] * p + np.arange(p)]
                key = rr[:, None] * (n_free + 1) + fidx[it]
                G = np.bincount(key.ravel(), weights=vals.ravel(), minlength=(s1 - s0) * (n_free + 1))
                G = G.reshape(s1 - s0, n_free + 1)[:, :n_free]
                if w is not None:
                    G = G * np.sqrt(w[s0:s1])[:, None]
                info += G.T @ G
    if comp_info is not None:
        info += comp_info
    if priors or a_prior is not None:
        _, _, Hp = prior_terms(model, params, priors, mask, skip_a=shared_a)
        info += _blocks_to_free(-Hp, TT, T)
        if a_prior is not None and shared_a and free[:, 0].any():
            a = params[free[:, 0], 0][0]
            info[0, 0] -= float(a_prior.d2(a))
    return 0.5 * (info + info.T), method, idx


def _blocks_to_free(blocks: np.ndarray, TT, T) -> np.ndarray:
    J, p, _ = blocks.shape
    bd = sparse.block_diag(list(blocks), format="csr") if J else sparse.csr_matrix((0, 0))
    return np.asarray((TT @ bd @ T).todense())
