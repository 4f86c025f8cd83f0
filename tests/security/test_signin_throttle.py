"""Failed sign-ins slow the guesser down and never lock the learner out.

Attacks:
- lock-out: a stranger who knows a learner's e-mail address fails on purpose, to keep them out of
  their exam (the old per-account limit of 5 a minute did exactly that for them);
- guessing: one address tries many passwords on one account, or one password on many accounts
  (spraying), or many addresses share the guessing on one account;
- evasion: the same guesses spelled differently -- the e-mail in other case or with spaces, the web
  form instead of the JSON API, a forged X-Forwarded-For, another address of the same IPv6 /64,
  another worker process.
"""
from __future__ import annotations

import datetime as dt

import pytest
from learners import PASSWORD
from sqlalchemy import func, select

from item_bank import signin_throttle
from storage import SigninFailure, as_utc
from storage.db import transaction

VICTIM = "ada@example.com"
ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
LEARNER = {"REMOTE_ADDR": "198.51.100.7"}


@pytest.fixture
def app(app):
    app.config["RATELIMIT_SIGNIN"] = "10000 per minute"  # the per-address request limit is not under test
    client = app.test_client()
    for email in (VICTIM, "bob@example.com"):
        assert client.post("/api/v1/learners", json={"name": "Some One", "email": email,
                                                      "password": PASSWORD}).status_code == 202
    return app


def _signin(client, email=VICTIM, password="not the password", env=ATTACKER):
    return client.post("/api/v1/signin", json={"email": email, "password": password}, environ_base=env)


def _age_failures(app, seconds: float) -> None:
    """Moves every recorded failure `seconds` into the past (as if that much time had gone by)."""
    with transaction(app.extensions["db_factory"]) as db:
        for row in db.execute(select(SigninFailure)).scalars():
            row.last_failure_at = as_utc(row.last_failure_at) - dt.timedelta(seconds=seconds)


def test_a_stranger_failing_on_purpose_does_not_lock_the_learner_out(app, client):
    statuses = [_signin(client).status_code for _ in range(12)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    # The learner, from their own address, gets in at once, as often as they like.
    for _ in range(3):
        assert _signin(client, password=PASSWORD, env=LEARNER).status_code == 200
    # ... and a typo of theirs costs them nothing more than a typo.
    assert _signin(client, env=LEARNER).status_code == 401
    assert _signin(client, password=PASSWORD, env=LEARNER).status_code == 200


def test_the_guessing_address_waits_longer_after_each_failure_even_with_the_right_password(app, client):
    for _ in range(5):
        assert _signin(client).status_code == 401
    waits = []
    for _ in range(6):
        r = _signin(client)
        assert r.status_code == 429
        waits.append(int(r.headers["Retry-After"]))
        assert "too many failed sign-ins" in r.get_json()["error"]
        _age_failures(app, waits[-1])  # wait it out ...
        assert _signin(client).status_code == 401  # ... and fail again
    assert waits == sorted(waits) and waits[-1] >= 8 * waits[0], waits  # doubling
    r = _signin(client, password=PASSWORD)  # the right password is not checked while the pair waits
    assert r.status_code == 429
    _age_failures(app, signin_throttle.PAIR.max_wait)
    assert _signin(client, password=PASSWORD).status_code == 200  # and once through, the pair starts afresh
    assert _signin(client).status_code == 401


def test_the_wait_is_capped(app, client):
    with transaction(app.extensions["db_factory"]) as db:
        attempt = signin_throttle.check(db, email=VICTIM, address=ATTACKER["REMOTE_ADDR"])
        for _ in range(60):
            attempt.failed(db)
    r = _signin(client)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) <= signin_throttle.PAIR.max_wait


@pytest.mark.parametrize("spelling", ["ADA@example.com", "  ada@example.com ", "Ada@Example.COM"])
def test_the_same_account_spelled_otherwise_is_the_same_account(app, client, spelling):
    for _ in range(5):
        assert _signin(client, email=spelling).status_code == 401
    assert _signin(client, email=VICTIM).status_code == 429
    assert _signin(client, email=spelling).status_code == 429


def test_the_web_form_and_the_json_api_share_the_count(app):
    browser = app.test_client()
    browser.get("/signin", environ_base=ATTACKER)
    with browser.session_transaction() as s:
        csrf = s["csrf"]
    for _ in range(5):
        r = browser.post("/signin", data={"email": VICTIM, "password": "web guess 1234", "csrf_token": csrf},
                         environ_base=ATTACKER)
        assert r.status_code == 401
    r = browser.post("/signin", data={"email": VICTIM, "password": "web guess 1234", "csrf_token": csrf},
                     environ_base=ATTACKER)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0 and b"too many failed sign-ins" in r.data
    assert _signin(app.test_client()).status_code == 429  # the JSON API sees the same count


def test_the_password_change_form_is_not_a_way_round(app):
    """A stolen web session must not let its holder guess the current password at full speed."""
    browser = app.test_client()
    browser.get("/signin", environ_base=ATTACKER)
    with browser.session_transaction() as s:
        csrf = s["csrf"]
    browser.post("/signin", data={"email": VICTIM, "password": PASSWORD, "csrf_token": csrf}, environ_base=ATTACKER)
    browser.get("/account/password", environ_base=ATTACKER)
    with browser.session_transaction() as s:
        csrf = s["csrf"]  # a new one: signing in starts a fresh session
    statuses = [browser.post("/account/password", environ_base=ATTACKER, data={
        "current_password": f"guess {n} of the password", "password": "a completely new passphrase",
        "csrf_token": csrf}).status_code for n in range(7)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}


