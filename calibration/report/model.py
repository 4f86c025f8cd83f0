"""What a review report is: plain dataclasses, so the analysis can build them without knowing how
they will be shown and HTML, PDF and JSON can present the same facts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .formatting import json_safe

FLAG_LABELS = {
    "low_discrimination": "low a",
    "high_discrimination": "high a",
    "extreme_difficulty": "extreme b",
    "high_guessing": "high c",
    "imprecise_difficulty": "SE b",
    "misfit": "misfit",
    "few_responses": "few responses",
    "dif": "DIF",
    "drift": "drift",
    "overexposed": "exposure",
    "not_converged": "not converged",
    "mstep_failed": "M-step",
    "no_variation": "no variation",
    "empty_category": "empty category",
    "extreme_estimate": "extreme estimate",
}


@dataclass(frozen=True)
class ReviewThresholds:
    """Flagging rules (see the ``calibration.report`` docstring)."""

    a_min: float = 0.3
    a_max: float = 3.5
    b_abs_max: float = 3.5
    se_b_max: float = 0.5
    c_max: float = 0.4
    fit_alpha: float = 0.01
    drift_z: float = 3.0
    exposure_max: float = 0.3
    dif_categories: tuple = ("C",)


@dataclass(frozen=True)
class Flag:
    code: str
    reason: str

    def to_dict(self):
        return {"code": self.code, "reason": self.reason}


@dataclass
class ItemRow:
    """One item: parameters (``b``/``se_b`` are lists for GRM thresholds) and review results."""

    id: str
    a: float | None
    b: float | list | None
    c: float | None
    se_a: float | None
    se_b: float | list | None
    n_responses: int
    fixed: bool = False
    s_x2: float | None = None
    s_x2_df: int | None = None
    s_x2_p: float | None = None
    dif_category: str | None = None
    dif_delta: float | None = None
    drift_z_a: float | None = None
    drift_z_b: float | None = None
    drift_flagged: bool | None = None
    exposure: float | None = None
    flags: list = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    @property
    def reasons(self) -> list:
        return [f.reason for f in self.flags]

    @property
    def flag_codes(self) -> list:
        return [f.code for f in self.flags]

    @property
    def flag_labels(self) -> list:
        """Short names of the flags, as shown in tables and figures."""
        return [FLAG_LABELS.get(c, c) for c in self.flag_codes]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["flags"] = [f.to_dict() for f in self.flags]
        return d


@dataclass
class Analysis:
    """A secondary analysis: ``status`` "done", "skipped" (``reason`` says why) or "not requested"."""

    name: str
    status: str
    reason: str = ""
    rows: list = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status == "done"

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "reason": self.reason, "rows": self.rows,
                "details": self.details}


@dataclass
class Report:
    """Everything a reviewer needs; ``figures`` are PNG bytes keyed "icc", "iif", "tif" (and "drift")."""

    run_label: str
    generated_at: str
    summary: dict
    items: list
    fit: Analysis
    drift: Analysis
    dif: Analysis
    exposure: Analysis
    thresholds: ReviewThresholds
    min_responses: int
    figures: dict = field(default_factory=dict)
    figure_captions: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    @property
    def flagged(self) -> list:
        """Flagged item rows, most flags first."""
        rows = [r for r in self.items if r.flags]
        return sorted(rows, key=lambda r: -len(r.flags))

    def item(self, item_id) -> ItemRow:
        for r in self.items:
            if r.id == str(item_id):
                return r
        raise KeyError(item_id)

    def flag_counts(self) -> dict:
        counts: dict = {}
        for r in self.items:
            for f in r.flags:
                counts[f.code] = counts.get(f.code, 0) + 1
        return counts

    def to_dict(self) -> dict:
        """JSON-ready (figures are listed by name only)."""
        return json_safe({
            "run_label": self.run_label, "generated_at": self.generated_at, "summary": self.summary,
            "thresholds": {**asdict(self.thresholds), "min_responses": self.min_responses},
            "flag_counts": self.flag_counts(),
            "flagged": [{"id": r.id, "flags": [f.to_dict() for f in r.flags]} for r in self.flagged],
            "items": [r.to_dict() for r in self.items],
            "fit": self.fit.to_dict(), "drift": self.drift.to_dict(), "dif": self.dif.to_dict(),
            "exposure": self.exposure.to_dict(), "figures": sorted(self.figures),
            "notes": list(self.notes),
        })
