"""Sign-in links: the secret must never reach an access log, and a link works once, briefly.

Attack: the link used to be `/signin/link/<secret>`. The server's access log, every proxy's log and
any analytics on the way recorded the path, so whoever reads a log could sign in as the learner.
Now the secret is the URL's fragment (`/signin/link#<secret>`), which browsers never send; the
page's script POSTs it. These tests record every request the server sees, as an access log would,
and look for the secret in it.
"""
from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from learners import PASSWORD
from sqlalchemy import select

from item_bank import accounts
from storage import ApiToken, AuditEvent
from storage.db import transaction

EMAIL = "ada@example.com"


class AccessLog:
    """WSGI middleware writing down what an access log and a proxy would: method, path, query string
    and every header (Referer included) of each request."""

    def __init__(self, app):
        self.wsgi_app, self.lines = app.wsgi_app, []
        app.wsgi_app = self

    def __call__(self, environ, start_response):
        headers = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
        self.lines.append(f"{environ['REQUEST_METHOD']} {environ.get('RAW_URI') or environ.get('REQUEST_URI') or ''} "
                          f"{environ['PATH_INFO']}?{environ.get('QUERY_STRING', '')} {json.dumps(headers)}")
        return self.wsgi_app(environ, start_response)

    def mentions(self, secret: str) -> list[str]:
        return [line for line in self.lines if secret in line]


def _db(app):
    return transaction(app.extensions["db_factory"])


def _register(app) -> None:
    with _db(app) as db:
        accounts.register(db, name="Ada Lovelace", email=EMAIL, password=PASSWORD)


def _link(client, role_token, **body) -> str:
    r = client.post("/api/v1/admin/learners/signin-links", json={"email": EMAIL, **body},
                    headers={"Authorization": f"Bearer {role_token('admin')}"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["url"]


def _csrf(browser) -> str:
    with browser.session_transaction() as s:
        return s["csrf"]


def _open_and_use(app, url: str):
    """What a browser does with the link: GET the URL without its fragment, then POST the fragment."""
    path, _, secret = url.partition("#")
    browser = app.test_client()
    page = browser.get("/" + path.split("://", 1)[1].split("/", 1)[1])
    assert page.status_code == 200 and b"signin_link.js" in page.data
    return browser, browser.post("/signin/link", data={"token": secret, "csrf_token": _csrf(browser)})


def test_the_link_carries_its_secret_only_in_the_fragment_and_no_request_line_holds_it(app, client, role_token):
    _register(app)
    log = AccessLog(app)
    url = _link(client, role_token)
    assert url.startswith(f"{app.config['PUBLIC_URL']}/signin/link#lnk_")
    secret = url.split("#", 1)[1]
    browser, r = _open_and_use(app, url)
    assert r.status_code == 302 and r.headers["Location"].endswith("/account/password")
    assert browser.get("/").data.count(b"Hello, Ada Lovelace") == 1  # signed in
    assert [line.split()[0] for line in log.lines[-3:]] == ["GET", "POST", "GET"]
    assert log.mentions(secret) == []  # in no path, query string or header: only in the POST body
    assert secret not in r.headers.get("Location", "") and secret.encode() not in browser.get("/").data


def test_the_page_that_reads_the_fragment_is_served(client):
    script = client.get("/static/signin_link.js")
    assert script.status_code == 200 and b"location.hash" in script.data and b"replaceState" in script.data
    page = client.get("/signin/link")
    assert page.status_code == 200 and b'name="token"' in page.data


@pytest.mark.parametrize("how", ["old path", "query string GET", "query string POST", "path POST"])
def test_a_secret_in_a_url_does_not_sign_anyone_in(app, client, role_token, how):
    """The old link form and any other URL spelling are refused, so no one is led to make links that
    put the secret where logs keep it."""
    _register(app)
    secret = _link(client, role_token).split("#", 1)[1]
    browser = app.test_client()
    browser.get("/signin/link")
    csrf = _csrf(browser)
    r = {
        "old path": lambda: browser.get(f"/signin/link/{secret}"),
        "query string GET": lambda: browser.get(f"/signin/link?token={secret}"),
        "query string POST": lambda: browser.post(f"/signin/link?token={secret}", data={"csrf_token": csrf}),
        "path POST": lambda: browser.post(f"/signin/link/{secret}", data={"csrf_token": csrf}),
    }[how]()
    assert r.status_code in (200, 400, 404, 405)
    assert b"Hello, Ada" not in browser.get("/").data
    with browser.session_transaction() as s:
        assert "learner_session" not in s


def test_a_link_works_once(app, client, role_token):
    _register(app)
    url = _link(client, role_token)
    first, r = _open_and_use(app, url)
    assert r.status_code == 302
    second, r = _open_and_use(app, url)
    assert r.status_code == 400 and b"not valid" in r.data
    assert b"Hello, Ada" not in second.get("/").data


def test_two_browsers_racing_with_one_link_sign_in_once(app, client, role_token):
    _register(app)
    secret = _link(client, role_token).split("#", 1)[1]
    outcomes, barrier = [], threading.Barrier(4)

    def redeem():
        barrier.wait()
        try:
            with _db(app) as db:
                accounts.redeem_signin_link(db, secret)
            outcomes.append("in")
        except accounts.AccountError:
            outcomes.append("refused")
        except Exception as exc:  # a serialisation failure also means "not signed in"
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("in") == 1, outcomes


def test_a_link_lives_15_minutes(app, client, role_token):
    _register(app)
    url = _link(client, role_token)
    with _db(app) as db:
        row = db.execute(select(ApiToken).where(ApiToken.role == "signin_link")).scalar_one()
        life = accounts.as_utc(row.expires_at) - accounts.as_utc(row.created_at)
        assert dt.timedelta(minutes=14) < life <= dt.timedelta(minutes=15)
        row.expires_at = accounts.utcnow() - dt.timedelta(seconds=1)  # 15 minutes later
    _, r = _open_and_use(app, url)
    assert r.status_code == 400


def test_an_administrator_may_shorten_a_link_but_not_make_it_long_lived(app, client, role_token):
    _register(app)
    assert "#lnk_" in _link(client, role_token, valid_minutes=5)
    for minutes in (0, 61, 24 * 60, "15", True):
        r = client.post("/api/v1/admin/learners/signin-links", json={"email": EMAIL, "valid_minutes": minutes},
                        headers={"Authorization": f"Bearer {role_token('admin')}"})
        assert r.status_code == 422, minutes


def test_a_new_link_replaces_the_unused_older_one(app, client, role_token):
    _register(app)
    older, newer = _link(client, role_token), _link(client, role_token)
    _, r = _open_and_use(app, older)
    assert r.status_code == 400
    _, r = _open_and_use(app, newer)
    assert r.status_code == 302


def test_links_are_audited_without_their_secret(app, client, role_token):
    _register(app)
    url = _link(client, role_token)
    _open_and_use(app, url)
    secret = url.split("#", 1)[1]
    with _db(app) as db:
        events = db.execute(select(AuditEvent).where(AuditEvent.kind.like("candidate.signin_link%"))).scalars().all()
        digests = db.execute(select(ApiToken.token_hash).where(ApiToken.role == "signin_link")).scalars().all()
    assert sorted(e.kind for e in events) == ["candidate.signin_link", "candidate.signin_link_used"]
    text = json.dumps([[e.actor, e.subject, e.data] for e in events])
    assert secret not in text and secret[4:] not in text and not any(d in text for d in digests)
