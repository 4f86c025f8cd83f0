"""`audit verify` in full: the chains, the state tables against the events, and the checkpoints.

item_bank.audit.verify_chain checks the chains, the seals, the sittings' decisions against their
exam.finish events and the responses against their exam.answer events. This adds what only certs can
see: every certificate was issued (a certificate.issue event for its sitting) on a sitting whose recorded
answers re-derive a pass (item_bank.rescoring); every status it has -- revoked_at, suspended_at, set or
cleared -- is the one its certificate.* events lead to, at their time; every re-sit allowance has its
event and every allowance event its row. Then the checkpoints: each one recorded on the trail must carry
a good signature (verify_chain has compared its root already), and each one kept elsewhere (a file) must
be signed and match the tree recomputed at its size. Each disagreement is named, none is fixed.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from certs import checkpoints
from certs.keys import TrustStore
from certs.resits import ALLOW_RESIT_KIND
from item_bank import audit
from item_bank.audit import TreeHead
from item_bank.rescoring import rederive_sittings
from storage import AuditEvent, Certificate, ResitAllowance, as_utc

STATUS_KINDS = ("certificate.issue", "certificate.suspend", "certificate.reinstate", "certificate.revoke",
                ALLOW_RESIT_KIND)
# change_status stamps the row, then records the event: a moment apart, never minutes.
STATUS_TIME_TOLERANCE = timedelta(minutes=1)


@dataclass
class AuditReport:
    ok: bool
    checked: int  # events
    problems: list[str]
    tree: TreeHead | None = None
    checkpoints: int = 0  # checked: recorded on the trail and kept elsewhere


def audit_report(db: Session, trust: TrustStore, kept: Sequence[Any] = ()) -> AuditReport:
    """Everything `certamen audit verify` and /api/v1/admin/audit/verify report. `kept`: checkpoints
    kept outside the database (parsed JSON), each checked against the trail as it is now."""
    sizes = [c["treeSize"] for c in kept if isinstance(c, dict) and type(c.get("treeSize")) is int]
    chains = audit.verify_chain(db, tree_sizes=sizes)
    problems = list(chains.problems)
    problems += certificate_problems(db)
    recorded = checkpoints.recorded_checkpoints(db)
    problems += _recorded_checkpoint_problems(recorded, trust)
    problems += [p for checkpoint in kept for p in _kept_checkpoint_problems(checkpoint, chains, trust)]
    return AuditReport(ok=not problems, checked=chains.checked, problems=problems, tree=chains.tree,
                       checkpoints=len(recorded) + len(kept))


# ---------------------------------------------------------------- certificates against their events


@dataclass
class _History:
    """One certificate's events, in the order they were recorded."""

    issued: tuple[int, Any] | None = None  # (event id, sitting)
    changes: list[tuple[str, datetime, int]] = field(default_factory=list)  # (kind, at, event id)
    allowances: dict[Any, int] = field(default_factory=dict)  # allowance id -> event id


def certificate_problems(db: Session) -> list[str]:
    histories = _certificate_histories(db)
    problems: list[str] = []
    certified: dict[str, str] = {}  # sitting -> certificate
    for cert_id, session_id, revoked_at, suspended_at in db.execute(
        select(Certificate.id, Certificate.session_id, Certificate.revoked_at, Certificate.suspended_at)
        .order_by(Certificate.id)
    ):
        history = histories.get(cert_id, _History())
        problems += _issue_problems(cert_id, session_id, history)
        problems += _status_problems(cert_id, "revoke", revoked_at, _revoked_by(history))
        problems += _status_problems(cert_id, "suspend", suspended_at, _suspended_by(history))
        certified[session_id] = cert_id
    for cert_id in sorted(set(histories) - set(certified.values())):
        issued = histories[cert_id].issued
        if issued is not None:
            problems.append(f"certificate {cert_id}: issued by event {issued[0]}, but its row "
                            f"is gone (certificate deleted)")
    problems += _allowance_problems(db, histories)
    problems += _unearned_problems(db, certified)
    return problems


def _certificate_histories(db: Session) -> dict[str, _History]:
    histories: dict[str, _History] = {}
    for event_id, at, kind, subject, data in db.execute(
        select(AuditEvent.id, AuditEvent.at, AuditEvent.kind, AuditEvent.subject, AuditEvent.data)
        .where(AuditEvent.chain == audit.GLOBAL, AuditEvent.kind.in_(STATUS_KINDS))
        .order_by(AuditEvent.chain_seq), execution_options={"yield_per": 5000}
    ):
        history = histories.setdefault(subject.removeprefix("certificate:"), _History())
        info = data if isinstance(data, dict) else {}
        if kind == "certificate.issue":
            history.issued = (event_id, info.get("session"))
        elif kind == ALLOW_RESIT_KIND:
            history.allowances[info.get("allowance")] = event_id
        else:
            history.changes.append((kind, as_utc(at), event_id))
    return histories


