"""Certamen's settings: every environment variable the app and the CLI read, parsed and checked once.

``Settings.from_env()`` builds them (the web app in ``api.create_app``, the command in ``cli.main``);
a bad value raises :class:`SettingsError` naming the variable. Imports nothing of the project, so any
package may use it (docs/architecture.md). README.md, "Configuration", lists the variables.
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from errors import CertamenError

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_ISSUER_NAME = "Certamen Demo Certification Body"
DEFAULT_MAX_UPLOAD = 2 * 1024 * 1024  # bytes

# Per client address (an office shares one). Failed sign-ins are also slowed per account and
# address, in the database (item_bank.signin_throttle): no limit here is per account, since a
# stranger could spend it and lock the account's owner out.
DEFAULT_RATE_LIMITS = {
    "RATELIMIT_SIGNIN": "30 per minute;300 per hour",
    "RATELIMIT_REGISTER": "20 per minute;200 per hour",  # per client address
    "RATELIMIT_ANSWERS": "120 per minute",  # per signed-in session; a person answers a few items a minute
    "RATELIMIT_VERIFY": "120 per minute",  # per client address
}

_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


class SettingsError(CertamenError, ValueError):
    """An environment variable holds a value Certamen cannot use; the message names it."""


def default_key_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Signing keys live outside the repository and the database, private to this user."""
    base = environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(base) / "certamen" / "keys"


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None  # DATABASE_URL; None: the SQLite file instance/certamen.sqlite
    instance_dir: Path = Path("instance")  # CERTAMEN_INSTANCE: the app's instance folder (secret key file)
    public_url: str = DEFAULT_PUBLIC_URL  # CERTAMEN_PUBLIC_URL, without a trailing "/"
    issuer_name: str = DEFAULT_ISSUER_NAME  # CERTAMEN_ISSUER_NAME
    key_dir: Path = field(default_factory=default_key_dir)  # CERTAMEN_KEY_DIR
    key_passphrase: str | None = field(default=None, repr=False)  # CERTAMEN_KEY_PASSPHRASE: encrypts the key files
    secret_key: str | None = field(default=None, repr=False)  # CERTAMEN_SECRET_KEY; None: a file in instance_dir
    secure_cookies: bool = False  # CERTAMEN_SECURE_COOKIES; default: public_url is https
    max_upload: int = DEFAULT_MAX_UPLOAD  # CERTAMEN_MAX_UPLOAD, bytes per request
    proxy_hops: int = 0  # CERTAMEN_PROXY_HOPS: reverse proxies whose X-Forwarded-For/-Proto are trusted
    ratelimit_signin: str = DEFAULT_RATE_LIMITS["RATELIMIT_SIGNIN"]  # CERTAMEN_RATELIMIT_SIGNIN
    ratelimit_register: str = DEFAULT_RATE_LIMITS["RATELIMIT_REGISTER"]  # CERTAMEN_RATELIMIT_REGISTER
    ratelimit_answers: str = DEFAULT_RATE_LIMITS["RATELIMIT_ANSWERS"]  # CERTAMEN_RATELIMIT_ANSWERS
    ratelimit_verify: str = DEFAULT_RATE_LIMITS["RATELIMIT_VERIFY"]  # CERTAMEN_RATELIMIT_VERIFY
    ratelimit_storage: str = "worker-memory://"  # CERTAMEN_RATELIMIT_STORAGE
    ratelimit_enabled: bool = True  # CERTAMEN_RATELIMIT_ENABLED
    workers: int | None = None  # CERTAMEN_WORKERS (serve --production); None: one per CPU
    threads: int = 2  # CERTAMEN_THREADS (serve --production): threads per worker
    font_dir: Path | None = None  # CERTAMEN_FONT_DIR: looked in first for the PDFs' fonts
    # CERTAMEN_SMTP_URL, e.g. smtp://user:pass@host:587?starttls=1; None: mail is written to outbox_dir
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str = "Certamen <no-reply@localhost>"  # CERTAMEN_MAIL_FROM; default: no-reply at the public host
    fixed_now: dt.datetime | None = None  # CERTAMEN_NOW (ISO 8601 with its offset): "now" for the CLI and the jobs

    def now(self) -> dt.datetime:
        """The time the jobs and the CLI act at: CERTAMEN_NOW when set (tests move the clock), else the clock."""
        return self.fixed_now or dt.datetime.now(dt.UTC)

    @property
    def outbox_dir(self) -> Path:
        """Where mail goes while no SMTP server is configured: one .eml file per message, to open and read."""
        return self.instance_dir / "outbox"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        def get(name: str) -> str | None:
            value = environ.get(name)
            return value if value else None  # set but empty counts as unset, as before

        public_url = (get("CERTAMEN_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/")
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"CERTAMEN_PUBLIC_URL must be an http(s) URL such as https://certs.example.com, "
                                f"got {public_url!r}")
        secure = get("CERTAMEN_SECURE_COOKIES")
        rate_limits = {key: get(f"CERTAMEN_{key}") or default for key, default in DEFAULT_RATE_LIMITS.items()}
        for key, value in rate_limits.items():
            _check_rate_limit(f"CERTAMEN_{key}", value)
        workers = get("CERTAMEN_WORKERS")
        database_url = get("DATABASE_URL")
        if database_url is not None:
            _check_database_url(database_url)
        font_dir = get("CERTAMEN_FONT_DIR")
        fixed_now = get("CERTAMEN_NOW")
        smtp_url = get("CERTAMEN_SMTP_URL")
        if smtp_url is not None:
            check_smtp_url(smtp_url)
        return cls(
            database_url=database_url,
            instance_dir=Path(get("CERTAMEN_INSTANCE") or "instance").resolve(),
            public_url=public_url,
            issuer_name=environ.get("CERTAMEN_ISSUER_NAME", DEFAULT_ISSUER_NAME),
            key_dir=Path(get("CERTAMEN_KEY_DIR") or default_key_dir(environ)),
            key_passphrase=get("CERTAMEN_KEY_PASSPHRASE"),
            secret_key=get("CERTAMEN_SECRET_KEY"),
            secure_cookies=(_flag("CERTAMEN_SECURE_COOKIES", secure) if secure is not None
                            else parts.scheme == "https"),
            max_upload=_integer(environ, "CERTAMEN_MAX_UPLOAD", DEFAULT_MAX_UPLOAD, minimum=1),
            proxy_hops=_integer(environ, "CERTAMEN_PROXY_HOPS", 0, minimum=0),
            **{key.lower(): value for key, value in rate_limits.items()},
            ratelimit_storage=get("CERTAMEN_RATELIMIT_STORAGE") or "worker-memory://",
            ratelimit_enabled=_flag("CERTAMEN_RATELIMIT_ENABLED", get("CERTAMEN_RATELIMIT_ENABLED") or "1"),
            workers=None if workers is None else _integer(environ, "CERTAMEN_WORKERS", 1, minimum=1),
            threads=_integer(environ, "CERTAMEN_THREADS", 2, minimum=1),
            font_dir=Path(font_dir) if font_dir else None,
            smtp_url=smtp_url,
            fixed_now=None if fixed_now is None else _instant("CERTAMEN_NOW", fixed_now),
            mail_from=get("CERTAMEN_MAIL_FROM") or f"Certamen <no-reply@{parts.hostname}>",
        )

    def app_config(self) -> dict:
        """The Flask config keys these settings set (``create_app``'s ``config`` argument overrides them)."""
        return {
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": self.secret_key,
            "MAX_CONTENT_LENGTH": self.max_upload,
            "SESSION_COOKIE_SECURE": self.secure_cookies,
            "PUBLIC_URL": self.public_url,
            "ISSUER_NAME": self.issuer_name,
            "CERTAMEN_KEY_DIR": str(self.key_dir),
            "RATELIMIT_STORAGE_URI": self.ratelimit_storage,
            "RATELIMIT_ENABLED": self.ratelimit_enabled,
            **{key: getattr(self, key.lower()) for key in DEFAULT_RATE_LIMITS},
        }


