"""CAT configuration: one JSON-able record per exam, validated on construction."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .estimators import ESTIMATORS
from .exposure import EXPOSURE_METHODS
from .selection import SELECTORS
from .stopping import CLASSIFICATION_RULES

__all__ = ["CATConfig"]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class CATConfig:
    """Everything that shapes an adaptive test except the bank and the seed.

    ``blueprint`` maps area code -> (min, max) items; ``enemies`` lists groups of
    bank indices that must never share a test; ``sympson_hetter_k`` holds the
    per-item exposure-control parameters (see ``engine.simulation.derive_sympson_hetter``).
    Frozen so sessions can cache bank-dependent preparation per config object;
    use ``dataclasses.replace`` to derive a variant.
    """

    estimator: str = "eap"
    prior_mean: float = 0.0
    prior_sd: float = 1.0
    quadrature_points: int = 61
    theta_min: float = -4.0
    theta_max: float = 4.0
    selector: str = "max_info"
    kl_delta: float = 3.0
    exposure: str = "none"
    randomesque_k: int = 5
    sympson_hetter_k: list[float] | None = None
    se_target: float | None = 0.3
    min_length: int = 5
    max_length: int = 40
    cut_score: float | None = None
    classification: str = "none"
    ci_z: float = 1.96
    sprt_delta: float = 0.2
    sprt_alpha: float = 0.05
    sprt_beta: float = 0.05
    blueprint: dict[int, tuple[int, int]] = field(default_factory=dict)
    enemies: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "blueprint", self._normalise_blueprint(self.blueprint))
        object.__setattr__(self, "enemies", self._normalise_enemies(self.enemies))
        if self.sympson_hetter_k is not None:
            values = [float(k) for k in self.sympson_hetter_k]
            if not all(0.0 <= k <= 1.0 for k in values):
                raise ValueError("sympson_hetter_k values must lie in [0, 1]")
            object.__setattr__(self, "sympson_hetter_k", values)
        self.validate()

    @staticmethod
    def _normalise_blueprint(blueprint: object) -> dict[int, tuple[int, int]]:
        if not isinstance(blueprint, dict):
            raise ValueError("blueprint must be a mapping of area code -> [min, max]")
        result: dict[int, tuple[int, int]] = {}
        for code, limits in blueprint.items():
            try:
                area = int(code)
            except (TypeError, ValueError):
                raise ValueError(f"blueprint area code {code!r} is not an integer") from None
            if not isinstance(limits, (list, tuple)) or len(limits) != 2 or not all(_is_int(x) for x in limits):
                raise ValueError(f"blueprint area {area}: limits must be [min, max] integers, got {limits!r}")
            low, high = limits
            if low < 0 or high < low:
                raise ValueError(f"blueprint area {area}: need 0 <= min <= max, got [{low}, {high}]")
            result[area] = (low, high)
        return result

    @staticmethod
    def _normalise_enemies(enemies: object) -> list[list[int]]:
        if not isinstance(enemies, (list, tuple)):
            raise ValueError("enemies must be a list of lists of item indices")
        groups: list[list[int]] = []
        for group in enemies:
            if not isinstance(group, (list, tuple)) or not all(_is_int(x) and x >= 0 for x in group):
                raise ValueError(f"enemy group {group!r} must be a list of non-negative item indices")
            if len(set(group)) < 2:
                raise ValueError(f"enemy group {group!r} needs at least two distinct items")
            groups.append(sorted(set(group)))
        return groups

    def validate(self) -> None:
        """Raise ValueError naming the first offending field."""
        # strategy names: each registry's ValueError names the field and lists the valid names
        ESTIMATORS.resolve(self.estimator)
        SELECTORS.resolve(self.selector)
        EXPOSURE_METHODS.resolve(self.exposure)
        CLASSIFICATION_RULES.resolve(self.classification)
        for name in ("prior_mean", "theta_min", "theta_max", "kl_delta", "ci_z", "sprt_delta"):
            if not _is_number(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)!r}")
        if not _is_number(self.prior_sd) or self.prior_sd <= 0:
            raise ValueError(f"prior_sd must be > 0, got {self.prior_sd!r}")
        if self.theta_min >= self.theta_max:
            raise ValueError(f"theta_min ({self.theta_min}) must be below theta_max ({self.theta_max})")
        if not _is_int(self.quadrature_points) or self.quadrature_points < 11:
            raise ValueError(f"quadrature_points must be an integer >= 11, got {self.quadrature_points!r}")
        if not _is_int(self.randomesque_k) or self.randomesque_k < 1:
            raise ValueError(f"randomesque_k must be an integer >= 1, got {self.randomesque_k!r}")
        if self.kl_delta <= 0:
            raise ValueError(f"kl_delta must be > 0, got {self.kl_delta!r}")
        if self.se_target is not None and (not _is_number(self.se_target) or self.se_target <= 0):
            raise ValueError(f"se_target must be > 0 or null, got {self.se_target!r}")
        if not _is_int(self.min_length) or self.min_length < 0:
            raise ValueError(f"min_length must be an integer >= 0, got {self.min_length!r}")
        if not _is_int(self.max_length) or self.max_length < 1:
            raise ValueError(f"max_length must be an integer >= 1, got {self.max_length!r}")
        if self.min_length > self.max_length:
            raise ValueError(f"min_length ({self.min_length}) exceeds max_length ({self.max_length})")
        if self.cut_score is not None and not _is_number(self.cut_score):
            raise ValueError(f"cut_score must be a finite number or null, got {self.cut_score!r}")
        if self.classification != "none" and self.cut_score is None:
            raise ValueError(f"classification {self.classification!r} needs a cut_score")
        if self.ci_z <= 0:
            raise ValueError(f"ci_z must be > 0, got {self.ci_z!r}")
        if self.sprt_delta <= 0:
            raise ValueError(f"sprt_delta must be > 0, got {self.sprt_delta!r}")
        for name in ("sprt_alpha", "sprt_beta"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 < value < 0.5:
                raise ValueError(f"{name} must lie in (0, 0.5), got {value!r}")
        minimum_total = sum(low for low, _ in self.blueprint.values())
        if minimum_total > self.max_length:
            raise ValueError(f"blueprint minimums add up to {minimum_total}, more than max_length {self.max_length}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CATConfig:
        """Inverse of to_dict; unknown keys are rejected so typos don't silently fall back to defaults."""
        if not isinstance(data, dict):
            raise ValueError("CAT config must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown CAT config keys: {unknown}")
        return cls(**data)

    @property
    def fingerprint(self) -> str:
        """Content hash of the JSON form (computed once; the config is frozen)."""
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            text = json.dumps(self.to_dict(), sort_keys=True)
            cached = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
            object.__setattr__(self, "_fingerprint", cached)
        return cached

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (blueprint keys become strings, limits lists)."""
        data = asdict(self)
        data["blueprint"] = {str(code): [low, high] for code, (low, high) in sorted(self.blueprint.items())}
        data["enemies"] = [list(group) for group in self.enemies]
        return data
