"""Who is asking: staff roles (bearer tokens; console staff from the console's cookie), signed-in learners
(a bearer token, or on the web pages a web session id in the signed cookie), and CSRF protection for forms."""
from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import NoReturn

from flask import abort, g, request, session
from sqlalchemy.orm import Session

from item_bank import accounts, staff_tokens
from organisations.staff import Viewer, viewer_for_session

ROLES = staff_tokens.ROLES
SESSION_KEY = "learner_session"  # the cookie's web session id (accounts.WEB_SESSION_PREFIX)
STAFF_SESSION_KEY = "staff_session"  # the console's session id (organisations.staff.SESSION_PREFIX)


def create_token(db: Session, role: str, label: str = "", *, expires_days: int = staff_tokens.DEFAULT_DAYS,
                 actor: str = "system", organisation_id: int | None = None) -> str:
    """Returns the plain token once; only its hash is stored (item_bank.staff_tokens)."""
    return staff_tokens.create(db, role, label, expires_days=expires_days, actor=actor,
                               organisation_id=organisation_id)


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
                holder = staff_tokens.holder(db, token)
            if holder is None:
                abort(401, description="unknown, expired or revoked API token")
            if holder.role != "admin" and holder.role not in roles:
                abort(403, description=f"this route needs the role {' or '.join(roles)}")
            g.role = holder.role
            g.actor = f"token:{holder.token_id}:{holder.role}"
            g.viewer = Viewer(actor=g.actor, email="",
                              platform_role=holder.role if holder.organisation_id is None else None,
                              roles={holder.organisation_id: holder.role} if holder.organisation_id else {})
            return view(*args, **kwargs)

        return wrapper

    return decorator


def current_staff() -> Viewer | None:
    """The staff member signed in to the console (its session id comes from the signed cookie only)."""
    if "staff_viewer" not in g:
        from api.services import unit_of_work

        g.staff_viewer = None
        token = session.get(STAFF_SESSION_KEY)
        if isinstance(token, str):
            with unit_of_work() as db:
                g.staff_viewer = viewer_for_session(db, token)
    return g.staff_viewer


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
    """The learner credential of this request.

    The JSON API (every path under /api/) takes a bearer token (`lrn_...`) only. A browser attaches
    cookies to requests that other sites make it send, so a JSON route that accepted the session
    cookie would act for the learner on any site's say-so (the JSON routes have no CSRF tokens, and
    need none because they take no cookie). The web pages take the same bearer token, else the web
    session id (`ses_...`) from the signed cookie; their forms are CSRF-protected. Neither place
    takes the other kind: a web session id is not a bearer token anywhere.
    """
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header[len("Bearer "):].strip()
        return token if token.startswith(accounts.API_TOKEN_PREFIX) else None
    if request.path.startswith("/api/"):
        return None
    value = session.get(SESSION_KEY)
    return value if isinstance(value, str) and value.startswith(accounts.WEB_SESSION_PREFIX) else None


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
