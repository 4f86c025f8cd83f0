"""Response data container and readers (wide/long CSV, Parquet).

Responses are stored canonically as a sparse long table (person index, item
index, integer score), sorted by person then item: adaptive-test data is very
sparse, and a database loader naturally produces (person, item, score) rows.
Dense matrices are converted on the way in (NaN = not presented).

Every validation failure raises :class:`CalibrationInputError` naming the exact
source location (file line/column, matrix row/column or long-table entry).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import CalibrationInputError

__all__ = ["ResponseData", "read_responses"]

_MISSING_TOKENS = ("", "NA", "N/A", "NAN", "NULL", ".")
_PERSON_COLUMNS = ("person", "id", "person_id", "personid")


@dataclass(frozen=True)
class _Origin:
    """Where each stored response came from, for precise error messages."""

    kind: str                    # "file-wide", "file-long", "dense", "long"
    first: np.ndarray            # line (file) / row (dense) / entry (long), 0-based
    second: np.ndarray | None    # column (0-based) for wide layouts
    path: str | None = None
    col_offset: int = 0          # file column of the first item (1 if a person column leads)


class ResponseData:
    """Item responses as a sparse (person, item, score) table.

    Scores are non-negative integers (0 = lowest category). Build with
    :meth:`from_dense`, :meth:`from_long` or :func:`read_responses`.
    """

    def __init__(self, person_idx, item_idx, score, item_ids, person_ids, *, origin=None):
        # int32 indices and scores: a 1M x 30 adaptive design then takes 360 MB, not 720 MB
        person_idx = np.asarray(person_idx, dtype=np.int32)
        item_idx = np.asarray(item_idx, dtype=np.int32)
        score = np.asarray(score, dtype=np.int32)
        if not (person_idx.shape == item_idx.shape == score.shape) or person_idx.ndim != 1:
            raise CalibrationInputError("person_idx, item_idx and score must be 1-D arrays of equal length")
        item_ids = tuple(str(i) for i in item_ids)
        person_ids = np.asarray(person_ids, dtype=object)
        order = np.lexsort((item_idx, person_idx))
        if not np.all(order[1:] > order[:-1]):
            person_idx, item_idx, score = person_idx[order], item_idx[order], score[order]
            if origin is not None:
                origin = _Origin(origin.kind, origin.first[order],
                                 None if origin.second is None else origin.second[order],
                                 origin.path, origin.col_offset)
        self.person_idx = person_idx
        self.item_idx = item_idx
        self.score = score
        self.item_ids = item_ids
        self.person_ids = person_ids
        self._origin = origin
        self._check()

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_dense(cls, matrix, item_ids: Sequence | None = None,
                   person_ids: Sequence | None = None) -> ResponseData:
        """Persons x items matrix; NaN (or None) means the item was not presented."""
        if not isinstance(matrix, np.ndarray):
            rows = list(matrix)
            if rows and all(isinstance(r, (list, tuple, np.ndarray)) for r in rows):
                lengths = [len(r) for r in rows]
                bad = [i for i, n in enumerate(lengths) if n != lengths[0]]
                if bad:
                    raise CalibrationInputError(
                        f"row {bad[0] + 1} has {lengths[bad[0]]} values, expected {lengths[0]} "
                        f"(ragged rows; use NaN/None for items not presented)")
        raw = np.asarray(matrix, dtype=object) if not isinstance(matrix, np.ndarray) else matrix
        if raw.ndim != 2:
            raise CalibrationInputError(
                f"response matrix must be 2-D (persons x items), got shape {raw.shape}")
        n_p, n_i = raw.shape
        if n_p == 0 or n_i == 0:
            raise CalibrationInputError(f"response matrix is empty (shape {raw.shape})")
        try:
            values = np.asarray(raw, dtype=float)
        except (TypeError, ValueError):
            values = _coerce_object_matrix(raw)
        item_ids = [f"item{j + 1}" for j in range(n_i)] if item_ids is None else list(item_ids)
        if len(item_ids) != n_i:
            raise CalibrationInputError(f"{len(item_ids)} item ids for {n_i} matrix columns")
        _check_unique_items(item_ids, lambda j: f"column {j + 1}")
        person_ids = np.arange(n_p) if person_ids is None else np.asarray(person_ids, dtype=object)
        if len(person_ids) != n_p:
            raise CalibrationInputError(f"{len(person_ids)} person ids for {n_p} matrix rows")
        _check_unique_persons(person_ids, lambda r: f"row {r + 1}")
        observed = ~np.isnan(values)
        rows, cols = np.nonzero(observed)
        origin = _Origin("dense", rows, cols)
        _check_scores(values[rows, cols], origin, item_ids, cols)
        return cls(rows, cols, values[rows, cols], item_ids, person_ids, origin=origin)

    @classmethod
    def from_long(cls, person, item, score, *, item_ids: Sequence | None = None,
                  _source: tuple | None = None) -> ResponseData:
        """Long table of (person label, item label, score); NaN scores are dropped.

        ``item_ids`` fixes the item order (every listed item must have responses);
        by default items appear in order of first occurrence.
        """
        person = np.asarray(person)
        item = np.asarray(item)
        try:
            score_f = np.asarray(score, dtype=float)
        except (TypeError, ValueError):
            score_f = _coerce_object_matrix(np.asarray(score, dtype=object)[:, None],
                                            where=lambda r, c: f"entry {r + 1}")[:, 0]
        if not (person.ndim == item.ndim == score_f.ndim == 1) or not (
                len(person) == len(item) == len(score_f)):
            raise CalibrationInputError("person, item and score must be 1-D sequences of equal length")
        keep = ~np.isnan(score_f)
        entries = np.nonzero(keep)[0]
        person, item, score_f = person[keep], item[keep], score_f[keep]
        if len(score_f) == 0:
            raise CalibrationInputError("no responses (every score is missing)")
        if item_ids is None:
            item_idx, labels = _factorize(item)
            item_ids = [str(x) for x in labels]
        else:
            item_ids = [str(i) for i in item_ids]
            _check_unique_items(item_ids, lambda j: f"position {j + 1} of item_ids")
            codes, labels = _factorize(item)
            lookup = {k: j for j, k in enumerate(item_ids)}
            label_pos = np.asarray([lookup.get(str(x), -1) for x in labels], dtype=np.int64)
            item_idx = label_pos[codes]
            bad = np.nonzero(item_idx < 0)[0]
            if len(bad):
                raise CalibrationInputError(
                    f"entry {entries[bad[0]] + 1}: item '{item[bad[0]]}' is not in item_ids")
        person_idx, person_ids = _factorize(person)
        if _source is not None:              # (path, 0-based file line of each entry)
            origin = _Origin("file-long", np.asarray(_source[1])[entries], None, _source[0])
        else:
            origin = _Origin("long", entries, None)
        _check_scores(score_f, origin, item_ids, item_idx)
        _check_duplicates(person_idx, item_idx, origin, item_ids, person_ids)
        return cls(person_idx, item_idx, score_f, item_ids, person_ids, origin=origin)

    # ------------------------------------------------------------------ properties
    @property
    def n_persons(self) -> int:
        return len(self.person_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_responses(self) -> int:
        return len(self.score)

    @property
    def density(self) -> float:
        """Fraction of the persons x items grid that was observed."""
        return self.n_responses / float(self.n_persons * self.n_items)

    def item_counts(self) -> np.ndarray:
        """Number of responses per item."""
        return count_values(self.item_idx, self.n_items)

    def person_counts(self) -> np.ndarray:
        """Number of responses per person (responses are sorted by person)."""
        bounds = np.searchsorted(self.person_idx, np.arange(self.n_persons + 1, dtype=self.person_idx.dtype))
        return np.diff(bounds)

    def max_scores(self) -> np.ndarray:
        """Highest observed score per item."""
        out = np.zeros(self.n_items, dtype=np.int64)
        top = int(self.score.max())
        for m in range(1, top + 1):               # categories are few; avoids a slow ufunc.at
            out[np.unique(self.item_idx[self.score == m])] = m
        return out

    def item_index(self, item_id) -> int:
        try:
            return self.item_ids.index(str(item_id))
        except ValueError:
            raise CalibrationInputError(f"unknown item id '{item_id}'") from None

    def dense(self) -> np.ndarray:
        """Persons x items float matrix with NaN for not presented (memory N*J*8 bytes)."""
        out = np.full((self.n_persons, self.n_items), np.nan)
        out[self.person_idx, self.item_idx] = self.score
        return out

    def subset(self, *, items: Iterable | None = None, persons=None) -> ResponseData:
        """Restrict to some items (ids) and/or persons (boolean mask or indices)."""
        keep = np.ones(self.n_responses, dtype=bool)
        item_map = np.arange(self.n_items)
        item_ids = list(self.item_ids)
        if items is not None:
            idx = [self.item_index(i) for i in items]
            item_map = np.full(self.n_items, -1)
            item_map[idx] = np.arange(len(idx))
            item_ids = [self.item_ids[i] for i in idx]
            keep &= item_map[self.item_idx] >= 0
        person_map = np.arange(self.n_persons)
        person_ids = self.person_ids
        if persons is not None:
            sel = np.asarray(persons)
            if sel.dtype == bool:
                sel = np.nonzero(sel)[0]
            person_map = np.full(self.n_persons, -1)
            person_map[sel] = np.arange(len(sel))
            person_ids = self.person_ids[sel]
            keep &= person_map[self.person_idx] >= 0
        origin = self._origin
        if origin is not None:
            origin = _Origin(origin.kind, origin.first[keep],
                             None if origin.second is None else origin.second[keep],
                             origin.path, origin.col_offset)
        return ResponseData(person_map[self.person_idx[keep]], item_map[self.item_idx[keep]],
                            self.score[keep], item_ids, person_ids, origin=origin)

    def locate(self, k: int) -> str:
        """Human-readable source location of stored response ``k``."""
        return _describe(self._origin, int(k), self.item_ids, self.item_idx,
                         self.person_ids, self.person_idx)

    def __repr__(self) -> str:
        return (f"ResponseData({self.n_persons} persons x {self.n_items} items, "
                f"{self.n_responses} responses, density {self.density:.3f})")

    # ------------------------------------------------------------------ validation
    def _check(self) -> None:
        if self.n_items == 0 or self.n_responses == 0:
            raise CalibrationInputError("no responses")
        if self.item_idx.min() < 0 or self.item_idx.max() >= self.n_items:
            raise CalibrationInputError("item index out of range")
        if self.person_idx.min() < 0 or self.person_idx.max() >= self.n_persons:
            raise CalibrationInputError("person index out of range")
        _check_unique_items(list(self.item_ids), lambda j: f"item {j + 1}")
        empty = np.nonzero(self.item_counts() == 0)[0]
        if len(empty):
            j = empty[0]
            where = ""
            if self._origin is not None and self._origin.kind in ("dense", "file-wide"):
                where = f"column {j + self._origin.col_offset + 1} "
            names = ", ".join(f"'{self.item_ids[e]}'" for e in empty[:5])
            more = f" (and {len(empty) - 5} more)" if len(empty) > 5 else ""
            raise CalibrationInputError(
                f"{where}item '{self.item_ids[j]}' has no responses: nobody answered it "
                f"[items without responses: {names}{more}]; drop it or supply its responses")
        if np.any(self.score < 0):
            k = int(np.nonzero(self.score < 0)[0][0])
            raise CalibrationInputError(f"{self.locate(k)}: negative score {self.score[k]}")


# ---------------------------------------------------------------------- helpers
def count_values(values: np.ndarray, n: int, block: int = 4_000_000) -> np.ndarray:
    """np.bincount in blocks: bincount widens int32 input to int64, a full-size copy."""
    out = np.zeros(n, dtype=np.int64)
    for s in range(0, len(values), block):
        out += np.bincount(values[s:s + block], minlength=n)
    return out


def _factorize(values: np.ndarray):
    """Integer codes in order of first occurrence, and the distinct labels."""
    arr = np.asarray(values)
    if arr.dtype == object:
        arr = np.asarray([str(x) for x in arr])
    uniq, first, inverse = np.unique(arr, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.ravel()].astype(np.int64), np.asarray(values, dtype=object)[first[order]]


def _describe(origin: _Origin | None, k, item_ids, item_idx, person_ids=None, person_idx=None) -> str:
    item = item_ids[item_idx[k]]
    who = "" if person_ids is None else f"person '{person_ids[person_idx[k]]}', "
    if origin is None:
        return f"response {k + 1} ({who}item '{item}')"
    if origin.kind == "file-wide":
        return (f"{origin.path}: line {origin.first[k] + 1}, column {origin.second[k] + 1} "
                f"(item '{item}')")
    if origin.kind == "file-long":
        return f"{origin.path}: line {origin.first[k] + 1} ({who}item '{item}')"
    if origin.kind == "dense":
        return f"row {origin.first[k] + 1}, column {origin.second[k] + 1} (item '{item}')"
    return f"entry {origin.first[k] + 1} ({who}item '{item}')"


def _check_unique_items(item_ids: list, where) -> None:
    seen: dict[str, int] = {}
    for j, name in enumerate(item_ids):
        name = str(name)
        if name == "":
            raise CalibrationInputError(f"{where(j)}: empty item id")
        if name in seen:
            raise CalibrationInputError(
                f"{where(j)}: duplicate item id '{name}' (first seen at {where(seen[name])})")
        seen[name] = j


def _check_scores(values: np.ndarray, origin: _Origin, item_ids, item_idx) -> None:
    """Scores must be finite non-negative integers."""
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if np.any(bad):
        k = int(np.nonzero(bad)[0][0])
        v = values[k]
        what = "not finite" if not np.isfinite(v) else (
            "negative" if v < 0 else "not an integer category")
        raise CalibrationInputError(
            f"{_describe(origin, k, item_ids, item_idx)}: score {v:g} is {what}; scores must be "
            f"integers 0, 1, 2, ... (0 = lowest category; leave the cell empty or NA if not presented)")


def _check_duplicates(person_idx, item_idx, origin: _Origin, item_ids, person_ids) -> None:
    key = person_idx.astype(np.int64) * (len(item_ids) + 1) + item_idx
    order = np.argsort(key, kind="stable")
    dup = np.nonzero(key[order][1:] == key[order][:-1])[0]
    if len(dup):
        k1, k2 = order[dup[0]], order[dup[0] + 1]
        raise CalibrationInputError(
            f"{_describe(origin, k2, item_ids, item_idx, person_ids, person_idx)}: duplicate response "
            f"(same person and item as {_describe(origin, k1, item_ids, item_idx, person_ids, person_idx)})")


def _is_number(x) -> bool:
    if x is None:
        return True
    if isinstance(x, (int, float, np.integer, np.floating, bool, np.bool_)):
        return True
    s = str(x).strip()
    if s.upper() in _MISSING_TOKENS:
        return True
    try:
        float(s)
        return True
    except ValueError:
        return False


def _to_float(x) -> float:
    if x is None:
        return np.nan
    if isinstance(x, str):
        s = x.strip()
        return np.nan if s.upper() in _MISSING_TOKENS else float(s)
    return float(x)


def _coerce_object_matrix(raw: np.ndarray, where=None) -> np.ndarray:
    """Slow path for object matrices (strings/None); pinpoints the first non-numeric cell."""
    ok = np.vectorize(_is_number, otypes=[bool])(raw)
    if not ok.all():
        r, c = (int(v[0]) for v in np.nonzero(~ok))
        loc = where(r, c) if where else f"row {r + 1}, column {c + 1}"
        raise CalibrationInputError(f"{loc}: score {raw[r, c]!r} is not numeric")
    return np.vectorize(_to_float, otypes=[float])(raw)


# ---------------------------------------------------------------------- readers
def read_responses(path: str | os.PathLike, *, format: str = "auto") -> ResponseData:
    """Read responses from a wide or long CSV, or a Parquet file.

    Wide CSV: header of item ids, one row per person, empty/``NA`` = not presented;
    an optional leading ``person``/``id`` column holds person ids.
    Long CSV: columns ``person,item,score`` (header required, any order).
    Parquet (needs pyarrow): same two layouts, detected from the column names.
    """
    path = Path(path)
    fmt = format.lower()
    if fmt == "auto":
        fmt = "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"
    if fmt == "parquet":
        return _read_parquet(path)
    if fmt != "csv":
        raise CalibrationInputError(f"unknown format {format!r} (use 'csv', 'parquet' or 'auto')")
    if not path.exists():
        raise CalibrationInputError(f"{path}: file not found")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        rows: list[list[str]] = []
        lines: list[int] = []
        try:
            for row in reader:
                # a blank line is skipped; a row of empty fields (",,") is a person
                # who was presented nothing (one-column files cannot tell them apart)
                if row and (len(row) > 1 or row[0].strip()):
                    rows.append(row)
                    lines.append(reader.line_num)
        except csv.Error as exc:
            raise CalibrationInputError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None
    if not rows:
        raise CalibrationInputError(f"{path}: empty file (expected a header row of item ids, "
                                    f"or person,item,score)")
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    if {"person", "item", "score"} <= set(lower):
        return _parse_long(path, header, rows[1:], lines)
    return _parse_wide(path, header, rows[1:], lines)


def _parse_wide(path: Path, header: list[str], rows: list[list[str]], lines: list[int]) -> ResponseData:
    where = str(path)
    if not rows:
        raise CalibrationInputError(f"{where}: line {lines[0]}: header only, no response rows")
    offset = 1 if header and header[0].lower() in _PERSON_COLUMNS else 0
    item_ids = header[offset:]
    if not item_ids:
        raise CalibrationInputError(f"{where}: line {lines[0]}: header has no item columns")
    _check_unique_items([str(i) for i in item_ids],
                        lambda j: f"{where}: line {lines[0]}, column {j + offset + 1}")
    width = len(header)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    bad = np.nonzero(lengths != width)[0]
    if len(bad):
        r = int(bad[0])
        raise CalibrationInputError(
            f"{where}: line {lines[r + 1]}: {lengths[r]} fields, expected {width} as in the header "
            f"(ragged row; use an empty field or NA for items not presented)")
    cells = np.char.strip(np.asarray(rows, dtype=str))
    person_ids = cells[:, 0].astype(object) if offset else np.arange(len(rows))
    body = cells[:, offset:]
    missing = np.isin(np.char.upper(body), _MISSING_TOKENS)
    try:
        values = np.where(missing, "nan", body).astype(float)
    except ValueError:
        ok = np.vectorize(_is_number, otypes=[bool])(body)
        r, c = (int(v[0]) for v in np.nonzero(~ok))
        raise CalibrationInputError(
            f"{where}: line {lines[r + 1]}, column {c + offset + 1} (item '{item_ids[c]}'): "
            f"score {str(body[r, c])!r} is not numeric") from None
    values[missing] = np.nan
    if offset:
        _check_unique_persons(person_ids, lambda r: f"{where}: line {lines[r + 1]}, column 1")
    observed = ~np.isnan(values)
    empty = np.nonzero(~observed.any(axis=0))[0]
    if len(empty):
        c = int(empty[0])
        raise CalibrationInputError(
            f"{where}: column {c + offset + 1} (item '{item_ids[c]}'): no responses in any row "
            f"(an item nobody answered cannot be calibrated; remove the column)")
    rr, cc = np.nonzero(observed)
    line_arr = np.asarray(lines[1:], dtype=np.int64) - 1
    origin = _Origin("file-wide", line_arr[rr], cc + offset, where, offset)
    _check_scores(values[rr, cc], origin, item_ids, cc)
    return ResponseData(rr, cc, values[rr, cc], item_ids, person_ids, origin=origin)


def _check_unique_persons(person_ids, where) -> None:
    uniq, first, counts = np.unique(person_ids.astype(str), return_index=True, return_counts=True)
    if np.any(counts > 1):
        name = uniq[np.nonzero(counts > 1)[0][0]]
        rows = np.nonzero(person_ids.astype(str) == name)[0]
        raise CalibrationInputError(f"{where(rows[1])}: duplicate person id '{name}' "
                                    f"(first seen at {where(rows[0])})")


def _parse_long(path: Path, header: list[str], rows: list[list[str]], lines: list[int]) -> ResponseData:
    where = str(path)
    if not rows:
        raise CalibrationInputError(f"{where}: line {lines[0]}: header only, no responses")
    lower = [h.lower() for h in header]
    for name in ("person", "item", "score"):
        if lower.count(name) > 1:
            raise CalibrationInputError(f"{where}: line {lines[0]}: column '{name}' appears twice")
    cols = [lower.index(n) for n in ("person", "item", "score")]
    width = len(header)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    bad = np.nonzero(lengths != width)[0]
    if len(bad):
        r = int(bad[0])
        raise CalibrationInputError(
            f"{where}: line {lines[r + 1]}: {lengths[r]} fields, expected {width} as in the header")
    cells = np.char.strip(np.asarray(rows, dtype=str)[:, cols])
    person, item, score = cells[:, 0], cells[:, 1], cells[:, 2]
    line_arr = np.asarray(lines[1:], dtype=np.int64) - 1
    for name, arr, col in (("person", person, cols[0]), ("item", item, cols[1])):
        blank = np.nonzero(arr == "")[0]
        if len(blank):
            raise CalibrationInputError(
                f"{where}: line {line_arr[blank[0]] + 1}, column {col + 1}: empty {name}")
    missing = np.isin(np.char.upper(score), _MISSING_TOKENS)
    try:
        values = np.where(missing, "nan", score).astype(float)
    except ValueError:
        ok = np.vectorize(_is_number, otypes=[bool])(score)
        r = int(np.nonzero(~ok)[0][0])
        raise CalibrationInputError(
            f"{where}: line {line_arr[r] + 1}, column {cols[2] + 1} (score): {str(score[r])!r} is not numeric"
        ) from None
    keep = ~np.isnan(values)
    if not keep.any():
        raise CalibrationInputError(f"{where}: every score is missing")
    return ResponseData.from_long(person[keep].astype(object), item[keep].astype(object), values[keep],
                                  _source=(where, line_arr[keep]))


def _read_parquet(path: Path) -> ResponseData:
    try:
        import pyarrow.parquet as pq  # optional dependency
    except ImportError:
        raise CalibrationInputError(
            f"{path}: reading Parquet needs the optional 'pyarrow' package "
            f"(pip install pyarrow), or convert the file to CSV") from None
    if not path.exists():
        raise CalibrationInputError(f"{path}: file not found")
    table = pq.read_table(path)
    names = [str(n) for n in table.column_names]
    lower = [n.lower() for n in names]
    if table.num_rows == 0:
        raise CalibrationInputError(f"{path}: empty file (no rows)")
    if {"person", "item", "score"} <= set(lower):
        col = {n: table.column(names[lower.index(n)]).to_numpy(zero_copy_only=False)
               for n in ("person", "item", "score")}
        return ResponseData.from_long(col["person"], col["item"], col["score"])
    offset = 1 if lower[0] in _PERSON_COLUMNS else 0
    person_ids = table.column(0).to_numpy(zero_copy_only=False) if offset else None
    matrix = np.column_stack([table.column(n).to_numpy(zero_copy_only=False) for n in names[offset:]])
    return ResponseData.from_dense(matrix.astype(object) if matrix.dtype == object else matrix.astype(float),
                                   item_ids=names[offset:], person_ids=person_ids)
