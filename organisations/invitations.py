"""Invitation links: an organisation's people join it themselves, from a link HR hands out.

The link's secret travels in the URL fragment (`/join#inv_...`), which browsers never send to a server, so
it stays out of access logs; the page posts it. Joining needs a signed-in learner account; the person is
enrolled with the name and address of that account, gets the organisation's standing assignments, and the
join is an audit event. An invitation may be limited to one e-mail domain (`acme.example`). Honest limit:
registration does not yet prove that someone owns the address they typed (that needs e-mail), so a domain
limit keeps out honest mistakes, not an impostor who registers with a colleague's address.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from errors import CertamenError, Kind
from item_bank import audit
from item_bank.accounts import SecretLink, token_digest
from organisations.assignments import give_standing_assignments
from storage import Candidate, Employee, Invitation, Organisation, utcnow

PREFIX = "inv_"
DEFAULT_DAYS = 30
MAX_DAYS = 365
_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class InvitationError(CertamenError):
    kind = Kind.INVALID


def invite(db: Session, org: Organisation, *, actor: str, days: int = DEFAULT_DAYS,
           email_domain: str | None = None) -> SecretLink:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvitationError(f"an invitation lasts 1 to {MAX_DAYS} days")
    domain = (email_domain or "").strip().lower().lstrip("@") or None
    if domain is not None and not _DOMAIN.fullmatch(domain):
        raise InvitationError(f"{email_domain!r} is not an e-mail domain (like acme.example)")
    token = PREFIX + secrets.token_urlsafe(32)
    row = Invitation(organisation_id=org.id, token_hash=token_digest(token), email_domain=domain, created_by=actor,
                     expires_at=utcnow() + dt.timedelta(days=days))
    db.add(row)
    db.flush()
    audit.record(db, actor=actor, kind="organisation.invitation", subject=f"organisation:{org.slug}",
                 data={"invitation": row.id, "days": days, **({"domain": domain} if domain else {})})
    return SecretLink(token, row.expires_at, "/join")


def _live(db: Session, token: Any) -> Invitation:
    refused = InvitationError("this invitation link is not valid (expired, ended or mistyped); ask your HR team "
                              "for a new one")
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > 100:
        raise refused
    row = db.execute(select(Invitation).where(Invitation.token_hash == token_digest(token),
                                              Invitation.ended_at.is_(None), Invitation.expires_at > utcnow())
                     ).scalar_one_or_none()
    if row is None:
        raise refused
    return row


def organisation_of(db: Session, token: Any) -> Organisation:
    """The organisation a live invitation is for (to say whom the learner is about to join)."""
    return db.get(Organisation, _live(db, token).organisation_id)


def join(db: Session, token: Any, candidate_id: int) -> tuple[Organisation, bool]:
    """Enrols the signed-in learner; (the organisation, whether they were enrolled now rather than already)."""
    invitation = _live(db, token)
    org = db.get(Organisation, invitation.organisation_id)
    candidate = db.get(Candidate, candidate_id)
    if invitation.email_domain and candidate.email.rsplit("@", 1)[-1] != invitation.email_domain:
        raise InvitationError(f"this invitation is for addresses at {invitation.email_domain}; you are signed in as "
                              f"{candidate.email}", kind=Kind.FORBIDDEN)
    existing = db.execute(select(Employee).where(Employee.organisation_id == org.id,
                                                 Employee.candidate_id == candidate.id)).scalar_one_or_none()
    if existing is not None:
        if not existing.active:
            raise InvitationError(f"{org.name} lists you as having left; ask its HR team", kind=Kind.FORBIDDEN)
        return org, False
    if db.execute(select(Employee.id).where(Employee.organisation_id == org.id,
                                            Employee.email == candidate.email)).scalar() is not None:
        raise InvitationError(f"{org.name} has enrolled {candidate.email} under another account; ask its HR team",
                              kind=Kind.CONFLICT)
    now = utcnow()
    person = Employee(organisation_id=org.id, candidate_id=candidate.id, email=candidate.email, name=candidate.name,
                      enrolled_at=now, updated_at=now)
    db.add(person)
    db.flush()
    give_standing_assignments(db, org, [person.id], now=now)
    db.execute(update(Invitation).where(Invitation.id == invitation.id).values(joined=Invitation.joined + 1))
    audit.record(db, actor=f"candidate:{candidate.id}", kind="organisation.join", subject=f"organisation:{org.slug}",
                 data={"invitation": invitation.id, "employee": person.id})
    return org, True
