"""Rate limits on the routes worth abusing: sign-in, registration, answers, verification.

Counted by the `limits` library (fixed windows). Counters live in the worker's memory unless
CERTAMEN_RATELIMIT_STORAGE points at a shared store (e.g. redis://host:6379, with the `limits[redis]`
extra installed); with N workers and memory storage a client can get up to N times a limit. Limits are
read from the app config per request, so tests and deployments can set them (docs/deployment.md lists
the variables).

The check is a decorator on the limited views only: the other requests (and there are many: every
answer's neighbours) pay nothing for it. Flask-Limiter did the same counting, but evaluated every
request of the app in a before-request hook, about a tenth of a worker's time under load.
"""
from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from api.auth import learner_token
from item_bank import accounts


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
    """The limiter over RATELIMIT_STORAGE_URI; create_app sets the RATELIMIT_* keys (settings.Settings)."""
    app.extensions["rate_limits"] = FixedWindowRateLimiter(storage_from_string(app.config["RATELIMIT_STORAGE_URI"]))


def reset(app) -> None:
    """Forget every counter of `app` (tests)."""
    app.extensions["rate_limits"].storage.reset()


@functools.lru_cache(maxsize=64)
def _parsed(limits: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limits))


def remote_address() -> str:
    return request.remote_addr or "127.0.0.1"


@dataclass(frozen=True)
class RouteLimit:
    """The limits in config `config_key`, counted per `key()` in `scope`: views decorated with the
    same RouteLimit share their counters. A request over a limit is a 429 with Retry-After."""

    config_key: str
    scope: str
    key: Callable[[], str] = remote_address

    def __call__(self, view):
        @functools.wraps(view)
        def limited(*args, **kwargs):
            self.hit()
            return view(*args, **kwargs)

        return limited

    def hit(self) -> None:
        app = current_app
        if not app.config["RATELIMIT_ENABLED"]:
            return
        counter: FixedWindowRateLimiter = app.extensions["rate_limits"]
        key = self.key()
        for limit in _parsed(app.config[self.config_key]):
            if not counter.hit(limit, self.scope, key):
                reset_at = counter.get_window_stats(limit, self.scope, key)[0]
                raise TooManyRequests(str(limit), retry_after=max(1, math.ceil(reset_at - time.time())))


def _session_or_address() -> str:
    """Per signed-in session (the token's digest: no database lookup before the view, which checks
    the token itself), else per client address."""
    digest = accounts.learner_token_digest(learner_token())
    return f"session:{digest}" if digest is not None else remote_address()


signin = RouteLimit("RATELIMIT_SIGNIN", "signin")
register = RouteLimit("RATELIMIT_REGISTER", "register")
answers = RouteLimit("RATELIMIT_ANSWERS", "answers", key=_session_or_address)
verification = RouteLimit("RATELIMIT_VERIFY", "verify")
