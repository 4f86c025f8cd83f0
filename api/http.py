"""Request parsing shared by the JSON blueprints."""
from __future__ import annotations

from typing import Any

from flask import abort, request
from flask.json.provider import DefaultJSONProvider


class BoundedJSONProvider(DefaultJSONProvider):
    """JSON bodies nested past the parser's recursion limit are bad requests (400), not crashes (500):
    Flask turns a ValueError from ``loads`` into a 400 on every route that reads JSON."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON body is nested too deeply") from None


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


def text_field(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string field of a JSON body, refused (400) when missing, of the wrong type, or unstorable."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        abort(400, description=f"'{name}' is required and must be a string" if required
              else f"'{name}' must be a string")
    problem = unstorable_text(value, f"'{name}'")
    if problem:
        abort(400, description=problem)
    return value


def unstorable_text(value: Any, where: str = "body") -> str | None:
    """Text no database should be handed: NUL bytes and lone UTF-16 surrogates (from JSON escapes)."""
    if isinstance(value, str):
        if "\x00" in value:
            return f"{where} contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where} contains invalid Unicode (an unpaired surrogate)"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = unstorable_text(key, where) or unstorable_text(
                item, f"'{key}'" if isinstance(key, str) else where)
            if problem:
                return problem
    if isinstance(value, list):
        for item in value:
            problem = unstorable_text(item, where)
            if problem:
                return problem
    return None
