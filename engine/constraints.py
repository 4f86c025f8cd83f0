"""Content blueprint (min/max items per area) and enemy-item groups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

__all__ = ["Blueprint", "EnemyIndex"]


class Blueprint:
    """Per-area minimum and maximum item counts for one test form.

    Areas are the bank's integer area codes; areas absent from ``limits`` are
    unconstrained (min 0, no max). Counts are kept as a dense array over the
    constrained areas only.
    """

    def __init__(self, item_areas: np.ndarray, limits: Mapping[int, tuple[int, int]], max_length: int):
        self.codes = np.array(sorted(int(code) for code in limits), dtype=np.int64)
        self.minimums = np.array([int(limits[code][0]) for code in self.codes], dtype=np.int64)
        self.maximums = np.array([int(limits[code][1]) for code in self.codes], dtype=np.int64)
        self.max_length = int(max_length)
        item_areas = np.asarray(item_areas, dtype=np.int64)
        # dense area slot per item, -1 for unconstrained areas
        self.item_slot = np.full(item_areas.size, -1, dtype=np.int64)
        if self.codes.size:
            position = np.clip(np.searchsorted(self.codes, item_areas), 0, self.codes.size - 1)
            match = self.codes[position] == item_areas
            self.item_slot[match] = position[match]
        self.items_by_slot = [np.flatnonzero(self.item_slot == slot) for slot in range(self.codes.size)]

    @property
    def active(self) -> bool:
        return self.codes.size > 0

    def check_feasible(self) -> None:
        """Raise ValueError if the limits can never be met by this bank and test length."""
        for code, low, high, items in zip(self.codes, self.minimums, self.maximums, self.items_by_slot, strict=True):
            if low < 0 or high < low:
                raise ValueError(f"blueprint area {code}: need 0 <= min <= max, got ({low}, {high})")
            if items.size < low:
                raise ValueError(f"blueprint area {code} needs at least {low} items but the bank has {items.size}")
        if self.minimums.sum() > self.max_length:
            raise ValueError(
                f"blueprint minimums add up to {self.minimums.sum()}, more than max_length {self.max_length}"
            )

    def new_counts(self) -> np.ndarray:
        return np.zeros(self.codes.size, dtype=np.int64)

    def unmet(self, counts: np.ndarray) -> int:
        """Items still needed to reach every area's minimum."""
        return int(np.maximum(self.minimums - counts, 0).sum())

    def restricted_slots(self, counts: np.ndarray, n_administered: int, completing: bool = False) -> np.ndarray | None:
        """Areas that may supply the next item, or None if any area under its max may.

        When the slots left equal the items still owed to minimums, only areas
        below their minimum stay eligible: otherwise the minimums would become
        unreachable before max_length. ``completing`` (the test would already
        have stopped but for the blueprint) applies the same restriction early,
        so the test isn't lengthened by items that don't help meet it.
        """
        owed = self.unmet(counts)
        if owed == 0 or (not completing and self.max_length - n_administered > owed):
            return None
        return np.flatnonzero(counts < self.minimums)

    def eligible_mask(self, counts: np.ndarray, n_administered: int) -> np.ndarray:
        """Items whose area can take one more item now (full, stand-alone form of the session logic)."""
        open_slot = counts < self.maximums
        restricted = self.restricted_slots(counts, n_administered)
        if restricted is not None:
            allowed = np.zeros(self.codes.size, dtype=bool)
            allowed[restricted] = True
            open_slot &= allowed
        item_ok = np.full(self.item_slot.size, restricted is None)
        constrained = self.item_slot >= 0
        item_ok[constrained] = open_slot[self.item_slot[constrained]]
        return item_ok

    def counts_for(self, items: Iterable[int]) -> np.ndarray:
        counts = self.new_counts()
        for item in items:
            slot = self.item_slot[item]
            if slot >= 0:
                counts[slot] += 1
        return counts

    def violated(self, counts: np.ndarray) -> bool:
        return bool(np.any(counts < self.minimums) or np.any(counts > self.maximums))


class EnemyIndex:
    """For each item, the items that may not appear in the same test (CSR layout for O(1) lookup)."""

    def __init__(self, groups: Iterable[Iterable[int]], n_items: int):
        pairs: set[tuple[int, int]] = set()
        for group in groups:
            members = sorted({int(item) for item in group})
            for item in members:
                if not 0 <= item < n_items:
                    raise ValueError(f"enemy item index {item} is outside the bank (0..{n_items - 1})")
            pairs.update((item, other) for item in members for other in members if item != other)
        ordered = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
        self.offsets = np.concatenate([[0], np.cumsum(np.bincount(ordered[:, 0], minlength=n_items))])
        self.partners = ordered[:, 1].copy()

    def of(self, item: int) -> np.ndarray:
        return self.partners[self.offsets[item] : self.offsets[item + 1]]
