"""Simulated examinees through a stored exam, exactly as delivery would configure the engine."""
from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from engine import simulate
from item_bank.exposure import pinned_parameters
from item_bank.loader import active_parameter_set
from item_bank.runtime import engine_config, pool_for, session_config
from storage import Exam, ParameterSet


def simulate_exam(db: Session, exam_id: str, *, n: int, seed: int,
                  parameter_set_id: int | None = None) -> dict[str, Any]:
    exam = db.get(Exam, exam_id)
    if exam is None:
        raise LookupError(f"no exam {exam_id!r} (see `certamen exam list`)")
    params = db.get(ParameterSet, parameter_set_id) if parameter_set_id else active_parameter_set(db)
    if params is None:
        raise LookupError("no published parameter set")
    snapshot = {**session_config(exam), **pinned_parameters(db, exam, params.id)}
    pool = pool_for(db, params.id, exam.areas)
    report = simulate(pool.bank, engine_config(pool, snapshot), n=n, seed=seed)
    exposure = np.asarray(report["exposure"])
    top = np.argsort(-exposure)[:10]
    return {
        "exam": exam.id,
        "exam_version": exam.version,
        "parameter_set": params.id,
        "provisional_parameters": params.provisional,
        "pool_size": len(pool),
        **{k: v for k, v in report.items() if k not in ("exposure", "selection_rate")},
        "most_exposed": [{"item": pool.external_ids[i], "exposure": float(exposure[i])} for i in top],
        "exposure": {pool.external_ids[i]: float(exposure[i]) for i in range(len(pool))},
    }
