"""Rate limits on the routes worth abusing: sign-in, registration, answers, verification.

Counters live in the worker's memory unless CERTAMEN_RATELIMIT_STORAGE points at a shared store
(e.g. redis://host:6379, with the `limits[redis]` extra installed); with N workers and memory
storage a client can get up to N times a limit. Limits are read from the app config per request,
so tests and deployments can set them (docs/deployment.md lists the variables).
"""
from __future__ import annotations

import os
import threading
import time

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import Storage

from api.auth import learner_token
from item_bank import accounts

DEFAULTS = {
    "RATELIMIT_SIGNIN": "30 per minute;300 per hour",  # per client address (an office shares one)
    "RATELIMIT_SIGNIN_ACCOUNT": "5 per minute;30 per hour",  # per e-mail address tried
    "RATELIMIT_REGISTER": "20 per minute;200 per hour",  # per client address
    "RATELIMIT_ANSWERS": "120 per minute",  # per signed-in session; a person answers a few items a minute
    "RATELIMIT_VERIFY": "120 per minute",  # per client address
}

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


class WorkerMemoryStorage(Storage):
    """Fixed-window counters in this worker's memory (`worker-memory://`, the default).

    limits' own `memory://` starts a timer thread whenever the previous one (10 ms) has ended, so under
    load about one thread per request, and each scans every counter. Here expired counters are
    dropped when next looked at, and the table is swept on the request's own thread once a minute.
    """

    STORAGE_SCHEME = ["worker-memory"]
    SWEEP_EVERY = 60.0  # seconds

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._counters: dict[str, list[float]] = {}  # key -> [count, expires at (time.time())]
        self._lock = threading.Lock()
        self._next_sweep = time.time() + self.SWEEP_EVERY

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            if now >= self._next_sweep:
                self._counters = {k: v for k, v in self._counters.items() if v[1] > now}
                self._next_sweep = now + self.SWEEP_EVERY
            counter = self._counters.get(key)
            if counter is None or counter[1] <= now:
                counter = self._counters[key] = [0, now + expiry]
            counter[0] += amount
            return int(counter[0])

    def _live(self, key: str) -> list[float] | None:
        counter = self._counters.get(key)
        return counter if counter is not None and counter[1] > time.time() else None

    def get(self, key: str) -> int:
        counter = self._live(key)
        return 0 if counter is None else int(counter[0])

    def get_expiry(self, key: str) -> float:
        counter = self._live(key)
        return time.time() if counter is None else counter[1]

    def check(self) -> bool:
        return True

    def reset(self) -> int:
        with self._lock:
            count, self._counters = len(self._counters), {}
        return count

    def clear(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)


def configure(app) -> None:
    for key, default in DEFAULTS.items():
        app.config.setdefault(key, os.environ.get(f"CERTAMEN_{key}", default))
    app.config.setdefault("RATELIMIT_STORAGE_URI", os.environ.get("CERTAMEN_RATELIMIT_STORAGE", "worker-memory://"))
    app.config.setdefault("RATELIMIT_ENABLED", os.environ.get("CERTAMEN_RATELIMIT_ENABLED", "1") != "0")
    limiter.init_app(app)


def _configured(key: str):
    return lambda: current_app.config[key]


def _email_tried() -> str:
    body = request.get_json(silent=True) if request.is_json else None
    email = body.get("email") if isinstance(body, dict) else request.form.get("email")
    return "email:" + (email.strip().lower()[:320] if isinstance(email, str) else "")


def _session_or_address() -> str:
    """Per signed-in session (the token's digest: no database lookup before the view, which checks
    the token itself), else per client address."""
    digest = accounts.learner_token_digest(learner_token())
    return f"session:{digest}" if digest is not None else get_remote_address()


signin = limiter.shared_limit(_configured("RATELIMIT_SIGNIN"), scope="signin")
signin_account = limiter.shared_limit(_configured("RATELIMIT_SIGNIN_ACCOUNT"), scope="signin-account",
                                      key_func=_email_tried)
register = limiter.shared_limit(_configured("RATELIMIT_REGISTER"), scope="register")
answers = limiter.shared_limit(_configured("RATELIMIT_ANSWERS"), scope="answers", key_func=_session_or_address)
verification = limiter.shared_limit(_configured("RATELIMIT_VERIFY"), scope="verify")
