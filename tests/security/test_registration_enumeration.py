"""Registration does not tell whether an address already has an account.

Attack: an outsider submits colleagues' addresses to the registration form or API and learns from
the answer (409 "exists already" used to say so) who is enrolled -- a list for phishing, and a
step towards guessing. Each is tried on the JSON API and the web form, with the address spelled
as registered and otherwise.
"""
from __future__ import annotations

import re

import pytest
from learners import PASSWORD
from sqlalchemy import func, select

from item_bank import accounts
from storage import ApiToken, AuditEvent, Candidate
from storage.db import transaction

OWNER = "ada@example.com"


@pytest.fixture
def registered(app, client):
    r = client.post("/api/v1/learners", json={"name": "Ada Lovelace", "email": OWNER, "password": PASSWORD})
    assert r.status_code == 202
    return r


def _api(client, email):
    return client.post("/api/v1/learners", json={"name": "Mallory Mallet", "email": email,
                                                 "password": "mallory's own passphrase"})


@pytest.mark.parametrize("existing", [OWNER, "ADA@example.com", "  Ada@Example.COM "])
def test_the_json_api_answers_the_same_for_a_taken_and_a_new_address(app, client, registered, existing):
    taken, new = _api(client, existing), _api(client, "someone.new@example.com")
    assert (taken.status_code, taken.get_json()) == (new.status_code, new.get_json()) == \
        (registered.status_code, registered.get_json())
    assert taken.status_code == 202 and "token" not in taken.get_json()
    assert sorted(taken.headers.keys()) == sorted(new.headers.keys())
    assert "Set-Cookie" not in taken.headers


@pytest.mark.parametrize("existing", [OWNER, "ADA@EXAMPLE.COM"])
def test_the_web_form_answers_the_same_for_a_taken_and_a_new_address(app, registered, existing):
    def submit(email):
        browser = app.test_client()
        browser.get("/register")
        with browser.session_transaction() as s:
            csrf = s["csrf"]
        r = browser.post("/register", data={"name": "Mallory Mallet", "email": email,
                                            "password": "mallory's own passphrase", "csrf_token": csrf})
        page = browser.get(r.headers["Location"])
        with browser.session_transaction() as s:
            signed_in = "learner_session" in s
        text = re.sub(rb'name="csrf_token" value="[^"]*"', b"CSRF", page.data.replace(email.encode(), b"EMAIL"))
        return r.status_code, r.headers["Location"], text, signed_in

    taken, new = submit(existing), submit("someone.new@example.com")
    assert taken == new
    assert taken[3] is False  # registering signs nobody in


def test_the_existing_account_is_left_alone(app, client, registered):
    _api(client, OWNER)
    with transaction(app.extensions["db_factory"]) as db:
        candidate = db.execute(select(Candidate).where(Candidate.email == OWNER)).scalar_one()
        assert candidate.name == "Ada Lovelace"
        assert db.execute(select(func.count()).select_from(Candidate)).scalar() == 1
        assert db.execute(select(func.count()).select_from(ApiToken)).scalar() == 0  # no session for anyone
        events = db.execute(select(AuditEvent).where(AuditEvent.kind == "candidate.register_existing")).scalars().all()
        assert [(e.actor, e.subject, e.data) for e in events] == [("anonymous", f"candidate:{candidate.id}", {})]
    mallory = {"email": OWNER, "password": "mallory's own passphrase"}
    assert client.post("/api/v1/signin", json=mallory).status_code == 401
    assert client.post("/api/v1/signin", json={"email": OWNER, "password": PASSWORD}).status_code == 200


def test_a_taken_address_costs_the_same_password_hashing(app, monkeypatch):
    """The same work either way, so the time taken does not tell either (argon2 is most of it)."""
    hashed = []
    real = accounts._hasher

    class Counting:
        def hash(self, password):
            hashed.append(password)
            return real.hash(password)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(accounts, "_hasher", Counting())
    with transaction(app.extensions["db_factory"]) as db:
        assert accounts.register(db, name="Ada Lovelace", email=OWNER, password=PASSWORD) is not None
        assert accounts.register(db, name="Mallory Mallet", email=OWNER, password="mallory's own passphrase") is None
    assert len(hashed) == 2


def test_racing_registrations_of_one_new_address_make_one_account_and_tell_nobody(app, client):
    import threading

    statuses, barrier = [], threading.Barrier(4)

    def register():
        c = app.test_client()
        barrier.wait()
        statuses.append(c.post("/api/v1/learners", json={"name": "Racer Person", "email": "race@example.com",
                                                          "password": PASSWORD}).status_code)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [202] * 4
    with transaction(app.extensions["db_factory"]) as db:
        assert db.execute(select(func.count()).select_from(Candidate)
                          .where(Candidate.email == "race@example.com")).scalar() == 1
