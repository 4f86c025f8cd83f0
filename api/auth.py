"""Who is asking: staff roles (bearer tokens), signed-in learners (session token in the signed
cookie, or as a bearer token for the JSON API), and CSRF protection for learner forms."""
from __future__ import annotations

import functools
import hmac
import secrets
from typing import Callable, NoReturn

from flask import abort, g, request, session
from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank import accounts
from item_bank.models import ApiToken

ROLES = ("hr", "psychometrician", "admin")


def create_token(db: Session, role: str, label: str = "") -> str:
    """Returns the plain token once; only its hash is stored."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = "ctm_" + secrets.token_urlsafe(32)
    db.add(ApiToken(token_hash=accounts.token_digest(token), role=role, label=label))
    db.flush()
    return token


def require_role(*roles: str) -> Callable:
    """Admin passes every role check; everyone else needs one of `roles`."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            from api.services import unit_of_work

            header = request.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                abort(401, description="this route needs an API token: 'Authorization: Bearer <token>'")
            token = header[len("Bearer "):].strip()
            with unit_of_work() as db:
                row = db.execute(
                    select(ApiToken).where(ApiToken.token_hash == accounts.token_digest(token), ApiToken.revoked.is_(False),
                                           ApiToken.role.in_(ROLES))
                ).scalar_one_or_none()
                role = row.role if row else None
            if role is None:
                abort(401, description="unknown or revoked API token")
            if role != "admin" and role not in roles:
                abort(403, description=f"this route needs the role {' or '.join(roles)}")
            g.role = role
            g.actor = f"token:{row.id}:{role}"
            return view(*args, **kwargs)

        return wrapper

    return decorator


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, description="the form expired or was not sent from this site; reload the page and try again")


def learner_token() -> str | None:
    """The learner session token of this request: a bearer token, else the one in the cookie."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer "):].strip()
    value = session.get("learner_token")
    return value if isinstance(value, str) else None


def current_learner() -> int | None:
    """The signed-in learner's candidate id (looked up once per request), or None."""
    if "learner_id" not in g:
        from api.services import autocommit_connection

        token = learner_token()
        g.learner_id = None
        if token:
            with autocommit_connection() as conn:
                g.learner_id = accounts.learner_for_token(conn, token)
    return g.learner_id


def require_learner() -> int:
    me = current_learner()
    if me is None:
        sign_in_first()
    return me


def sign_in_first() -> NoReturn:
    abort(401, description="sign in first: POST /api/v1/signin returns a token to send as "
                           "'Authorization: Bearer <token>'")
