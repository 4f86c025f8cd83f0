"""Immutable item-parameter arrays plus per-grid lookup tables shared by every session on a bank."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from . import irt
from ._cache import LRUCache
from .irt import FloatArray

__all__ = ["Bank", "BankTables"]

# ~16 MB per 10,000-item bank; a handful of exams' banks stay warm.
_TABLE_CACHE: LRUCache[BankTables] = LRUCache(size=8)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_ArrayT = TypeVar("_ArrayT", bound="np.ndarray[Any, Any]")


def _readonly(array: _ArrayT) -> _ArrayT:
    array.setflags(write=False)
    return array


class Bank:
    """Item parameters for a mixed bank of 4PL-family and graded (GRM) items.

    Dichotomous items use (a, b, c, d). A graded item is marked by a row of
    ``thresholds`` with at least one finite value (ascending, NaN-padded on the
    right); for it only ``a`` and the thresholds matter. Arrays are frozen
    because lookup tables are cached by the bank's content fingerprint and
    shared across sessions.
    """

    def __init__(
        self,
        a: npt.ArrayLike,
        b: npt.ArrayLike,
        c: npt.ArrayLike | None = None,
        d: npt.ArrayLike | None = None,
        area: npt.ArrayLike | None = None,
        thresholds: npt.ArrayLike | None = None,
    ) -> None:
        a = np.array(a, dtype=float).ravel()
        n = a.size
        if n == 0:
            raise ValueError("bank must contain at least one item")
        b = np.array(b, dtype=float).ravel()
        c = np.zeros(n) if c is None else np.array(c, dtype=float).ravel()
        d = np.ones(n) if d is None else np.array(d, dtype=float).ravel()
        area = np.zeros(n, dtype=np.int64) if area is None else np.array(area).ravel()
        for name, values in (("b", b), ("c", c), ("d", d), ("area", area)):
            if values.size != n:
                raise ValueError(f"{name} has {values.size} entries but a has {n}")
        if not np.issubdtype(area.dtype, np.integer):
            if not np.all(np.equal(np.mod(area, 1), 0)):
                raise ValueError("area codes must be integers")
        area = area.astype(np.int64)

        if thresholds is None:
            thresholds = np.full((n, 1), np.nan)
        else:
            thresholds = np.array(thresholds, dtype=float)
            if thresholds.ndim == 1:
                thresholds = thresholds[:, None]
            if thresholds.shape[0] != n:
                raise ValueError(f"thresholds has {thresholds.shape[0]} rows but a has {n}")
        graded = np.any(np.isfinite(thresholds), axis=1)

        if not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise ValueError("discrimination a must be finite and > 0 for every item")
        dich = ~graded
        if not np.all(np.isfinite(b[dich])):
            raise ValueError("difficulty b must be finite for every dichotomous item")
        if np.any(c[dich] < 0) or np.any(d[dich] > 1) or np.any(c[dich] >= d[dich]):
            raise ValueError("need 0 <= c < d <= 1 for every dichotomous item")
        if np.any(graded):
            rows = thresholds[graded]
            finite = np.isfinite(rows)
            n_finite = finite.sum(axis=1)
            # finite thresholds must be a left-aligned, strictly increasing run
            if np.any(finite[np.arange(rows.shape[1]) >= n_finite[:, None]]) or np.any(np.isinf(rows)):
                raise ValueError("graded thresholds must be finite, left-aligned and NaN-padded")
            diffs = np.diff(np.where(finite, rows, np.inf), axis=1)
            if np.any(diffs[finite[:, 1:]] <= 0):
                raise ValueError("graded thresholds must be strictly increasing")

        self.a: FloatArray = _readonly(a)
        self.b: FloatArray = _readonly(np.where(graded, np.nan, b))
        self.c: FloatArray = _readonly(np.where(graded, 0.0, c))
        self.d: FloatArray = _readonly(np.where(graded, 1.0, d))
        self.area: IntArray = _readonly(area)
        self.thresholds: FloatArray = _readonly(thresholds)
        self.is_graded: BoolArray = _readonly(graded)
        self.max_score: IntArray = _readonly(np.where(graded, np.isfinite(thresholds).sum(axis=1), 1).astype(np.int64))
        self.graded_indices: IntArray = _readonly(np.flatnonzero(graded))
        self.fingerprint = self._fingerprint()

    def _fingerprint(self) -> str:
        """Content hash: equal banks share cached tables even when rebuilt per request."""
        digest = hashlib.blake2b(digest_size=16)
        for array in (self.a, self.b, self.c, self.d, self.area, self.thresholds):
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    @classmethod
    def from_items(cls, items: list[dict[str, Any]]) -> Bank:
        """Build from JSON-like records: {"a", "b", "c"?, "d"?, "area"?, "thresholds"?}."""
        n = len(items)
        width = max([len(item.get("thresholds") or []) for item in items] + [1])
        thresholds = np.full((n, width), np.nan)
        for row, item in enumerate(items):
            values = item.get("thresholds") or []
            thresholds[row, : len(values)] = values
        return cls(
            a=[item["a"] for item in items],
            b=[np.nan if item.get("b") is None else item["b"] for item in items],
            c=[0.0 if item.get("c") is None else item["c"] for item in items],
            d=[1.0 if item.get("d") is None else item["d"] for item in items],
            area=[0 if item.get("area") is None else item["area"] for item in items],
            thresholds=thresholds,
        )

    @property
    def n_items(self) -> int:
        return int(self.a.size)

    @property
    def has_graded(self) -> bool:
        return bool(self.graded_indices.size)

    def information(self, theta: npt.ArrayLike) -> FloatArray:
        """Item information at θ (broadcast like irt functions: theta[..., None] x items)."""
        theta = np.asarray(theta, dtype=float)
        info = irt.logistic_information(theta[..., None], self.a, np.nan_to_num(self.b), self.c, self.d)
        if self.has_graded:
            g = self.graded_indices
            info = np.array(info, copy=True)
            info[..., g] = irt.graded_information(theta, self.a[g], self.thresholds[g])
        return info

    def expected_score(self, theta: float, indices: npt.ArrayLike) -> FloatArray:
        """Model-expected score of each listed item at θ (P for dichotomous, Σ k P_k for graded)."""
        indices = np.asarray(indices, dtype=np.int64)
        expected = irt.logistic_prob(theta, self.a[indices], np.nan_to_num(self.b[indices]), self.c[indices],
                                     self.d[indices])
        graded = self.is_graded[indices]
        if np.any(graded):
            g = indices[graded]
            probs = irt.graded_category_probs(theta, self.a[g], self.thresholds[g])
            expected = np.array(expected, copy=True)
            expected[graded] = probs @ np.arange(probs.shape[-1])
        return expected

    def category_log_probs(self, index: int, grid: FloatArray) -> FloatArray:
        """log P(score = k | θ) for one item over a grid; shape (max_score + 1, len(grid))."""
        if self.is_graded[index]:
            k = int(self.max_score[index]) + 1
            probs = irt.graded_category_probs(grid, self.a[index : index + 1],
                                              self.thresholds[index : index + 1, : k - 1])
            return np.log(np.maximum(probs[:, 0, :].T, 1e-300))
        log_p, log_q = irt.logistic_log_prob(grid, self.a[index], self.b[index], self.c[index], self.d[index])
        return np.stack([log_q, log_p])

    def tables(self, grid_points: int, bounds: tuple[float, float], info_step: float = 0.05) -> BankTables:
        """Lookup tables for one quadrature grid, built once per bank content and shared."""
        key = (int(grid_points), float(bounds[0]), float(bounds[1]), float(info_step))
        return _TABLE_CACHE.get_or_build((self.fingerprint, key), lambda: BankTables.build(self, *key))


@dataclass(frozen=True)
class BankTables:
    """Precomputed per-grid quantities: what never changes during a test is computed once.

    ``log_probs[i, x]`` is item i's log P(score=x) on the EAP grid (dichotomous
    items; graded items are computed on demand), so an answer updates the
    posterior with one row add. ``info_table`` holds item information on a fine
    θ grid (float32); linear interpolation between two rows replaces 10k exp()
    calls per step.
    """

    grid: FloatArray
    log_probs: FloatArray
    info_grid: FloatArray
    info_table: npt.NDArray[np.float32]
    info_step: float

    @classmethod
    def build(cls, bank: Bank, grid_points: int, lo: float, hi: float, info_step: float) -> BankTables:
        grid = _readonly(np.linspace(lo, hi, grid_points))
        log_p, log_q = irt.logistic_log_prob(grid[None, :], bank.a[:, None], np.nan_to_num(bank.b)[:, None],
                                             bank.c[:, None], bank.d[:, None])
        log_probs = np.stack([log_q, log_p], axis=1)
        if bank.has_graded:
            log_probs[bank.graded_indices] = 0.0  # never read: graded rows come from category_log_probs
        n_info = int(round((hi - lo) / info_step)) + 1
        info_grid = np.linspace(lo, hi, n_info)
        # float32 halves the memory traffic of the per-step pass; selection only needs ranking precision
        info_table = np.ascontiguousarray(bank.information(info_grid), dtype=np.float32)
        return cls(
            grid=grid,
            log_probs=_readonly(np.ascontiguousarray(log_probs)),
            info_grid=_readonly(info_grid),
            info_table=_readonly(info_table),
            info_step=float(info_grid[1] - info_grid[0]) if n_info > 1 else 1.0,
        )

    def information_at(
        self, theta: float, out: npt.NDArray[np.float32], scratch: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """Item information at θ by linear interpolation between the two bracketing table rows."""
        lo = self.info_grid[0]
        position = (min(max(theta, lo), self.info_grid[-1]) - lo) / self.info_step
        row = min(int(position), self.info_grid.size - 2)
        weight = position - row
        np.multiply(self.info_table[row], 1.0 - weight, out=out)
        np.multiply(self.info_table[row + 1], weight, out=scratch)
        out += scratch
        return out
