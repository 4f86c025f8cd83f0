"""The psychometrician's workflow over the database: calibrate, review, publish, roll back.

A run is stored with its full result; publishing it makes a new parameter set atomically (sessions
already running keep the set they pinned), and rollback re-activates the set it replaced.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calibration.data import ResponseData
from calibration.estimate import fit
from calibration.linking import apply_linking, stocking_lord
from calibration.report import build_report, render_html, render_pdf
from calibration.result import CalibrationResult
from errors import CertamenError, Kind
from item_bank import audit
from item_bank.loader import active_parameter_set, publish_parameter_set
from storage import CalibrationRun, Item, ItemParameter, ParameterSet, Response, Sitting

MIN_LINKING_ITEMS = 5
MIN_PRETEST_RESPONSES = 200
# Items answered fewer times than this are left out of a run (their estimates would be noise) and named.
MIN_ITEM_RESPONSES = 50
MIN_DISCRIMINATION = 0.05


class RunError(CertamenError, ValueError):
    """A calibration run that cannot be made, published or rolled back in the state things are in."""

    kind = Kind.CONFLICT


def responses_from_database(db: Session, exam_id: str | None = None) -> ResponseData:
    """Scored and pretest answers of completed sittings; one person per sitting, one item per external id."""
    query = (
        select(Response.session_id, Item.external_id, Response.score)
        .join(Item, Item.id == Response.item_id)
        .join(Sitting, Sitting.id == Response.session_id)
        .where(Sitting.state == "completed")
    )
    if exam_id:
        query = query.where(Sitting.exam_id == exam_id)
    rows = db.execute(query).all()
    if not rows:
        raise RunError("no completed sittings with responses" + (f" for exam {exam_id!r}" if exam_id else ""))
    person, item, score = zip(*rows, strict=True)
    return ResponseData.from_long(np.array(person), np.array(item), np.array(score, dtype=float))


def _live_exposure(db: Session, exam_id: str | None) -> dict[str, float]:
    """Share of completed sittings that saw each item."""
    sittings = select(Sitting.id).where(Sitting.state == "completed")
    if exam_id:
        sittings = sittings.where(Sitting.exam_id == exam_id)
    total = db.execute(select(func.count()).select_from(sittings.subquery())).scalar() or 0
    if not total:
        return {}
    rows = db.execute(
        select(Item.external_id, func.count(func.distinct(Response.session_id)))
        .join(Response, Response.item_id == Item.id)
        .where(Response.session_id.in_(sittings))
        .group_by(Item.external_id)
    ).all()
    return {ext: n / total for ext, n in rows}


def _published_table(db: Session, parameter_set_id: int) -> dict[str, dict[str, float]]:
    rows = db.execute(
        select(Item.external_id, ItemParameter)
        .join(ItemParameter, ItemParameter.item_id == Item.id)
        .where(ItemParameter.parameter_set_id == parameter_set_id)
    ).all()
    return {ext: {"a": p.a, "b": p.b, "c": p.c, "se_a": p.se_a, "se_b": p.se_b} for ext, p in rows}


def _parameter_table(result: CalibrationResult) -> dict[str, dict[str, Any]]:
    table = {}
    for j, iid in enumerate(result.item_ids):
        table[str(iid)] = {
            "a": float(result.a[j]),
            "b": float(result.b[j]),
            "c": float(result.c[j]) if result.c is not None else 0.0,
            "se_a": _finite(result.se_a[j]) if result.se_a is not None else None,
            "se_b": _finite(result.se_b[j]) if result.se_b is not None else None,
        }
    return table


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def calibrate(db: Session, responses: ResponseData, *, model: str, source: str, actor: str,
              exam_id: str | None = None, pretest: bool = False) -> CalibrationRun:
    """Fit and store a draft run. With `pretest`, operational items stay fixed at their published
    values so the pretest items land directly on the bank scale; otherwise the free calibration
    is linked to the bank by Stocking-Lord on the items both share."""
    if model not in ("1PL", "Rasch", "2PL", "3PL"):
        raise RunError("the bank's live exams use dichotomous items: choose 1PL, Rasch, 2PL or 3PL")
    counts = dict(zip(responses.item_ids, responses.item_counts(), strict=True))
    too_few = sorted(iid for iid, n in counts.items() if n < MIN_ITEM_RESPONSES)
    if too_few:
        kept = [iid for iid in responses.item_ids if iid not in set(too_few)]
        if not kept:
            raise RunError(f"no item has the {MIN_ITEM_RESPONSES} responses a calibration needs")
        responses = responses.subset(items=kept)
    active = active_parameter_set(db)
    published = _published_table(db, active.id) if active else {}
    fixed = None
    if pretest:
        if not published:
            raise RunError("fixed-parameter calibration needs published parameters")
        fixed = {iid: {k: published[iid][k] for k in ("a", "b", "c")} for iid in responses.item_ids if iid in published}
        if not fixed:
            raise RunError("none of the calibrated items has published parameters to anchor the scale")
        model = "3PL" if any(p["c"] > 0 for p in fixed.values()) else model
    result = fit(responses, model=model, fixed=fixed)
    parameters = _parameter_table(result)
    linking: dict[str, Any] = {"method": "fixed-parameter" if pretest else "none"}
    common = [iid for iid in parameters if iid in published]
    if not pretest and len(common) >= MIN_LINKING_ITEMS:
        constants = stocking_lord(result, {iid: published[iid] for iid in common}, items=common)
        parameters = {iid: {**parameters[iid], **p} for iid, p in apply_linking(result, constants).items()}
        linking = {"method": "stocking-lord", "A": float(constants.A), "B": float(constants.B), "items": len(common)}
    proposals = []
    if pretest:
        pretest_ids = set(db.execute(select(Item.external_id).where(Item.is_current.is_(True),
                                                                    Item.status == "pretest")).scalars())
        flagged = {w.item for w in result.warnings if getattr(w, "item", None)}
        for iid in sorted(pretest_ids & set(parameters)):
            p = parameters[iid]
            if (counts.get(iid, 0) >= MIN_PRETEST_RESPONSES and iid not in flagged
                    and 0.3 <= p["a"] <= 4 and abs(p["b"]) <= 4):
                proposals.append(iid)
    run = CalibrationRun(
        created_by=actor, source=source, model=result.model, exam_id=exam_id,
        n_persons=int(len(responses.person_ids)), n_responses=int(len(responses.score)),
        base_parameter_set_id=active.id if active else None, linking=linking, result=result.to_dict(),
        parameters=parameters, proposals=proposals,
        notes=(f"left out for fewer than {MIN_ITEM_RESPONSES} responses: {', '.join(too_few)}" if too_few else ""),
    )
    db.add(run)
    db.flush()
    report = build_report(result, responses, published=published or None, exposure=_live_exposure(db, exam_id),
                          run_label=f"Calibration run {run.id} ({source})", min_responses=MIN_ITEM_RESPONSES)
    run.report_html, run.report_pdf = render_html(report), render_pdf(report)
    audit.record(db, actor=actor, kind="calibration.run", subject=f"calibration_run:{run.id}",
                 data={"source": source, "model": result.model, "converged": bool(result.converged),
                       "linking": linking["method"], "proposals": proposals})
    return run


def publish(db: Session, run_id: int, *, actor: str, promote: bool = False) -> ParameterSet:
    """A new active parameter set: the current one with this run's items replaced (and, with
    `promote`, its proposed pretest items added and made operational)."""
    from item_bank.authoring import set_status

    run = db.get(CalibrationRun, run_id)
    if run is None:
        raise RunError(f"no calibration run {run_id}")
    if run.status == "published":
        raise RunError(f"run {run_id} is already published (parameter set {run.parameter_set_id})")
    active = active_parameter_set(db)
    if active is not None and run.base_parameter_set_id not in (None, active.id):
        raise RunError(f"run {run_id} was calibrated against parameter set {run.base_parameter_set_id}, "
                       f"but {active.id} is active now; calibrate again")
    current = {i.external_id: i for i in db.execute(select(Item).where(Item.is_current.is_(True))).scalars()}
    unknown = sorted(set(run.parameters) - set(current))
    if unknown:
        raise RunError(f"run {run_id} has items that are not in the bank: {', '.join(unknown[:10])}")
    rows: dict[int, dict] = {}
    if active is not None:
        for p in active.parameters:
            rows[p.item_id] = dict(model=p.model, a=p.a, b=p.b, c=p.c, d=p.d, se_a=p.se_a, se_b=p.se_b, se_c=p.se_c)
    promoted = set(run.proposals) if promote else set()
    model = "3PL" if run.model == "3PL" else "2PL"
    kept_old = []
    for iid, p in run.parameters.items():
        item = current[iid]
        if not usable(p):  # an estimate the engine cannot score with keeps the published value
            kept_old.append(iid)
            continue
        if item.id in rows or iid in promoted:
            rows[item.id] = dict(model=model, a=p["a"], b=p["b"], c=p.get("c") or 0.0, d=1.0,
                                 se_a=p.get("se_a"), se_b=p.get("se_b"), se_c=None)
    new = publish_parameter_set(db, rows, label=f"Calibration run {run.id} ({run.model}, {run.source})",
                                source=f"calibration run {run.id}", provisional=False, actor=actor,
                                calibration_run_id=run.id)
    for iid in sorted(promoted):
        set_status(db, iid, "operational", actor=actor)
    run.status = "published"
    run.parameter_set_id = new.id
    if kept_old:
        run.notes = (run.notes + "\n" if run.notes else "") + (
            "not published (unusable estimates; previous values kept): " + ", ".join(sorted(kept_old)))
    return new


def usable(p: dict[str, Any]) -> bool:
    values = [p.get("a"), p.get("b"), p.get("c") or 0.0]
    return (all(v is not None and np.isfinite(v) for v in values)
            and MIN_DISCRIMINATION <= p["a"] <= 6 and abs(p["b"]) <= 6 and 0 <= (p.get("c") or 0.0) < 0.6)


def rollback(db: Session, *, actor: str) -> ParameterSet:
    """Re-activate the parameter set the active one replaced."""
    active = active_parameter_set(db)
    if active is None or active.previous_id is None:
        raise RunError("there is no earlier parameter set to roll back to")
    previous = db.get(ParameterSet, active.previous_id)
    active.is_active = False
    db.flush()
    previous.is_active = True
    audit.record(db, actor=actor, kind="parameters.rollback", subject=f"parameter_set:{previous.id}",
                 data={"from": active.id})
    return previous
