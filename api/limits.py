"""Rate limits on the routes worth abusing: sign-in, registration, answers, verification.

Counters live in the worker's memory unless CERTAMEN_RATELIMIT_STORAGE points at a shared store
(e.g. redis://host:6379, with the `limits[redis]` extra installed); with N workers and memory
storage a client can get up to N times a limit. Limits are read from the app config per request,
so tests and deployments can set them (docs/deployment.md lists the variables).
"""
from __future__ import annotations

import os

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from api.auth import current_learner

DEFAULTS = {
    "RATELIMIT_SIGNIN": "30 per minute;300 per hour",  # per client address (an office shares one)
    "RATELIMIT_SIGNIN_ACCOUNT": "5 per minute;30 per hour",  # per e-mail address tried
    "RATELIMIT_REGISTER": "20 per minute;200 per hour",  # per client address
    "RATELIMIT_ANSWERS": "120 per minute",  # per learner; a person answers a few items a minute
    "RATELIMIT_VERIFY": "120 per minute",  # per client address
}

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


def configure(app) -> None:
    for key, default in DEFAULTS.items():
        app.config.setdefault(key, os.environ.get(f"CERTAMEN_{key}", default))
    app.config.setdefault("RATELIMIT_STORAGE_URI", os.environ.get("CERTAMEN_RATELIMIT_STORAGE", "memory://"))
    app.config.setdefault("RATELIMIT_ENABLED", os.environ.get("CERTAMEN_RATELIMIT_ENABLED", "1") != "0")
    limiter.init_app(app)


def _configured(key: str):
    return lambda: current_app.config[key]


def _email_tried() -> str:
    body = request.get_json(silent=True) if request.is_json else None
    email = body.get("email") if isinstance(body, dict) else request.form.get("email")
    return "email:" + (email.strip().lower()[:320] if isinstance(email, str) else "")


def _learner_or_address() -> str:
    me = current_learner()
    return f"learner:{me}" if me is not None else get_remote_address()


signin = limiter.shared_limit(_configured("RATELIMIT_SIGNIN"), scope="signin")
signin_account = limiter.shared_limit(_configured("RATELIMIT_SIGNIN_ACCOUNT"), scope="signin-account",
                                      key_func=_email_tried)
register = limiter.shared_limit(_configured("RATELIMIT_REGISTER"), scope="register")
answers = limiter.shared_limit(_configured("RATELIMIT_ANSWERS"), scope="answers", key_func=_learner_or_address)
verification = limiter.shared_limit(_configured("RATELIMIT_VERIFY"), scope="verify")
