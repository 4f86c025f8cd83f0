"""Learner accounts: argon2id passwords, expiring sign-in tokens, one-time sign-in links.

A signed-in learner holds a random token whose SHA-256 is stored (never the token itself), so a
sign-out or an administrator can end the session on the server, and a leaked database holds
nothing that signs anyone in. Two kinds, told apart by their prefix (which is part of what is
hashed, so one cannot be turned into the other): `lrn_...`, a bearer token for the JSON API, and
`ses_...`, a web session id that the web pages accept only from their session cookie. A cookie read
off a browser, a proxy or a log therefore never opens the JSON API, whose routes have no CSRF
protection because they take no cookie.

Passwords are hashed with argon2id; a hash made with weaker settings than the current ones is
upgraded at the next successful sign-in. Which passwords may be chosen: item_bank.passwords. How
failed sign-ins are slowed down: item_bank.signin_throttle.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, Connection, and_, bindparam, select, update
from sqlalchemy.orm import Session

from errors import CertamenError, Kind
from item_bank import audit, passwords
from storage import ApiToken, Candidate, as_utc, utcnow

LEARNER_SESSION_DAYS = 30
SIGNIN_LINK_MINUTES = 15  # a link is read and used at once; one that sat in a mailbox is stale
MAX_SIGNIN_LINK_MINUTES = 60
API_TOKEN_PREFIX = "lrn_"  # bearer tokens of the JSON API
WEB_SESSION_PREFIX = "ses_"  # web session ids, only ever taken from the session cookie
LINK_PREFIX = "lnk_"
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 would hash more, but a megabyte password is an attack
# An ordinary address: RFC 5322 "atext" local part, dotted DNS domain with a letter TLD (also the
# `pattern` of the e-mail field in the OpenAPI document, so clients can check before sending).
EMAIL_PATTERN = (r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@"
                 r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
_EMAIL = re.compile(EMAIL_PATTERN)

# RFC 9106's low-memory recommendation (argon2id, t=3, 64 MiB). Tests switch to the cheapest profile.
_hasher = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
# Verified against when the e-mail is unknown, so a wrong e-mail costs as much time as a wrong
# password. Made on first use: every process imports this module, few of them sign anyone in.
_dummy_hash: str | None = None


def use_cheap_hashing_for_tests() -> None:
    global _hasher, _dummy_hash
    _hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    _dummy_hash = None


def _hash_of_nobody() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_hex(16))
    return _dummy_hash


class AccountError(CertamenError):
    """An account operation refused: bad credentials, an unusable password, an unknown address."""


@dataclass(frozen=True)
class SignedIn:
    candidate_id: int
    token: str  # plain; handed to the client once
    expires_at: dt.datetime


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if len(email) > 320 or not _EMAIL.fullmatch(email):
        raise AccountError("a valid e-mail address is required")
    return email


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored: str | None, password: str) -> bool:
    """Whether `password` is the one `stored` was made from. Costs a full hash when there is no stored hash
    (an unknown account, one without a password yet), so the answer's timing does not tell them apart."""
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        _hasher.verify(stored or _hash_of_nobody(), password)
    except (VerificationError, InvalidHashError):
        return False
    return stored is not None


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


