"""Learner accounts: argon2 passwords, revocable sessions, sign-in links, privacy, rate limits."""
from __future__ import annotations

from datetime import timedelta

import pytest
from learners import PASSWORD, learner_headers
from sqlalchemy import select, update

from item_bank import accounts
from storage import ApiToken, AuditEvent, Candidate
from storage.db import transaction

EXAM = "social-media-frontline"


def register(client, email="ada@example.com", password=PASSWORD, name="Ada Lovelace"):
    return client.post("/api/v1/learners", json={"name": name, "email": email, "password": password})


def bearer(response) -> dict:
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def signed_in(client, email="ada@example.com") -> dict:
    """Registers and signs in through the JSON API: the bearer headers."""
    assert register(client, email=email).status_code == 202
    r = client.post("/api/v1/signin", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.get_json()
    return bearer(r)


def web_csrf(browser) -> str:
    with browser.session_transaction() as s:
        return s["csrf"]


def web_signed_in(app, email="ada@example.com", name="Ada Lovelace"):
    """A browser-like client that registered and signed in through the web forms."""
    browser = app.test_client()
    browser.get("/register")
    r = browser.post("/register", data={"name": name, "email": email, "password": PASSWORD,
                                        "csrf_token": web_csrf(browser)})
    assert r.status_code == 303 and r.headers["Location"].endswith("/signin")
    browser.get("/signin")
    r = browser.post("/signin", data={"email": email, "password": PASSWORD, "csrf_token": web_csrf(browser)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/")
    return browser


def test_password_is_stored_as_argon2id_and_signs_in(client, app):
    r = register(client)
    assert r.status_code == 202 and "token" not in r.get_json()  # the token comes from signing in
    r = client.post("/api/v1/signin", json={"email": "ADA@example.com ", "password": PASSWORD})
    assert r.status_code == 200
    with transaction(app.extensions["db_factory"]) as db:
        stored = db.execute(select(Candidate.password_hash).where(Candidate.email == "ada@example.com")).scalar_one()
        tokens = db.execute(select(ApiToken.token_hash)).scalars().all()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert r.get_json()["token"] not in tokens  # only the token's digest is stored
    assert client.get("/api/v1/me", headers=bearer(r)).get_json()["email"] == "ada@example.com"


@pytest.mark.parametrize("email, password", [("ada@example.com", "wrong password!"),
                                             ("nobody@example.com", PASSWORD),
                                             ("not an address", PASSWORD)])
def test_failed_sign_in_says_the_same_whatever_was_wrong(client, email, password):
    register(client)
    r = client.post("/api/v1/signin", json={"email": email, "password": password})
    assert r.status_code == 401 and r.get_json()["error"] == "e-mail address or password not recognised"


def test_an_email_cannot_be_registered_twice_or_taken_over(client, app):
    first = register(client)
    again = register(client, password="someone else's password", name="Mallory")
    assert (again.status_code, again.get_json()) == (first.status_code, first.get_json())  # nothing told
    assert client.post("/api/v1/signin", json={"email": "ada@example.com",
                                               "password": "someone else's password"}).status_code == 401
    assert client.post("/api/v1/signin", json={"email": "ada@example.com", "password": PASSWORD}).status_code == 200
    with transaction(app.extensions["db_factory"]) as db:
        assert db.execute(select(Candidate.name).where(Candidate.email == "ada@example.com")).scalar_one() == \
            "Ada Lovelace"


@pytest.mark.parametrize("password", ["short", "x" * 1025])
def test_password_length_rules(client, password):
    r = register(client, password=password)
    assert r.status_code == 422 and "password" in r.get_json()["error"]


def test_sign_out_ends_the_token_on_the_server(client):
    headers = signed_in(client)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.post("/api/v1/signout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_expired_learner_token_is_refused(client, app):
    headers = signed_in(client)
    with transaction(app.extensions["db_factory"]) as db:
        for row in db.execute(select(ApiToken).where(ApiToken.role == "learner")).scalars():
            row.expires_at = accounts.utcnow() - accounts.dt.timedelta(seconds=1)
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_learner_tokens_do_not_open_staff_routes_and_staff_tokens_are_not_learners(client, role_token):
    learner = signed_in(client)
    assert client.get("/api/v1/psychometrics/parameter-sets", headers=learner).status_code == 401
    assert client.get("/api/v1/admin/audit", headers=learner).status_code == 401
    hr = {"Authorization": f"Bearer {role_token('hr')}"}
    assert client.post("/api/v1/sessions", json={"exam_id": EXAM}, headers=hr).status_code == 401


def test_a_learner_never_reads_another_learners_sitting_or_result(client, app):
    ada = learner_headers(client, "ada@example.com")
    bob = learner_headers(client, "bob@example.com", name="Bob")
    view = client.post("/api/v1/sessions", json={"exam_id": EXAM}, headers=ada).get_json()
    sid, item = view["session_id"], view["item"]
    for method, url, body in (("get", f"/api/v1/sessions/{sid}", None),
                              ("get", f"/api/v1/sessions/{sid}/result", None),
                              ("post", f"/api/v1/sessions/{sid}/answers",
                               {"seq": item["seq"], "item_id": item["item_id"], "choice": 0})):
        r = getattr(client, method)(url, json=body, headers=bob)
        assert r.status_code == 404, (url, r.get_json())  # not even told the sitting exists
        assert "item" not in r.get_json()
        assert getattr(client, method)(url, json=body).status_code == 401  # nobody signed in
    assert client.get(f"/api/v1/sessions/{sid}", headers=ada).get_json()["answered"] == 0


def test_answers_need_a_live_token_of_the_sittings_learner(client, app):
    """Answering checks the token in the statement that locks the sitting: the same verdicts as the
    other routes' separate lookup, for a signed-out, expired, malformed or stranger's token."""
    ada = learner_headers(client, "ada@example.com")
    view = client.post("/api/v1/sessions", json={"exam_id": EXAM}, headers=ada).get_json()
    sid, item = view["session_id"], view["item"]
    body = {"seq": item["seq"], "item_id": item["item_id"], "choice": 0}

    def answer_as(headers, session_id=sid):
        return client.post(f"/api/v1/sessions/{session_id}/answers", json=body, headers=headers)

    for junk in ("lrn_not-a-token", "staff-looking-token", "lrn_" + "x" * 200):
        assert answer_as({"Authorization": f"Bearer {junk}"}).status_code == 401
        assert answer_as({"Authorization": f"Bearer {junk}"}, "no-such-sitting").status_code == 401
    assert answer_as(ada, "no-such-sitting").status_code == 404
    signed_out = learner_headers(client, "ada2@example.com")
    assert client.post("/api/v1/signout", headers=signed_out).status_code == 204
    assert answer_as(signed_out).status_code == 401
    assert answer_as(signed_out, "no-such-sitting").status_code == 401
    expiring = learner_headers(client, "ada3@example.com")
    with transaction(app.extensions["db_factory"]) as db:
        digest = accounts.token_digest(expiring["Authorization"].split()[1])
        db.execute(update(ApiToken).where(ApiToken.token_hash == digest)
                   .values(expires_at=accounts.utcnow() - timedelta(seconds=1)))
    assert answer_as(expiring).status_code == 401
    assert answer_as(learner_headers(client, "eve@example.com")).status_code == 404
    assert client.get(f"/api/v1/sessions/{sid}", headers=ada).get_json()["answered"] == 0
    r = answer_as(ada)
    assert r.status_code == 201 and r.get_json()["answered"] == 1
    with transaction(app.extensions["db_factory"]) as db:
        candidate = db.execute(select(Candidate).where(Candidate.email == "ada@example.com")).scalar_one()
        actors = db.execute(select(AuditEvent.actor).where(
            AuditEvent.kind == "exam.answer", AuditEvent.subject == f"session:{sid}")).scalars().all()
    assert actors == [f"candidate:{candidate.id}"]


def test_web_pages_of_a_sitting_belong_to_its_learner(app):
    owner, stranger = web_signed_in(app, "ada@example.com"), web_signed_in(app, "eve@example.com", name="X Y")
    owner.get("/")
    with owner.session_transaction() as s:
        csrf = s["csrf"]
    r = owner.post(f"/exams/{EXAM}/start", data={"csrf_token": csrf})
    sitting = r.headers["Location"]
    assert owner.get(sitting).status_code == 200
    assert stranger.get(sitting).status_code == 404
    assert app.test_client().get(sitting).status_code == 302  # signed out: to the sign-in page


def test_sign_in_link_is_one_time_and_lets_the_learner_choose_a_password(client, app, role_token):
    register(client)
    admin = {"Authorization": f"Bearer {role_token('admin')}"}
    r = client.post("/api/v1/admin/learners/signin-links", json={"email": "ada@example.com"}, headers=admin)
    assert r.status_code == 201 and r.get_json()["valid_minutes"] == 15
    url = r.get_json()["url"]
    assert url.startswith("http://127.0.0.1:8000/signin/link#lnk_")  # the secret is the fragment
    path, secret = url.split("://", 1)[1].split("/", 1)[1].split("#")
    browser = app.test_client()
    assert browser.get(f"/{path}").status_code == 200  # a page with a form: GET does not use the link up
    with browser.session_transaction() as s:
        csrf = s["csrf"]
    r = browser.post(f"/{path}", data={"csrf_token": csrf, "token": secret})
    assert r.status_code == 302 and r.headers["Location"].endswith("/account/password")
    browser.get("/account/password")
    with browser.session_transaction() as s:
        csrf = s["csrf"]
    r = browser.post("/account/password", data={"password": "a brand new password", "csrf_token": csrf})
    assert r.status_code == 302
    # The old password and the learner's other sessions are gone; the new password works.
    assert client.post("/api/v1/signin", json={"email": "ada@example.com", "password": PASSWORD}).status_code == 401
    assert client.post("/api/v1/signin", json={"email": "ada@example.com",
                                               "password": "a brand new password"}).status_code == 200
    second = app.test_client()
    second.get(f"/{path}")
    with second.session_transaction() as s:
        csrf = s["csrf"]
    r = second.post(f"/{path}", data={"csrf_token": csrf, "token": secret})
    assert r.status_code == 400 and b"not valid" in r.data
    assert client.post("/api/v1/admin/learners/signin-links", json={"email": "ada@example.com"}).status_code == 401


def test_changing_the_password_needs_the_current_one(app):
    c = web_signed_in(app)
    c.get("/account/password")
    with c.session_transaction() as s:
        csrf = s["csrf"]
    r = c.post("/account/password", data={"current_password": "not it at all", "password": "another password",
                                          "csrf_token": csrf})
    assert r.status_code == 401
    with transaction(app.extensions["db_factory"]) as db:
        candidate = db.execute(select(Candidate).where(Candidate.email == "ada@example.com")).scalar_one()
        assert accounts.authenticate(db, email="ada@example.com", password=PASSWORD).id == candidate.id


# ---------------------------------------------------------------- rate limits


@pytest.fixture
def strict_app(app):
    app.config.update(RATELIMIT_SIGNIN="100 per minute",
                      RATELIMIT_REGISTER="2 per minute", RATELIMIT_ANSWERS="4 per minute",
                      RATELIMIT_VERIFY="3 per minute")
    from api import limits

    limits.reset(app)
    yield app
    limits.reset(app)


def test_failed_sign_ins_make_that_account_and_address_wait_but_nobody_else(strict_app):
    """(tests/security/test_signin_throttle.py goes through the attacks in detail.)"""
    client = strict_app.test_client()
    register(client)
    statuses = [client.post("/api/v1/signin",
                            json={"email": "ada@example.com", "password": "guess number x"}).status_code
                for _ in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    r = client.post("/api/v1/signin", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 429 and "too many failed sign-ins" in r.get_json()["error"]
    assert int(r.headers["Retry-After"]) > 0
    # The learner, from another address, is not locked out by the guessing at their account.
    elsewhere = {"REMOTE_ADDR": "198.51.100.7"}
    assert client.post("/api/v1/signin", json={"email": "ada@example.com", "password": PASSWORD},
                       environ_base=elsewhere).status_code == 200
    # Another account from the guessing address is not locked either.
    register(client, email="bob@example.com")
    assert client.post("/api/v1/signin", json={"email": "bob@example.com", "password": PASSWORD}).status_code == 200


def test_registrations_answers_and_verifications_are_limited(strict_app):
    client = strict_app.test_client()
    assert register(client).status_code == 202
    headers = bearer(client.post("/api/v1/signin", json={"email": "ada@example.com", "password": PASSWORD}))
    assert register(client, email="b@example.com").status_code == 202
    assert register(client, email="c@example.com").status_code == 429
    view = client.post("/api/v1/sessions", json={"exam_id": EXAM}, headers=headers).get_json()
    statuses = []
    for _ in range(6):
        item = view["item"]
        r = client.post(f"/api/v1/sessions/{view['session_id']}/answers",
                        json={"seq": item["seq"], "item_id": item["item_id"], "choice": 0}, headers=headers)
        statuses.append(r.status_code)
        if r.status_code == 201:
            view = r.get_json()
    assert statuses == [201] * 4 + [429] * 2
    assert client.get(f"/api/v1/sessions/{view['session_id']}", headers=headers).get_json()["answered"] == 4
    verdicts = [client.post("/api/v1/verify", json={"type": "nothing"}).status_code for _ in range(4)]
    assert 429 not in verdicts[:3] and verdicts[3] == 429


def test_limits_count_only_their_routes_and_the_web_form_shares_the_api_counter(strict_app):
    client = strict_app.test_client()
    assert all(client.get("/api/v1/exams").status_code == 200 for _ in range(10))  # not a limited route
    assert [client.post("/api/v1/verify", json={"type": "nothing"}).status_code for _ in range(3)] == [200] * 3
    page = client.post("/verify", data={"credential": "{}"})  # the verification form: same scope, same address
    assert page.status_code == 429 and page.mimetype == "text/html"
    assert b"too many requests" in page.data and 0 < int(page.headers["Retry-After"]) <= 60
    strict_app.config["RATELIMIT_ENABLED"] = False
    assert client.post("/api/v1/verify", json={"type": "nothing"}).status_code == 200
