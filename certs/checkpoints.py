"""Signed checkpoints of the audit trail: tree heads that anyone who keeps one can hold the database to.

The hash chains show an edit only if nobody recomputed the hashes after it, and whoever can write the
database can. A checkpoint is the global chain's RFC 9162 tree head (item_bank.audit: its size, its root,
and how many events it vouches for, the sitting chains its seals close included), signed with the
issuer's Ed25519 key, which lives in CERTAMEN_KEY_DIR, outside the database. It is recorded on the
global chain right after the events it covers (so the trail holds every head it ever had), served at
GET /audit/checkpoint and written by `certamen audit checkpoint`; `audit verify --checkpoint FILE`
recomputes the tree at the checkpoint's size and compares, and /audit/consistency gives the RFC 9162
proof that a newer head extends an older one. Truncating or rewriting what a checkpoint covers then
contradicts every copy of it kept elsewhere, and an insider with only the database cannot sign a new one.

Why the issuer's credential key: verifiers already hold its public half (the DID document), its rotation
and withdrawal are already managed (`certamen keys`), and one secret is easier to guard than two. The
signature covers DOMAIN followed by the body's canonical JSON, a message no credential proof signs
(eddsa proofs sign two concatenated SHA-256 digests), so neither can be passed off as the other.
"""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from certs.errors import CertificateError
from certs.keys import KeyStore, SigningKey, TrustStore, format_datetime, utcnow
from errors import Kind
from item_bank import audit, merkle
from storage import AuditEvent

TYPE = "CertamenAuditCheckpoint"
DOMAIN = b"certamen-audit-checkpoint/v1\n"
SUBJECT = "audit:checkpoint"


class CheckpointError(CertificateError):
    """A checkpoint that cannot be made or a proof that cannot be given."""


def signing_input(body: dict[str, Any]) -> bytes:
    """What the signature covers: DOMAIN, then the body (everything but the signature) as canonical JSON."""
    return DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_checkpoint(body: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    value = base64.urlsafe_b64encode(key.sign(signing_input(body))).decode().rstrip("=")
    return {**body, "signature": {"type": "Ed25519", "verificationMethod": key.verification_method, "value": value}}


def create_checkpoint(db: Session, keys: KeyStore, *, log_url: str, actor: str) -> dict[str, Any]:
    """Sign the global chain's head now and record it right after the events it covers. Refused while the
    global chain does not verify, or contradicts (or holds a forged) earlier checkpoint: a head signed
    over a rewritten history would vouch for it."""
    audit.hold_global_lock(db)  # no global event may slip in between the head and its record
    head, problems = audit.global_tree(db)
    if problems:
        raise CheckpointError(
            f"the audit trail does not verify, so no checkpoint was signed: {problems[0]}"
            + (f" (and {len(problems) - 1} more; run `certamen audit verify`)" if problems[1:] else ""))
    previous = latest_checkpoint(db)
    problem = previous and signature_problem(previous, keys.trust_store(), withdrawn_keys=True)
    if problem:
        raise CheckpointError(f"the newest recorded checkpoint is not genuine ({problem}); run `certamen audit verify`")
    body = {"type": TYPE, "log": log_url, "issuer": keys.did, "treeSize": head.size, "rootHash": head.root,
            "eventsCovered": head.events, "timestamp": format_datetime(utcnow())}
    checkpoint = sign_checkpoint(body, keys.active_key())
    audit.record(db, actor=actor, kind=audit.CHECKPOINT_KIND, subject=SUBJECT, data=checkpoint, head=head.last)
    return checkpoint


def latest_checkpoint(db: Session) -> dict[str, Any] | None:
    """The newest checkpoint recorded on the trail (what /audit/checkpoint publishes)."""
    return db.execute(select(AuditEvent.data).where(AuditEvent.chain == audit.GLOBAL,
                                                    AuditEvent.kind == audit.CHECKPOINT_KIND)
                      .order_by(AuditEvent.chain_seq.desc()).limit(1)).scalar()


def recorded_checkpoints(db: Session) -> list[tuple[int, dict[str, Any]]]:
    """(event id, checkpoint) of every checkpoint on the trail, oldest first."""
    rows = db.execute(select(AuditEvent.id, AuditEvent.data).where(AuditEvent.chain == audit.GLOBAL,
                                                                    AuditEvent.kind == audit.CHECKPOINT_KIND)
                      .order_by(AuditEvent.chain_seq))
    return [(event_id, data) for event_id, data in rows]


def signature_problem(checkpoint: Any, trust: TrustStore, *, withdrawn_keys: bool = False) -> str | None:
    """None when `checkpoint` is well formed and signed by a key of a trusted issuer that was not withdrawn
    (or retired) for its time; otherwise what is wrong. `withdrawn_keys` accepts a key withdrawn since, for
    the checkpoints recorded on the trail: those are compared with the trail itself, so their signature
    only has to stop someone without any key from making them fit a rewritten history, and a key's
    withdrawal must not make every head it ever signed a problem."""
    if not isinstance(checkpoint, dict) or checkpoint.get("type") != TYPE:
        return "not an audit checkpoint"
    if type(checkpoint.get("treeSize")) is not int or checkpoint["treeSize"] < 0 \
            or not _is_hash(checkpoint.get("rootHash")):
        return "no tree size and root hash"
    signature = checkpoint.get("signature")
    signature = signature if isinstance(signature, dict) else {}
    key = trust.key(str(signature.get("verificationMethod")))
    if key is None or not trust.is_trusted_issuer(key.controller):
        return f"signed with a key this issuer does not have ({signature.get('verificationMethod')})"
    body = {k: v for k, v in checkpoint.items() if k != "signature"}
    if not key.verify(_decoded(signature.get("value")), signing_input(body)):
        return "signature invalid (altered or forged)"
    signed_at = _parsed_time(checkpoint.get("timestamp"))
    if withdrawn_keys:
        return None
    if key.compromised_for(signed_at):
        return f"signed with a withdrawn key ({key.verification_method})"
    if key.retired_before(signed_at):
        return f"dated after its key was retired ({key.verification_method})"
    return None


def describe(checkpoint: dict[str, Any]) -> str:
    return f"checkpoint of {checkpoint.get('treeSize')} events at {checkpoint.get('timestamp')}"


def consistency(db: Session, first: int, second: int) -> dict[str, Any]:
    """The RFC 9162 proof that the global chain's tree of `second` events extends the one of `first`."""
    if not 0 <= first <= second:
        raise CheckpointError("need 0 <= first <= second", kind=Kind.MALFORMED)
    leaves = audit.global_leaves(db, second)
    if len(leaves) < second:
        raise CheckpointError(f"the trail has {len(leaves)} global events, not {second}", kind=Kind.NOT_FOUND)
    return {"first": first, "second": second, "proof": merkle.consistency_proof(leaves, first)}


def _is_hash(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _decoded(value: Any) -> bytes:
    try:
        return base64.urlsafe_b64decode(str(value) + "=" * (-len(str(value)) % 4))
    except (binascii.Error, ValueError):
        return b""


def _parsed_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
