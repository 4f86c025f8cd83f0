"""The Flask app factory: one blueprint per user group, thin views over the services."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from flask.sessions import SecureCookieSessionInterface

from api.errors import register_error_handlers
from api.http import BoundedJSONProvider
from certs.keys import KeyStore
from certs.service import IssuerSettings
from item_bank.pdf_fonts import use_font_dir
from settings import Settings
from storage.db import make_engine, make_session_factory


def _secret_key_file(instance_path: Path) -> str:
    """A random key kept in the instance folder (never in the repo), when CERTAMEN_SECRET_KEY is unset."""
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building the signing serializer for a request that
    carries no session cookie (every API call: they authenticate with bearer tokens)."""

    def open_session(self, app: Flask, request):
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def create_app(config: dict[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    """The app, configured from `settings` (default: `Settings.from_env()`); keys of `config` override
    the Flask config those settings set (tests pass DATABASE_URL, SECRET_KEY, CERTAMEN_KEY_DIR, ...)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    app.json = BoundedJSONProvider(app)
    app.session_interface = _CookieSessions()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=60 * 60 * 24 * 30,
        JSON_SORT_KEYS=False,
    )
    app.config.update(settings.app_config())
    if config:
        app.config.update(config)
    app.extensions["settings"] = settings
    app.secret_key = app.config.get("SECRET_KEY") or _secret_key_file(Path(app.instance_path))

    app.extensions["issuer"] = IssuerSettings(
        public_url=app.config["PUBLIC_URL"],
        name=app.config["ISSUER_NAME"],
        keys=KeyStore(app.config["CERTAMEN_KEY_DIR"], host=app.config["PUBLIC_URL"],
                      passphrase=settings.key_passphrase),
    )
    use_font_dir(settings.font_dir)
    app.extensions["issuer"].keys.active_key()  # the first start creates the signing key, so it is published

    # trust X-Forwarded-For/-Proto from that many reverse proxies (client address for rate limits)
    if settings.proxy_hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)

    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["db_engine"] = engine
    app.extensions["db_factory"] = make_session_factory(engine)

    from api import admin, console, hr, learner, learner_api, limits, openapi, psychometrics, transparency

    limits.configure(app)

    app.register_blueprint(learner.bp)
    app.register_blueprint(learner_api.bp)
    app.register_blueprint(hr.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(psychometrics.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(transparency.bp)
    app.register_blueprint(openapi.bp)

    register_error_handlers(app)

    @app.before_request
    def _refuse_unstorable_input():
        from api.http import unstorable_text

        if "\x00" in request.path:
            return jsonify(error="not found"), 404
        if request.method == "POST" and request.mimetype in _FORM_TYPES and request.form:
            problem = unstorable_text(request.form.to_dict(flat=False), "form")
            if problem:
                return jsonify(error=problem), 400
        return None

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        )
        return response

    return app
