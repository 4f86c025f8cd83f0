"""Staff accounts: the employer's org admins, HR/compliance officers and managers, and the platform's
administrators and psychometricians, who work in the console.

They sign in with a password (argon2id, the learners' rules: item_bank.accounts) or a one-time link, and
hold a console session (`stf_...`, only ever taken from the console's signed cookie) whose digest is stored
like every other secret, so signing out or an administrator ends it on the server. Roles are per
organisation (`StaffRole`); what each role may see and do is `Viewer`'s business, in one place.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from errors import CertamenError, Kind
from item_bank import accounts, audit
from item_bank.accounts import SecretLink
from storage import ORG_ROLES, ApiToken, Organisation, StaffAccount, StaffRole, utcnow

PLATFORM_ROLES = ("admin", "psychometrician")
SESSION_PREFIX = "stf_"
LINK_PREFIX = "sln_"
SESSION_HOURS = 12  # a working day; the console is not left signed in for a month like a learner's phone
INVITE_HOURS = 72  # the first link is sent by a person, read later
RESET_MINUTES = 15


class StaffError(CertamenError):
    kind = Kind.INVALID


@dataclass(frozen=True)
class Viewer:
    """A signed-in staff member, or an integration token acting as one role of one organisation."""

    actor: str  # who the audit trail names: "staff:12:ana@acme.example" or "token:7:hr"
    email: str
    staff_id: int | None = None  # None for an integration token
    platform_role: str | None = None
    roles: dict[int, str] = field(default_factory=dict)  # organisation id -> org role

    def role_in(self, organisation_id: int) -> str | None:
        """The viewer's role in that organisation; a platform administrator acts as its org admin."""
        if self.platform_role == "admin":
            return "org_admin"
        return self.roles.get(organisation_id)

    def reports_only(self, organisation_id: int) -> str | None:
        """A manager sees their own reports only: the e-mail their people's `manager_email` names."""
        return self.email if self.role_in(organisation_id) == "manager" else None

    def may_act_on_certificates(self, organisation_id: int) -> bool:
        return self.role_in(organisation_id) in ("org_admin", "hr")


def _account(db: Session, email: str) -> StaffAccount | None:
    return db.execute(select(StaffAccount).where(StaffAccount.email == email)).scalar_one_or_none()


def add_staff(db: Session, *, email: str, role: str, organisation: Organisation | None, actor: str,
              name: str = "") -> tuple[StaffAccount, SecretLink]:
    """Gives someone a role (an organisation's, or a platform role with no organisation), creating their
    account if they have none, and returns a one-time link to sign in with and choose a password."""
    email = accounts.normalise_email(email)
    if role in ORG_ROLES:
        if organisation is None:
            raise StaffError(f"the role {role} is held in one organisation: name it (--org SLUG)")
    elif role in PLATFORM_ROLES:
        if organisation is not None:
            raise StaffError(f"{role} is a platform role: it is not given in one organisation")
    else:
        raise StaffError(f"role must be one of {', '.join(ORG_ROLES + PLATFORM_ROLES)}")
    account = _account(db, email)
    if account is None:
        account = StaffAccount(email=email, name=(name or "").strip()[:200])
        db.add(account)
        db.flush()
    elif name.strip():
        account.name = name.strip()[:200]
    account.active = True
    if organisation is None:
        account.platform_role = role
    else:
        held = db.execute(select(StaffRole).where(StaffRole.staff_id == account.id,
                                                  StaffRole.organisation_id == organisation.id)).scalar_one_or_none()
        if held is None:
            db.add(StaffRole(staff_id=account.id, organisation_id=organisation.id, role=role, granted_by=actor))
        else:
            held.role, held.granted_by, held.granted_at = role, actor, utcnow()
    audit.record(db, actor=actor, kind="staff.role", subject=f"staff:{account.id}",
                 data={"role": role, **({"organisation": organisation.slug} if organisation else {})})
    return account, create_link(db, account, actor=actor, minutes=INVITE_HOURS * 60)


def create_link(db: Session, account: StaffAccount, *, actor: str, minutes: int = RESET_MINUTES) -> SecretLink:
    """A one-time sign-in link; it replaces the account's earlier unused ones."""
    now = utcnow()
    db.execute(update(ApiToken).where(ApiToken.staff_id == account.id, ApiToken.role == "staff_link",
                                      ApiToken.revoked.is_(False))
               .values(revoked=True, revoked_at=now, revoked_by="replaced by a newer link"))
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    expires = now + dt.timedelta(minutes=minutes)
    db.add(ApiToken(token_hash=accounts.token_digest(token), role="staff_link", label="staff sign-in link",
                    staff_id=account.id, expires_at=expires))
    audit.record(db, actor=actor, kind="staff.signin_link", subject=f"staff:{account.id}",
                 data={"valid_minutes": minutes})
    return SecretLink(token, expires, "/console/signin/link")