def test_a_forged_forwarded_for_header_does_not_change_the_address(app, client):
    for n in range(7):
        r = client.post("/api/v1/signin", json={"email": VICTIM, "password": "nope nope nope"},
                        headers={"X-Forwarded-For": f"192.0.2.{n}", "X-Real-IP": f"192.0.2.{n}"},
                        environ_base=ATTACKER)
    assert r.status_code == 429


def test_one_ipv6_network_is_one_address(app, client):
    """An IPv6 customer holds a whole /64: moving inside it is not a new address."""
    for n in range(5):
        assert _signin(client, env={"REMOTE_ADDR": f"2001:db8:1:2::{n + 1:x}"}).status_code == 401
    assert _signin(client, env={"REMOTE_ADDR": "2001:db8:1:2:ffff:ffff:ffff:fffe"}).status_code == 429
    assert _signin(client, password=PASSWORD, env={"REMOTE_ADDR": "2001:db8:1:3::1"}).status_code == 200
    # An IPv4 client seen through an IPv4-mapped IPv6 address is the same client.
    for _ in range(5):
        _signin(client, env={"REMOTE_ADDR": "192.0.2.9"})
    assert _signin(client, env={"REMOTE_ADDR": "::ffff:192.0.2.9"}).status_code == 429


def test_spraying_one_password_over_many_accounts_makes_the_address_wait(app, client):
    free = signin_throttle.ADDRESS.free
    for n in range(free):
        assert _signin(client, email=f"person{n}@example.com", password="Summer is here 2026").status_code == 401
    assert _signin(client, email="another@example.com", password="Summer is here 2026").status_code == 429
    assert _signin(client, email=VICTIM, password=PASSWORD, env=LEARNER).status_code == 200


def test_many_addresses_guessing_one_account_meet_the_ceiling_but_the_learner_gets_in(app, client):
    """Past the account's ceiling every failing address waits from its first failure; an address
    that has not failed for the account is never held back by the account's count."""
    addresses = [f"10.{n // 250}.{n % 250}.1" for n in range(signin_throttle.ACCOUNT_CEILING)]
    for address in addresses:
        assert _signin(client, env={"REMOTE_ADDR": address}).status_code == 401
    assert _signin(client, env={"REMOTE_ADDR": addresses[0]}).status_code == 429  # a second guess: wait
    assert _signin(client, password=PASSWORD, env=LEARNER).status_code == 200
    # Below the ceiling an address has its five free failures (checked with another account).
    assert [_signin(client, email="bob@example.com", env={"REMOTE_ADDR": addresses[0]}).status_code
            for _ in range(5)] == [401] * 5


def test_unknown_addresses_are_counted_alike(app, client):
    """A wait says nothing about whether an address has an account."""
    for email in (VICTIM, "nobody@example.com"):
        statuses = [_signin(client, email=email).status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429], email


def test_the_counts_are_shared_by_every_worker(app, client):
    """Another process (another app on the same database) sees the failures counted by this one."""
    from learners import GENEROUS_RATE_LIMITS

    from api import create_app

    other = create_app({"DATABASE_URL": app.config["DATABASE_URL"], "SECRET_KEY": "test-secret", "TESTING": True,
                        "CERTAMEN_KEY_DIR": app.config["CERTAMEN_KEY_DIR"], **GENEROUS_RATE_LIMITS})
    try:
        for n in range(5):
            worker = client if n % 2 else other.test_client()
            assert _signin(worker).status_code == 401
        assert _signin(client).status_code == 429
        assert _signin(other.test_client()).status_code == 429
    finally:
        other.extensions["db_engine"].dispose()


def test_a_pair_that_stops_failing_is_forgotten(app, client):
    for _ in range(5):
        _signin(client)
    assert _signin(client).status_code == 429
    _age_failures(app, signin_throttle.PAIR.forget_after.total_seconds() + 1)
    assert [_signin(client).status_code for _ in range(5)] == [401] * 5  # from zero again


def test_the_table_holds_no_address_in_clear_and_stale_rows_go(app, client, monkeypatch):
    _signin(client)
    with transaction(app.extensions["db_factory"]) as db:
        keys = db.execute(select(SigninFailure.key)).scalars().all()
    assert len(keys) == 3 and not any(VICTIM in k or ATTACKER["REMOTE_ADDR"] in k for k in keys)
    _age_failures(app, 2 * 24 * 3600)
    monkeypatch.setattr(signin_throttle, "PRUNE_CHANCE", 1.0)
    _signin(client, email="bob@example.com", env=LEARNER)
    with transaction(app.extensions["db_factory"]) as db:
        assert db.execute(select(func.count()).select_from(SigninFailure)).scalar() == 3  # only the new ones


@pytest.mark.parametrize("address, expected", [
    ("203.0.113.5", "203.0.113.5"), ("::ffff:203.0.113.5", "203.0.113.5"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"), ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
    ("fe80::1%eth0", "fe80::/64"), ("", ""), ("not an address", "not an address"),
])
def test_address_keys(address, expected):
    assert signin_throttle.address_key(address) == expected
