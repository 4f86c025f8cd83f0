"""The audit trail's signed checkpoints, public like the status lists and the DID document.

Public, not staff-only, on purpose: a checkpoint protects history only if people outside the operator
keep copies -- auditors, customers' HR, certificate holders -- so that a database rewritten later (even
with a fresh checkpoint signed over it) contradicts a head someone kept. A checkpoint gives away the
number of global events and a hash, nothing about anyone; consistency proofs are hashes of hashes.
Proofs cost a pass over the global chain, so they share the verification rate limit.
"""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from api import limits
from api.services import unit_of_work
from certs import checkpoints

bp = Blueprint("transparency", __name__)


@bp.get("/audit/checkpoint")
def latest_checkpoint():
    """The newest signed tree head; keep it, and hold later ones (and the trail) to it."""
    with unit_of_work() as db:
        checkpoint = checkpoints.latest_checkpoint(db)
    if checkpoint is None:
        abort(404, description="no checkpoint has been signed yet (`certamen audit checkpoint`)")
    return jsonify(checkpoint)


@bp.get("/audit/consistency")
@limits.verification
def consistency():
    """RFC 9162 proof that the tree of `second` global events extends the tree of `first`: check it with
    item_bank.merkle.verify_consistency against the roots of two checkpoints you hold."""
    first, second = request.args.get("first", type=int), request.args.get("second", type=int)
    if first is None or second is None:
        abort(400, description="give ?first=SIZE&second=SIZE (tree sizes of two checkpoints)")
    with unit_of_work() as db:
        return jsonify(checkpoints.consistency(db, first, second))
