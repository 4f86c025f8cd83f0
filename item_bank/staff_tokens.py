"""Staff and integration tokens (roles hr, psychometrician, admin): bearer tokens for /api/v1/...

Only a token's SHA-256 is stored; the token itself is shown once, when it is made. Each one expires
(90 days unless `expires_days` says otherwise, at most two years), can be listed (never with its
secret) and revoked, and records when it was last used. Making and revoking one are audit events
naming who did it, the token's id, role and label -- never the token or its digest.

Last use is written at most once a minute per token (`LAST_USED_EVERY`), by a conditional UPDATE in
the request that checks the token, so a busy integration costs one extra statement a minute, not
one per request. Learners' tokens are not staff tokens: their routes, and answering above all, never
touch this.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from errors import CertamenError
from item_bank import audit
from storage import ApiToken, Organisation, as_utc, utcnow

ROLES = ("hr", "psychometrician", "admin")
ORGANISATION_ROLES = ("hr",)  # integration tokens that read and act on one organisation's data
PREFIX = "ctm_"
DEFAULT_DAYS = 90
MAX_DAYS = 730
LAST_USED_EVERY = dt.timedelta(minutes=1)


class TokenError(CertamenError, ValueError):
    """A staff token that cannot be created or revoked as asked."""


def _digest(token: str) -> str:
    from item_bank.accounts import token_digest

    return token_digest(token)


def create(db: Session, role: str, label: str = "", *, expires_days: int = DEFAULT_DAYS,
           actor: str = "system", organisation_id: int | None = None) -> str:
    """Returns the plain token, once; only its digest is stored. An hr token acts for one organisation."""
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}")
    if (role in ORGANISATION_ROLES) != (organisation_id is not None):
        raise TokenError(f"an {role} token acts for one organisation: name it (--org SLUG)"
                         if role in ORGANISATION_ROLES else f"a {role} token is not given in one organisation")
    if isinstance(expires_days, bool) or not isinstance(expires_days, int) or not 1 <= expires_days <= MAX_DAYS:
        raise TokenError(f"a token expires after 1 to {MAX_DAYS} days")
    label = (label or "").strip()[:200]
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(token_hash=_digest(token), role=role, label=label, organisation_id=organisation_id,
                   expires_at=utcnow() + dt.timedelta(days=expires_days))
    db.add(row)
    db.flush()
    audit.record(db, actor=actor, kind="token.create", subject=f"token:{row.id}",
                 data={"role": role, "label": label, "expires_at": row.expires_at.isoformat(),
                       **({"organisation": organisation_id} if organisation_id is not None else {})})
    return token


@dataclass(frozen=True)
class Holder:
    token_id: int
    role: str
    organisation_id: int | None = None


def holder(db: Session, token: str) -> Holder | None:
    """Who holds `token`, if it is a live staff token (known, unrevoked, unexpired); notes its use."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    now = utcnow()
    row = db.execute(select(ApiToken.id, ApiToken.role, ApiToken.last_used_at, ApiToken.organisation_id).where(
        ApiToken.token_hash == _digest(token), ApiToken.role.in_(ROLES), ApiToken.revoked.is_(False),
        ApiToken.expires_at > now)).first()
    if row is None:
        return None
    if row.last_used_at is None or now - as_utc(row.last_used_at) >= LAST_USED_EVERY:
        # Conditional, so that of the requests of one minute only the first writes.
        db.execute(update(ApiToken).where(
            ApiToken.id == row.id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USED_EVERY),
        ).values(last_used_at=now).execution_options(synchronize_session=False))
    return Holder(row.id, row.role, row.organisation_id)


def listing(db: Session) -> list[dict[str, Any]]:
    """Every staff token, newest first: what it is for and how it has been used, never its secret."""
    now = utcnow()
    rows = db.execute(select(ApiToken, Organisation.slug)
                      .outerjoin(Organisation, Organisation.id == ApiToken.organisation_id)
                      .where(ApiToken.role.in_(ROLES)).order_by(ApiToken.id.desc())).all()

    def when(value: dt.datetime | None) -> str | None:
        return None if value is None else as_utc(value).isoformat(timespec="seconds")

    return [{
        "id": row.id, "role": row.role, "label": row.label, "organisation": slug,
        "created": when(row.created_at),
        "expires": when(row.expires_at), "last_used": when(row.last_used_at),
        "revoked": when(row.revoked_at) if row.revoked else None,
        "revoked_by": row.revoked_by if row.revoked else None,
        "status": ("revoked" if row.revoked else
                   "expired" if row.expires_at is None or as_utc(row.expires_at) <= now else "active"),
    } for row, slug in rows]


def revoke(db: Session, token_id: int, *, by: str, reason: str = "") -> bool:
    """Revokes a staff token at once (the next request with it is refused). False if it already was."""
    by = (by or "").strip()
    if not by:
        raise TokenError("say who revokes the token (--by NAME)")
    row = db.get(ApiToken, token_id) if isinstance(token_id, int) and 0 < token_id < 2**31 else None
    if row is None or row.role not in ROLES:
        raise TokenError(f"no staff token has the id {token_id}")
    if row.revoked:
        return False
    row.revoked, row.revoked_at, row.revoked_by = True, utcnow(), by[:200]
    audit.record(db, actor=by[:200], kind="token.revoke", subject=f"token:{row.id}",
                 data={"role": row.role, "label": row.label, **({"reason": reason} if reason else {})})
    return True
