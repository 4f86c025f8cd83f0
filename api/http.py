"""Request parsing shared by the JSON blueprints."""
from __future__ import annotations

from typing import Any

from flask import abort, request


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    if not request.is_json:
        abort(415, description="send a JSON body with 'Content-Type: application/json'")
    body = request.get_json(silent=True)
    if body is None:
        abort(400, description="the request body is not valid JSON")
    if not isinstance(body, dict):
        abort(400, description="the request body must be a JSON object")
    return body