def check_password_rules(password: str, *, name: str = "", email: str = "") -> None:
    """Length, then item_bank.passwords: not common, not trivial, not made of the learner's own name
    or address or the service's name."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    problem = passwords.problem(password, name=name, email=email)
    if problem:
        raise AccountError(problem)


def register(db: Session, *, name: str, email: str, password: str,
             organisation: str | None = None) -> Candidate | None:
    """A new account, or None when the address has one already; the caller answers the same either way.

    Registration must not tell anyone whether an address has an account, so an address that is taken
    costs the same work (the password is hashed and thrown away) and leads to the same answer as a
    new one: "registered; now sign in". The existing account is not touched, merged or signed in to.
    Its owner sees nothing: the attempt is an audit event (candidate.register_existing, no data), for
    administrators to notice repeated tries. Once Certamen sends e-mail, this is where a notice to the
    owner belongs ("someone tried to register with your address; if it was you, ask for a sign-in
    link"). Honest limit: whoever registers chose the password, so signing in with it afterwards
    still shows whether the account was new; closing that needs proof of owning the address (a
    confirmation link sent to it) before an account can be used, which needs e-mail.
    """
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise AccountError("name is required (at most 200 characters)")
    email = normalise_email(email)
    check_password_rules(password, name=name, email=email)
    password_hash = _hasher.hash(password)  # before the look-up: a taken address costs as much time
    existing = db.execute(select(Candidate.id).where(Candidate.email == email)).scalar()
    if existing is not None:
        audit.record(db, actor="anonymous", kind="candidate.register_existing", subject=f"candidate:{existing}")
        return None
    candidate = Candidate(name=name, email=email, organisation=(organisation or "").strip()[:200] or None,
                          password_hash=password_hash)
    db.add(candidate)
    db.flush()  # the unique e-mail constraint settles a race between two registrations
    audit.record(db, actor=f"candidate:{candidate.id}", kind="candidate.register", subject=f"candidate:{candidate.id}")
    return candidate


def authenticate(db: Session, *, email: str, password: str) -> Candidate:
    """The candidate whose password this is; one vague error for every way it can fail."""
    refused = AccountError("e-mail address or password not recognised", kind=Kind.UNAUTHENTICATED)
    try:
        email = normalise_email(email)
    except AccountError:
        raise refused from None
    candidate = db.execute(select(Candidate).where(Candidate.email == email)).scalar_one_or_none()
    stored = candidate.password_hash if candidate is not None else None
    if candidate is None or not password_matches(stored, password):
        raise refused
    if needs_rehash(candidate.password_hash):
        candidate.password_hash = hash_password(password)
    return candidate


def set_password(db: Session, candidate: Candidate, password: str) -> None:
    """A new password ends every other signed-in session of the account."""
    check_password_rules(password, name=candidate.name, email=candidate.email)
    candidate.password_hash = hash_password(password)
    revoke_all(db, candidate.id)
    audit.record(db, actor=f"candidate:{candidate.id}", kind="candidate.password", subject=f"candidate:{candidate.id}")


def start_session(db: Session, candidate: Candidate, *, label: str = "web", web: bool = False) -> SignedIn:
    """A bearer token for the JSON API, or with `web` a web session id for the session cookie."""
    token = (WEB_SESSION_PREFIX if web else API_TOKEN_PREFIX) + secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=LEARNER_SESSION_DAYS)
    db.add(ApiToken(token_hash=token_digest(token), role="learner", label=label, candidate_id=candidate.id,
                    expires_at=expires))
    db.flush()
    return SignedIn(candidate.id, token, expires)


def learner_token_digest(token: Any) -> str | None:
    """The stored digest of what looks like a learner token or web session id; None for anything else.
    (Which of the two a request may present, and where, is api.auth.learner_token's business.)"""
    if (not isinstance(token, str) or not token.startswith((API_TOKEN_PREFIX, WEB_SESSION_PREFIX))
            or len(token) > 100):
        return None
    return token_digest(token)


def unrevoked_learner_token(digest: Any) -> ColumnElement[bool]:
    """SQL: `digest` is an unrevoked learner token's (`live_owner` then checks its expiry). `digest`
    may be a bind parameter, so that a statement built once can check any token."""
    return and_(ApiToken.token_hash == digest, ApiToken.role == "learner", ApiToken.revoked.is_(False))


def live_owner(candidate_id: int | None, expires_at: dt.datetime | None) -> int | None:
    """The candidate an unrevoked token row belongs to, if it has not expired (NULLs: no such row)."""
    if candidate_id is None or expires_at is None or as_utc(expires_at) <= utcnow():
        return None
    return candidate_id


# Built once (run on every learner request): building a statement costs about as much as running it.
_LIVE_LEARNER_TOKEN = select(ApiToken.candidate_id, ApiToken.expires_at).where(
    unrevoked_learner_token(bindparam("digest")))


def learner_for_token(db: Session | Connection, token: str) -> int | None:
    """The candidate id a learner session token belongs to, if it is live.

    One SELECT, so it needs no transaction of its own: the API runs it on an autocommit connection.
    (Answering checks the token inside its own first statement instead: see item_bank.delivery.)
    """
    digest = learner_token_digest(token)
    return None if digest is None else owner_of_digest(db, digest)


def owner_of_digest(db: Session | Connection, digest: str) -> int | None:
    row = db.execute(_LIVE_LEARNER_TOKEN, {"digest": digest}).first()
    return None if row is None else live_owner(row.candidate_id, row.expires_at)


def end_session(db: Session, token: str) -> None:
    db.execute(update(ApiToken).where(ApiToken.token_hash == token_digest(token), ApiToken.role == "learner")
               .values(revoked=True, revoked_at=utcnow()))


def revoke_all(db: Session, candidate_id: int) -> None:
    db.execute(update(ApiToken).where(ApiToken.candidate_id == candidate_id, ApiToken.revoked.is_(False))
               .values(revoked=True, revoked_at=utcnow()))


@dataclass(frozen=True)
class SecretLink:
    """A one-time link (a learner's or a staff member's sign-in, an organisation's invitation)."""

    token: str  # plain; shown once, to whoever sends it
    expires_at: dt.datetime
    path: str = "/signin/link"  # the page that takes it

    def url(self, public_url: str) -> str:
        """The link to send. The secret is the URL's fragment (after `#`), which browsers never send
        to a server, so no access log, proxy or Referer header ever holds it: the page at `path` reads
        it in the browser and POSTs it (api/static/signin_link.js)."""
        return f"{public_url.rstrip('/')}{self.path}#{self.token}"


def create_signin_link(db: Session, email: str, *, actor: str, minutes: int = SIGNIN_LINK_MINUTES) -> SecretLink:
    """A one-time sign-in link for an administrator to send to a learner (first access, lost password).

    Valid for `minutes` (15 by default, at most an hour) and once; a new link replaces the learner's
    earlier unused ones. The audit event names who made it and for whom, never the secret."""
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_SIGNIN_LINK_MINUTES:
        raise AccountError(f"a sign-in link is valid for 1 to {MAX_SIGNIN_LINK_MINUTES} minutes")
    candidate = db.execute(select(Candidate).where(Candidate.email == normalise_email(email))).scalar_one_or_none()
    if candidate is None:
        raise AccountError("no learner account has that e-mail address", kind=Kind.NOT_FOUND)
    now = utcnow()
    db.execute(update(ApiToken).where(ApiToken.candidate_id == candidate.id, ApiToken.role == "signin_link",
                                      ApiToken.revoked.is_(False))
               .values(revoked=True, revoked_at=now, revoked_by="replaced by a newer link"))
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    expires = now + dt.timedelta(minutes=minutes)
    db.add(ApiToken(token_hash=token_digest(token), role="signin_link", label="sign-in link",
                    candidate_id=candidate.id, expires_at=expires))
    audit.record(db, actor=actor, kind="candidate.signin_link", subject=f"candidate:{candidate.id}",
                 data={"valid_minutes": minutes})
    return SecretLink(token, expires)


def redeem_signin_link(db: Session, token: Any) -> Candidate:
    """Uses the link up: a second visit, or one after it expired, is refused. One conditional UPDATE,
    so of two requests racing with the same link only one gets through (on SQLite too)."""
    refused = AccountError("this sign-in link is not valid (used, expired or mistyped); ask for a new one",
                           kind=Kind.MALFORMED)
    if not isinstance(token, str) or not token.startswith(LINK_PREFIX) or len(token) > 100:
        raise refused
    now = utcnow()
    used = db.execute(update(ApiToken).where(
        ApiToken.token_hash == token_digest(token), ApiToken.role == "signin_link", ApiToken.revoked.is_(False),
        ApiToken.expires_at > now,
    ).values(revoked=True, revoked_at=now, revoked_by="used").returning(ApiToken.candidate_id)
       .execution_options(synchronize_session=False)).first()
    if used is None:
        raise refused
    audit.record(db, actor=f"candidate:{used.candidate_id}", kind="candidate.signin_link_used",
                 subject=f"candidate:{used.candidate_id}")
    return db.get(Candidate, used.candidate_id)
