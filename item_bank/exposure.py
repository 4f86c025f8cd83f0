"""Exposure control that needs a simulation: Sympson-Hetter parameters per exam and parameter set.

Derived once, when a parameter set is published or an exam is revised, and stored; a session
pins the values in its snapshot, so delivery never simulates.
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import derive_sympson_hetter
from item_bank.runtime import engine_config, pool_for, session_config
from storage import Exam, ExposureControl

# Deriving for the target itself leaves a new sample of examinees above it about half the time.
DERIVATION_MARGIN = 0.05
DERIVATION_EXAMINEES = 500


def uses_sympson_hetter(exam: Exam) -> bool:
    return exam.cat_config.get("exposure") == "sympson_hetter"


def derive(db: Session, exam: Exam, parameter_set_id: int, *, seed: int = 20261125) -> ExposureControl:
    target = float(exam.cat_config.get("exposure_target", 0.25))
    snapshot = session_config(exam)
    pool = pool_for(db, parameter_set_id, exam.areas)
    config = engine_config(pool, {**snapshot, "sympson_hetter_k": None, "exposure": "randomesque"})
    result = _derived(pool.bank, config, max(target - DERIVATION_MARGIN, 0.05), seed)
    row = db.get(ExposureControl, (exam.id, exam.version, parameter_set_id))
    if row is None:
        row = ExposureControl(exam_id=exam.id, exam_version=exam.version, parameter_set_id=parameter_set_id)
        db.add(row)
    row.target = target
    row.k = result["k"]
    row.simulated_max_exposure = result["max_exposure"]
    db.flush()
    return row


_memo: dict[str, dict] = {}


def _derived(bank, config, r_max: float, seed: int) -> dict:
    """The simulation is deterministic, so identical inputs (e.g. several databases) share one run."""
    key = json.dumps([bank.fingerprint, config.to_dict(), r_max, seed, DERIVATION_EXAMINEES], sort_keys=True)
    if key not in _memo:
        _memo[key] = derive_sympson_hetter(bank, config, r_max=r_max, n=DERIVATION_EXAMINEES, seed=seed)
    return _memo[key]


def ensure_all(db: Session, parameter_set_id: int) -> list[ExposureControl]:
    """Derive what is missing for every active exam that uses Sympson-Hetter."""
    rows = []
    for exam in db.execute(select(Exam).where(Exam.is_active.is_(True)).order_by(Exam.id)).scalars():
        if uses_sympson_hetter(exam):
            row = db.get(ExposureControl, (exam.id, exam.version, parameter_set_id))
            rows.append(row or derive(db, exam, parameter_set_id))
    return rows


def pinned_parameters(db: Session, exam: Exam, parameter_set_id: int) -> dict[str, Any]:
    """The part of a session snapshot that exposure control contributes."""
    if not uses_sympson_hetter(exam):
        return {}
    row = db.get(ExposureControl, (exam.id, exam.version, parameter_set_id)) or derive(db, exam, parameter_set_id)
    return {"sympson_hetter_k": row.k}
