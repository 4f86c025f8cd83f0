"""Psychometrician routes: the bank with its parameters. Never reachable without the role."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify
from sqlalchemy import select

from api.auth import require_role
from api.services import unit_of_work
from item_bank.models import Item, ItemParameter, ParameterSet

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
        if db.get(ParameterSet, set_id) is None:
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
