"""Exposure control: randomesque and Sympson–Hetter, driven by replayable uniforms.

Randomness comes from ``step_uniform(seed, step, draw)``, a pure function, so a
session rebuilt from its stored responses makes exactly the same choices.
A SplitMix64 hash is used instead of ``np.random.default_rng([seed, step])``
because seeding a Generator costs ~9 µs, a quarter of the per-step budget.

Exposure controls for sessions are registered by name in ``EXPOSURE_METHODS``.
Each entry has the one ``ExposureControl`` signature
``control(bank, config) -> Chooser``: it binds (and checks) what the config
fixes once per ``SessionPlan`` and returns the per-step ``Chooser``::

    chooser(scores, seed, step, barred) -> (item or None, set_aside)

``scores`` are the masked selection scores (ineligible items at -inf; the
chooser may overwrite them), ``barred`` marks items set aside earlier for this
examinee, and ``set_aside`` lists the items drawn but not administered at this
step (empty for every method but Sympson–Hetter), which the session bars.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .registry import Registry
from .selection import top_k

if TYPE_CHECKING:
    from .bank import Bank
    from .config import CATConfig

__all__ = [
    "step_uniform",
    "randomesque_choice",
    "sympson_hetter_choice",
    "Chooser",
    "ExposureControl",
    "no_exposure_control",
    "randomesque_control",
    "sympson_hetter_control",
    "EXPOSURE_METHODS",
]

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


Chooser = Callable[[np.ndarray, int, int, np.ndarray], tuple["int | None", Sequence[int]]]
ExposureControl = Callable[["Bank", "CATConfig"], Chooser]

_NOTHING_SET_ASIDE: tuple[int, ...] = ()


def no_exposure_control(bank: Bank, config: CATConfig) -> Chooser:
    """The best eligible item, always."""

    def choose(scores: np.ndarray, seed: int, step: int, barred: np.ndarray) -> tuple[int | None, Sequence[int]]:
        item = int(scores.argmax())
        return (None if scores[item] == -np.inf else item), _NOTHING_SET_ASIDE

    return choose


def randomesque_control(bank: Bank, config: CATConfig) -> Chooser:
    """Uniform pick among the ``config.randomesque_k`` best eligible items (``randomesque_choice``)."""
    k = config.randomesque_k

    def choose(scores: np.ndarray, seed: int, step: int, barred: np.ndarray) -> tuple[int | None, Sequence[int]]:
        return randomesque_choice(scores, k, step_uniform(seed, step)), _NOTHING_SET_ASIDE

    return choose


def sympson_hetter_control(bank: Bank, config: CATConfig) -> Chooser:
    """Sympson–Hetter with the per-item ``config.sympson_hetter_k`` (``sympson_hetter_choice``)."""
    if config.sympson_hetter_k is None:
        raise ValueError(
            "exposure 'sympson_hetter' needs sympson_hetter_k; derive it with engine.simulation.derive_sympson_hetter"
        )
    if len(config.sympson_hetter_k) != bank.n_items:
        raise ValueError(
            f"sympson_hetter_k has {len(config.sympson_hetter_k)} values but the bank has {bank.n_items} items"
        )
    control = np.asarray(config.sympson_hetter_k, dtype=float)
    control.setflags(write=False)

    def choose(scores: np.ndarray, seed: int, step: int, barred: np.ndarray) -> tuple[int | None, Sequence[int]]:
        if barred.any():
            # Items set aside earlier stay out while anything else may be given; when only they
            # remain (e.g. a blueprint minimum forces an area), content rules outrank exposure.
            open_scores = np.where(barred, -np.inf, scores)
            if np.isfinite(open_scores).any():
                scores = open_scores
        item, set_aside = sympson_hetter_choice(scores, control, lambda draw: step_uniform(seed, step, draw))
        if item is None and set_aside:
            item = set_aside.pop(0)  # every candidate was drawn and set aside: give the best one
        return item, set_aside

    return choose


EXPOSURE_METHODS: Registry[ExposureControl] = Registry(
    "exposure",
    {"none": no_exposure_control, "randomesque": randomesque_control, "sympson_hetter": sympson_hetter_control},
)
