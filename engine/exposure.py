"""Exposure control: randomesque and Sympson–Hetter, driven by replayable uniforms.

Randomness comes from ``step_uniform(seed, step, draw)``, a pure function, so a
session rebuilt from its stored responses makes exactly the same choices.
A SplitMix64 hash is used instead of ``np.random.default_rng([seed, step])``
because seeding a Generator costs ~9 µs, a quarter of the per-step budget.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .selection import top_k

__all__ = ["step_uniform", "randomesque_choice", "sympson_hetter_choice", "EXPOSURE_METHODS"]

_MASK = (1 << 64) - 1


def _mix64(value: int) -> int:
    """SplitMix64 finaliser: a bijective avalanche on 64-bit ints."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def step_uniform(seed: int, step: int, draw: int = 0) -> float:
    """Uniform [0, 1) determined only by (seed, step, draw)."""
    value = _mix64(_mix64(_mix64(seed & _MASK) ^ (step & _MASK)) ^ (draw & _MASK))
    return (value >> 11) * (1.0 / (1 << 53))


def randomesque_choice(scores: np.ndarray, k: int, uniform: float, eligible: np.ndarray | None = None) -> int | None:
    """Kingsbury & Zara randomesque: uniform pick among the k best eligible items."""
    candidates = top_k(scores, k, eligible)
    if candidates.size == 0:
        return None
    return int(candidates[min(int(uniform * candidates.size), candidates.size - 1)])


def sympson_hetter_choice(
    scores: np.ndarray,
    control: np.ndarray,
    uniform: Callable[[int], float],
    eligible: np.ndarray | None = None,
) -> tuple[int | None, list[int]]:
    """Sympson & Hetter (1985): offer items best-first; administer item i with probability K_i.

    Returns (item, set_aside): items drawn but not administered are set aside
    for the rest of this examinee's test, as in the original procedure. ``scores``
    is modified (set-aside entries become -inf) unless ``eligible`` is given.
    ``uniform(draw)`` supplies the draw-th uniform of this step.
    """
    if eligible is not None:
        scores = np.where(eligible, scores, -np.inf)
    set_aside: list[int] = []
    draw = 0
    while True:
        index = int(scores.argmax())
        if scores[index] == -np.inf:
            return None, set_aside
        if uniform(draw) < control[index]:
            return index, set_aside
        draw += 1
        set_aside.append(index)
        scores[index] = -np.inf


EXPOSURE_METHODS = ("none", "randomesque", "sympson_hetter")