def _issue_problems(cert_id: str, session_id: str, history: _History) -> list[str]:
    if history.issued is None:
        return [f"certificate {cert_id}: no certificate.issue event (inserted in the database, not issued)"]
    if history.issued[1] != session_id:
        return [f"certificate {cert_id}: belongs to sitting {session_id}, but event {history.issued[0]} issued it "
                f"for sitting {history.issued[1]} (altered)"]
    return []


def _revoked_by(history: _History) -> tuple[datetime, int] | None:
    """(time, event) of the revocation the events record, if any."""
    return next(((at, event_id) for kind, at, event_id in history.changes if kind == "certificate.revoke"), None)


def _suspended_by(history: _History) -> tuple[datetime, int] | None:
    """(time, event) of the suspension in force after the events, if any (a reinstatement lifts it)."""
    current = None
    for kind, at, event_id in history.changes:
        if kind == "certificate.suspend":
            current = (at, event_id)
        elif kind == "certificate.reinstate":
            current = None
    return current


def _status_problems(cert_id: str, action: str, stamped: datetime | None,
                     recorded: tuple[datetime, int] | None) -> list[str]:
    """The row's revoked_at / suspended_at against what the events say (`action`: revoke or suspend)."""
    state = "revoked" if action == "revoke" else "suspended"
    if stamped is not None and recorded is None:
        return [f"certificate {cert_id}: marked {state}, but no certificate.{action} event is in force "
                f"(status set in the database)"]
    if stamped is None and recorded is not None:
        undone = "revocation undone" if action == "revoke" else "suspension lifted without a reinstatement"
        return [f"certificate {cert_id}: {state} by event {recorded[1]}, but its row is not ({undone} in the "
                f"database)"]
    if stamped is not None and recorded is not None and abs(as_utc(stamped) - recorded[0]) > STATUS_TIME_TOLERANCE:
        return [f"certificate {cert_id}: {state} at {as_utc(stamped):%Y-%m-%d %H:%M:%S}, but event {recorded[1]} "
                f"{state} it at {recorded[0]:%Y-%m-%d %H:%M:%S} (date altered)"]
    return []


def _allowance_problems(db: Session, histories: dict[str, _History]) -> list[str]:
    problems = []
    recorded = {(cert_id, allowance): event_id for cert_id, h in histories.items()
                for allowance, event_id in h.allowances.items()}
    for allowance_id, cert_id in db.execute(select(ResitAllowance.id, ResitAllowance.certificate_id)
                                            .order_by(ResitAllowance.id)):
        if recorded.pop((cert_id, allowance_id), None) is None:
            problems.append(f"re-sit allowance {allowance_id} for certificate {cert_id}: no {ALLOW_RESIT_KIND} "
                            f"event (inserted in the database)")
    for (cert_id, allowance_id), event_id in sorted(recorded.items(), key=lambda kv: kv[1]):
        problems.append(f"re-sit allowance {allowance_id} for certificate {cert_id}: recorded by event {event_id}, "
                        f"but its row is gone (deleted)")
    return problems


def _unearned_problems(db: Session, certified: dict[str, str]) -> list[str]:
    """Every certificate's sitting re-derives a pass from its recorded answers and rules."""
    problems = []
    for session_id, derived in sorted(rederive_sittings(db, certified).items()):
        cert_id = certified[session_id]
        if derived.problems:
            more = f" (and {len(derived.problems) - 1} more)" if derived.problems[1:] else ""
            problems.append(f"certificate {cert_id}: its sitting's record cannot be trusted: "
                            f"{derived.problems[0]}{more}")
        elif derived.decision != "pass":
            problems.append(f"certificate {cert_id}: its sitting {session_id}'s recorded answers re-derive "
                            f"{derived.decision!r}, not a pass (certificate unearned)")
    return problems


# ---------------------------------------------------------------- checkpoints


def _recorded_checkpoint_problems(recorded: list[tuple[int, Any]], trust: TrustStore) -> list[str]:
    return [f"event {event_id}: recorded checkpoint is not genuine: {problem}"
            for event_id, checkpoint in recorded
            if (problem := checkpoints.signature_problem(checkpoint, trust, withdrawn_keys=True))]


def _kept_checkpoint_problems(checkpoint: Any, chains: audit.ChainReport, trust: TrustStore) -> list[str]:
    """A checkpoint kept elsewhere: genuine, and the trail still has its events, unchanged."""
    problem = checkpoints.signature_problem(checkpoint, trust)
    if problem:
        return [f"kept checkpoint is not genuine: {problem}"]
    name, size = checkpoints.describe(checkpoint), checkpoint["treeSize"]
    now = chains.tree.size if chains.tree else 0
    if size > now:
        return [f"{name}: the trail now has only {now} global events (events removed: truncated)"]
    if chains.roots.get(size) != checkpoint["rootHash"]:
        return [f"{name}: the first {size} global events no longer hash to its root (history rewritten)"]
    return []
