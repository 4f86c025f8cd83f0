"""How the web app tells an error: the HTTP status of each kind, JSON for the API, a page for people."""
from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from errors import CertamenError, Kind

HTTP_STATUS = {
    Kind.MALFORMED: 400,
    Kind.INVALID: 422,
    Kind.UNAUTHENTICATED: 401,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
    Kind.THROTTLED: 429,
    Kind.UNAVAILABLE: 503,
}


def http_status(exc: CertamenError) -> int:
    return HTTP_STATUS[exc.kind]


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.is_json


def error_response(status: int, message: str, headers=()) -> Response:
    if _wants_json():
        response = jsonify(error=message)
    else:
        response = current_app.make_response(render_template("error.html", status=status, message=message))
    response.status_code = status
    response.headers.extend(headers)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CertamenError)
    def _domain_error(exc: CertamenError):
        headers = [("Retry-After", str(exc.retry_after))] if exc.retry_after else []
        return error_response(http_status(exc), exc.message, headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        message = exc.description or exc.name
        if exc.code == 413:
            message = f"request too large (limit {app.config['MAX_CONTENT_LENGTH']} bytes)"
        if exc.code == 429:
            message = f"too many requests (limit {exc.description}); wait a little and try again"
        headers = [header for header in exc.get_headers() if header[0] != "Content-Type"]
        return error_response(exc.code or 500, message, headers)
