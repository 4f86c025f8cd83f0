"""The JSON API takes bearer tokens only; the web session cookie holds no bearer token.

Attacks:
- cross-site request forgery on the JSON API: a page on another site makes the learner's browser
  POST to /api/v1/... and the browser attaches the session cookie. The JSON routes have no CSRF
  tokens, so if they accepted the cookie any site could start or answer a learner's exam.
- a bearer token read out of the cookie: Flask's session cookie is signed, not encrypted; anyone
  who sees it (a shared computer, a proxy log, a support screenshot) could read a token out of it
  and use it against the JSON API from anywhere.
"""
from __future__ import annotations

import base64
import json
import zlib

import pytest
from learners import PASSWORD, learner_headers
from sqlalchemy import select

from item_bank import accounts
from storage import ApiToken
from storage.db import transaction

EXAM = "social-media-frontline"


def _web_signed_in(app, email="ada@example.com"):
    browser = app.test_client()
    browser.get("/register")
    with browser.session_transaction() as s:
        csrf = s["csrf"]
    browser.post("/register", data={"name": "Ada Lovelace", "email": email, "password": PASSWORD, "csrf_token": csrf})
    browser.get("/signin")
    r = browser.post("/signin", data={"email": email, "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 302
    assert b"Hello, Ada Lovelace" in browser.get("/").data
    return browser


def _cookie_payload(browser) -> dict:
    """What anyone holding the cookie can read without the secret key."""
    cookie = browser.get_cookie("session")
    value = cookie.value
    compressed = value.startswith(".")
    data = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return json.loads(zlib.decompress(raw) if compressed else raw)


@pytest.mark.parametrize("method, path, body", [
    ("post", "/api/v1/sessions", {"exam_id": EXAM}),
    ("get", "/api/v1/me", None),
    ("post", "/api/v1/signout", None),
])
def test_the_json_api_does_not_act_on_the_cookie_alone(app, method, path, body):
    browser = _web_signed_in(app)
    r = getattr(browser, method)(path, json=body)  # the browser sends its cookie, as a forged request would
    assert r.status_code == 401, (path, r.get_json())
    # ... nor with the body sent as a form, the way a cross-site <form> posts it:
    r = getattr(browser, method)(path, data={"exam_id": EXAM})
    assert r.status_code in (401, 415), (path, r.status_code)
    assert b"Hello, Ada Lovelace" in browser.get("/").data  # the cross-site signout did not sign anyone out


def test_answering_through_the_json_api_needs_the_bearer_token_not_the_cookie(app):
    browser = _web_signed_in(app)
    r = browser.post(f"/exams/{EXAM}/start", data={"csrf_token": _csrf(browser)})
    sitting = r.headers["Location"].rsplit("/", 1)[1]
    page = browser.get(f"/sit/{sitting}")
    assert page.status_code == 200
    with transaction(app.extensions["db_factory"]) as db:
        from storage import Item, Sitting

        row = db.get(Sitting, sitting)
        item = db.get(Item, row.pending_item_id).external_id
        seq = row.pending_seq
    r = browser.post(f"/api/v1/sessions/{sitting}/answers", json={"seq": seq, "item_id": item, "choice": 0})
    assert r.status_code == 401
    with transaction(app.extensions["db_factory"]) as db:
        assert db.get(Sitting, sitting).pending_seq == seq  # nothing was recorded


def _csrf(browser) -> str:
    with browser.session_transaction() as s:
        return s["csrf"]


def test_the_cookie_holds_no_bearer_token(app, client):
    browser = _web_signed_in(app)
    payload = _cookie_payload(browser)
    assert not any(isinstance(v, str) and v.startswith("lrn_") for v in payload.values()), payload
    web_session = payload["learner_session"]
    assert web_session.startswith("ses_")
    # What the cookie does hold is not a bearer token: the JSON API refuses it however it is sent.
    for header in (f"Bearer {web_session}", f"Bearer  {web_session} ", f"Bearer lrn_{web_session[4:]}"):
        assert client.get("/api/v1/me", headers={"Authorization": header}).status_code == 401, header
        assert client.post("/api/v1/sessions", json={"exam_id": EXAM},
                           headers={"Authorization": header}).status_code == 401
    # Only its digest is stored, revocable like a token: signing out ends it on the server.
    with transaction(app.extensions["db_factory"]) as db:
        stored = db.execute(select(ApiToken.token_hash).where(ApiToken.role == "learner")).scalars().all()
    assert accounts.token_digest(web_session) in stored and web_session not in stored
    browser.post("/signout", data={"csrf_token": _csrf(browser)})
    replay = app.test_client()
    with replay.session_transaction() as s:  # someone who copied the cookie's content before sign-out
        s["learner_session"] = web_session
    assert b"Hello, Ada" not in replay.get("/").data


def test_a_bearer_token_planted_in_the_cookie_is_not_a_web_session(app, client):
    """The web takes only a web session id from the cookie: not an API token, not the old key."""
    token = learner_headers(client, "ada@example.com")["Authorization"].split()[1]
    for key in ("learner_session", "learner_token"):
        browser = app.test_client()
        with browser.session_transaction() as s:
            s[key] = token
        assert b"Hello, Ada" not in browser.get("/").data, key
        assert browser.get("/my/certificates").status_code == 302


def test_web_pages_still_take_a_bearer_token(app, client):
    """A bearer token is never sent by a browser on its own, so the web pages may accept it."""
    headers = learner_headers(client, "ada@example.com")
    assert b"Hello, Ada Lovelace" in client.get("/", headers=headers).data