def _integer(environ: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _flag(name: str, raw: str) -> bool:
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise SettingsError(f"{name} must be 1 or 0, got {raw!r}")


def _instant(name: str, raw: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SettingsError(f"{name} must be an ISO 8601 instant such as 2026-12-24T09:00:00Z, got {raw!r}") from None
    if value.tzinfo is None:
        raise SettingsError(f"{name} needs its offset (2026-12-24T09:00:00Z or +01:00), got {raw!r}")
    return value.astimezone(dt.UTC)


def check_smtp_url(url: str) -> None:
    """smtp:// (STARTTLS with ?starttls=1) or smtps:// (TLS from the start), a host, an optional port and login.
    The message never repeats the URL: it may hold a password."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise SettingsError("CERTAMEN_SMTP_URL is not a URL (expected smtp://user:password@host:587?starttls=1)") \
            from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SettingsError("CERTAMEN_SMTP_URL must look like smtp://user:password@host:587?starttls=1 "
                            "or smtps://host:465")
    for pair in filter(None, parts.query.split("&")):
        name, _, value = pair.partition("=")
        if name != "starttls" or value not in ("0", "1"):
            raise SettingsError("CERTAMEN_SMTP_URL: the only option is starttls=0 or starttls=1")


def _check_database_url(url: str) -> None:
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower() if ":" in url else ""
    if scheme not in ("sqlite", "postgres", "postgresql"):
        raise SettingsError("DATABASE_URL must be a sqlite:/// or postgresql:// URL, got one starting "
                            f"{(scheme or url[:20])!r}")


def _check_rate_limit(name: str, value: str) -> None:
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise SettingsError(f"{name} must be rate limits such as '30 per minute;300 per hour', got {value!r}") from None
