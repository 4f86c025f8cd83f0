"""Psychometrician routes: the bank with its parameters. Never reachable without the role."""
from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify, render_template, url_for
from sqlalchemy import select

from api.auth import require_role
from api.http import json_body
from api.services import unit_of_work
from calibration.runs import calibrate, publish, responses_from_database, rollback
from storage import CalibrationRun, Item, ItemParameter, ParameterSet


def fits_database_id(value: int) -> bool:
    """Integer ids from URLs beyond a 32-bit key would make PostgreSQL raise, not miss."""
    return 0 < value <= 2**31 - 1


bp = Blueprint("psychometrics", __name__, url_prefix="/api/v1/psychometrics")


@bp.get("/parameter-sets")
@require_role("psychometrician")
def parameter_sets():
    with unit_of_work() as db:
        rows = db.execute(select(ParameterSet).order_by(ParameterSet.id.desc())).scalars().all()
        return jsonify(parameter_sets=[
            {"id": p.id, "label": p.label, "source": p.source, "provisional": p.provisional, "active": p.is_active,
             "previous_id": p.previous_id, "published_at": p.published_at.isoformat() if p.published_at else None}
            for p in rows
        ])


@bp.get("/parameter-sets/<int:set_id>/items")
@require_role("psychometrician")
def parameter_set_items(set_id: int):
    with unit_of_work() as db:
        if not fits_database_id(set_id) or db.get(ParameterSet, set_id) is None:
            abort(404, description=f"no parameter set {set_id}")
        rows = db.execute(
            select(Item.external_id, Item.version, Item.area, ItemParameter)
            .join(ItemParameter, ItemParameter.item_id == Item.id)
            .where(ItemParameter.parameter_set_id == set_id)
            .order_by(Item.external_id)
        ).all()
        return jsonify(items=[
            {"id": ext, "version": ver, "area": area, "model": p.model, "a": p.a, "b": p.b, "c": p.c, "d": p.d,
             "se_a": p.se_a, "se_b": p.se_b}
            for ext, ver, area, p in rows
        ])


def _run_summary(run: CalibrationRun) -> dict:
    return {"id": run.id, "created_at": run.created_at.isoformat(), "created_by": run.created_by,
            "source": run.source, "model": run.model, "exam_id": run.exam_id, "status": run.status,
            "persons": run.n_persons, "responses": run.n_responses, "converged": run.result.get("converged"),
            "log_likelihood": run.result.get("log_likelihood"), "linking": run.linking,
            "parameter_set_id": run.parameter_set_id, "proposals": run.proposals, "notes": run.notes,
            "report_url": url_for("psychometrics.run_report", run_id=run.id),
            "report_pdf_url": url_for("psychometrics.run_report_pdf", run_id=run.id)}


def _run(db, run_id: int) -> CalibrationRun:
    run = db.get(CalibrationRun, run_id) if fits_database_id(run_id) else None
    if run is None:
        abort(404, description=f"no calibration run {run_id}")
    return run


@bp.get("/runs")
@require_role("psychometrician")
def runs():
    with unit_of_work() as db:
        rows = db.execute(select(CalibrationRun).order_by(CalibrationRun.id.desc())).scalars().all()
        return jsonify(runs=[_run_summary(r) for r in rows])


@bp.post("/runs")
@require_role("psychometrician")
def new_run():
    """Calibrate from the completed sittings (of one exam, or all)."""
    body = json_body()
    model = body.get("model", "2PL")
    exam_id = body.get("exam_id")
    if not isinstance(model, str) or (exam_id is not None and not isinstance(exam_id, str)):
        abort(400, description="'model' and 'exam_id' must be strings")
    with unit_of_work() as db:
        run = calibrate(db, responses_from_database(db, exam_id), model=model, source=f"exam:{exam_id or 'all'}",
                        actor=g.actor, exam_id=exam_id, pretest=bool(body.get("pretest", False)))
        return jsonify(_run_summary(run)), 201


@bp.get("/runs/<int:run_id>")
@require_role("psychometrician")
def run_detail(run_id: int):
    with unit_of_work() as db:
        run = _run(db, run_id)
        return jsonify({**_run_summary(run), "parameters": run.parameters, "result": run.result})


@bp.get("/runs/<int:run_id>/report")
@require_role("psychometrician")
def run_report(run_id: int):
    with unit_of_work() as db:
        run = _run(db, run_id)
        return render_template("calibration_report.html", run=run, report_html=run.report_html)


@bp.get("/runs/<int:run_id>/report.pdf")
@require_role("psychometrician")
def run_report_pdf(run_id: int):
    with unit_of_work() as db:
        run = _run(db, run_id)
        return Response(run.report_pdf, mimetype="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="calibration-run-{run.id}.pdf"'})


@bp.post("/runs/<int:run_id>/publish")
@require_role("psychometrician")
def run_publish(run_id: int):
    body = json_body()
    if not fits_database_id(run_id):
        abort(404, description=f"no calibration run {run_id}")
    with unit_of_work() as db:
        new = publish(db, run_id, actor=g.actor, promote=bool(body.get("promote", False)))
        return jsonify(parameter_set_id=new.id, label=new.label)


@bp.post("/rollback")
@require_role("psychometrician")
def parameters_rollback():
    with unit_of_work() as db:
        back = rollback(db, actor=g.actor)
        return jsonify(parameter_set_id=back.id, label=back.label)