def redeem_link(db: Session, token: Any) -> StaffAccount:
    """Uses the link up, in one conditional UPDATE (of two requests racing, one gets through)."""
    refused = StaffError("this sign-in link is not valid (used, expired or mistyped); ask for a new one")
    if not isinstance(token, str) or not token.startswith(LINK_PREFIX) or len(token) > 100:
        raise refused
    now = utcnow()
    used = db.execute(update(ApiToken).where(
        ApiToken.token_hash == accounts.token_digest(token), ApiToken.role == "staff_link",
        ApiToken.revoked.is_(False), ApiToken.expires_at > now,
    ).values(revoked=True, revoked_at=now, revoked_by="used").returning(ApiToken.staff_id)
       .execution_options(synchronize_session=False)).first()
    account = db.get(StaffAccount, used.staff_id) if used is not None else None
    if account is None or not account.active:
        raise refused
    audit.record(db, actor=f"staff:{account.id}", kind="staff.signin_link_used", subject=f"staff:{account.id}")
    return account


def authenticate(db: Session, *, email: str, password: str) -> StaffAccount:
    """The staff member whose password this is; one vague error for every way it can fail."""
    refused = StaffError("e-mail address or password not recognised", kind=Kind.UNAUTHENTICATED)
    try:
        email = accounts.normalise_email(email)
    except accounts.AccountError:
        raise refused from None
    account = _account(db, email)
    stored = account.password_hash if account is not None else None
    if account is None or not accounts.password_matches(stored, password) or not account.active:
        raise refused
    if account.password_hash and accounts.needs_rehash(account.password_hash):
        account.password_hash = accounts.hash_password(password)
    return account


def account_of(db: Session, viewer: Viewer) -> StaffAccount:
    account = db.get(StaffAccount, viewer.staff_id) if viewer.staff_id is not None else None
    if account is None:
        raise StaffError("sign in to the console first", kind=Kind.UNAUTHENTICATED)
    return account


def set_password(db: Session, account: StaffAccount, password: str) -> None:
    """A new password ends the account's other console sessions."""
    try:
        accounts.check_password_rules(password, name=account.name, email=account.email)
    except accounts.AccountError as exc:
        raise StaffError(exc.message) from None
    account.password_hash = accounts.hash_password(password)
    end_all_sessions(db, account.id)
    audit.record(db, actor=f"staff:{account.id}", kind="staff.password", subject=f"staff:{account.id}")


def start_session(db: Session, account: StaffAccount) -> str:
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    db.add(ApiToken(token_hash=accounts.token_digest(token), role="staff_session", label="console",
                    staff_id=account.id, expires_at=utcnow() + dt.timedelta(hours=SESSION_HOURS)))
    audit.record(db, actor=f"staff:{account.id}", kind="staff.signin", subject=f"staff:{account.id}")
    return token


def end_session(db: Session, token: str) -> None:
    if isinstance(token, str) and token.startswith(SESSION_PREFIX):
        db.execute(update(ApiToken).where(ApiToken.token_hash == accounts.token_digest(token),
                                          ApiToken.role == "staff_session").values(revoked=True, revoked_at=utcnow()))


def end_all_sessions(db: Session, staff_id: int) -> None:
    db.execute(update(ApiToken).where(ApiToken.staff_id == staff_id, ApiToken.role == "staff_session",
                                      ApiToken.revoked.is_(False)).values(revoked=True, revoked_at=utcnow()))


def viewer_for_session(db: Session, token: Any) -> Viewer | None:
    """Who holds a live console session, with their roles; None for anything else."""
    if not isinstance(token, str) or not token.startswith(SESSION_PREFIX) or len(token) > 100:
        return None
    account = db.execute(
        select(StaffAccount).join(ApiToken, ApiToken.staff_id == StaffAccount.id)
        .where(ApiToken.token_hash == accounts.token_digest(token), ApiToken.role == "staff_session",
               ApiToken.revoked.is_(False), ApiToken.expires_at > utcnow(), StaffAccount.active.is_(True))
    ).scalar_one_or_none()
    return None if account is None else viewer_of(db, account)


def viewer_of(db: Session, account: StaffAccount) -> Viewer:
    roles = dict(db.execute(select(StaffRole.organisation_id, StaffRole.role)
                            .where(StaffRole.staff_id == account.id)).all())
    return Viewer(actor=f"staff:{account.id}:{account.email}", email=account.email, staff_id=account.id,
                  platform_role=account.platform_role, roles=roles)


def organisations_of(db: Session, viewer: Viewer) -> list[Organisation]:
    """The organisations whose console the viewer may open, by name."""
    query = select(Organisation).order_by(Organisation.name)
    if viewer.platform_role != "admin":
        query = query.where(Organisation.id.in_(list(viewer.roles) or [-1]))
    return list(db.execute(query).scalars())


def visible_organisation(db: Session, viewer: Viewer, slug: str) -> Organisation:
    """The organisation named by `slug` if the viewer holds a role in it; otherwise "not found", the same
    answer as for a slug that does not exist, so nobody learns which organisations use Certamen."""
    org = db.execute(select(Organisation).where(Organisation.slug == (slug or "").strip().lower())).scalar()
    if org is None or viewer.role_in(org.id) is None:
        raise StaffError("no such organisation", kind=Kind.NOT_FOUND)
    return org
