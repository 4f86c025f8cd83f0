"""Staff and integration tokens: an insider or a leaked token must not keep access for ever.

Attacks: a token that leaked long ago keeps working; a token taken from someone who left keeps
working after they were "removed"; a token's secret (or its digest) ends up in the audit trail or
in a listing that many people read.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from item_bank import accounts, staff_tokens
from storage import ApiToken, AuditEvent
from storage.db import transaction
from tests.helpers.programme import acme_organisation_id

ROSTER = "/api/v1/hr/roster?organisation=acme"


def _db(app):
    return transaction(app.extensions["db_factory"])


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _make(app, role="hr", **kwargs) -> tuple[str, int]:
    with _db(app) as db:
        if role == "hr":
            kwargs.setdefault("organisation_id", acme_organisation_id(db))
        token = staff_tokens.create(db, role, "integration X", **kwargs)
        token_id = db.execute(select(ApiToken.id).where(
            ApiToken.token_hash == accounts.token_digest(token))).scalar_one()
    return token, token_id


def _shift(app, token_id: int, **columns) -> None:
    with _db(app) as db:
        db.execute(update(ApiToken).where(ApiToken.id == token_id).values(**columns))


def test_a_token_expires_after_90_days_by_default_and_is_refused_then(app, client):
    token, token_id = _make(app)
    with _db(app) as db:
        row = db.get(ApiToken, token_id)
        lifetime = accounts.as_utc(row.expires_at) - accounts.as_utc(row.created_at)
    assert dt.timedelta(days=89, hours=23) < lifetime <= dt.timedelta(days=90)
    assert client.get(ROSTER, headers=_auth(token)).status_code == 200
    _shift(app, token_id, expires_at=accounts.utcnow() - dt.timedelta(seconds=1))
    r = client.get(ROSTER, headers=_auth(token))
    assert r.status_code == 401 and "expired" in r.get_json()["error"]


def test_the_lifetime_is_chosen_within_bounds(app):
    _, token_id = _make(app, expires_days=7)
    with _db(app) as db:
        row = db.get(ApiToken, token_id)
        assert accounts.as_utc(row.expires_at) - accounts.as_utc(row.created_at) <= dt.timedelta(days=7)
        for bad in (0, -1, staff_tokens.MAX_DAYS + 1, True, "90"):
            with pytest.raises(staff_tokens.TokenError):
                staff_tokens.create(db, "hr", expires_days=bad, organisation_id=acme_organisation_id(db))
        with pytest.raises(staff_tokens.TokenError, match="one organisation"):
            staff_tokens.create(db, "hr")  # an hr token acts for one organisation, never for all


def test_a_token_without_an_expiry_is_refused(app, client):
    """A row as the old code wrote it (no expiry) is not a way round the rule."""
    token, token_id = _make(app, role="admin")
    _shift(app, token_id, expires_at=None)
    assert client.get("/api/v1/admin/audit", headers=_auth(token)).status_code == 401


@pytest.mark.parametrize("spelling", ["{t}", " {t} ", "{t}\t"], ids=["as-issued", "padded", "tab"])
def test_a_revoked_token_is_refused_however_it_is_sent(app, client, spelling):
    token, token_id = _make(app, role="admin")
    assert client.get("/api/v1/admin/audit", headers=_auth(token)).status_code == 200
    with _db(app) as db:
        assert staff_tokens.revoke(db, token_id, by="cli:Grace", reason="left the company")
        assert not staff_tokens.revoke(db, token_id, by="cli:Grace")  # once is enough; no second event
    sent = {"Authorization": "Bearer " + spelling.format(t=token)}
    r = client.get("/api/v1/admin/audit", headers=sent)
    assert r.status_code == 401
    assert client.get(ROSTER, headers=sent).status_code == 401
    with _db(app) as db:
        row = db.get(ApiToken, token_id)
        assert row.revoked and row.revoked_by == "cli:Grace" and row.revoked_at is not None
        events = db.execute(select(AuditEvent).where(AuditEvent.kind == "token.revoke")).scalars().all()
    assert [(e.actor, e.subject, e.data["reason"]) for e in events] == [
        ("cli:Grace", f"token:{token_id}", "left the company")]


def test_revoking_names_only_staff_tokens(app):
    with _db(app) as db:
        candidate = accounts.register(db, name="Ada Lovelace", email="ada@example.com",
                                      password="correct horse battery staple")
        learner_signed_in = accounts.start_session(db, candidate, label="api")
        learner_row = db.execute(select(ApiToken.id).where(
            ApiToken.token_hash == accounts.token_digest(learner_signed_in.token))).scalar_one()
        for wrong in (learner_row, 999_999, 0, -3):
            with pytest.raises(staff_tokens.TokenError):
                staff_tokens.revoke(db, wrong, by="cli:x")
        with pytest.raises(staff_tokens.TokenError):
            staff_tokens.revoke(db, learner_row, by="  ")


def test_last_use_is_recorded_at_most_once_a_minute(app, client, monkeypatch):
    token, token_id = _make(app)
    with _db(app) as db:
        assert db.get(ApiToken, token_id).last_used_at is None
    statements = []
    from sqlalchemy import event

    engine = app.extensions["db_engine"]

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            assert client.get(ROSTER, headers=_auth(token)).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1  # the first request of the minute writes; the other four only read
    with _db(app) as db:
        first = accounts.as_utc(db.get(ApiToken, token_id).last_used_at)
    assert accounts.utcnow() - first < dt.timedelta(minutes=1)
    _shift(app, token_id, last_used_at=first - dt.timedelta(minutes=2))  # a minute later ...
    assert client.get(ROSTER, headers=_auth(token)).status_code == 200
    with _db(app) as db:
        assert accounts.as_utc(db.get(ApiToken, token_id).last_used_at) > first - dt.timedelta(seconds=1)


def test_learner_requests_never_write_token_rows(app, client):
    """Last use is for staff tokens: the learner's routes, answering above all, stay read-only on them."""
    from learners import learner_headers
    from sqlalchemy import event

    headers = learner_headers(client, "ada@example.com")
    view = client.post("/api/v1/sessions", json={"exam_id": "social-media-frontline"}, headers=headers).get_json()
    writes = []

    def count(conn, cursor, statement, *args):
        if "UPDATE API_TOKENS" in statement.upper():
            writes.append(statement)

    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        item = view["item"]
        r = client.post(f"/api/v1/sessions/{view['session_id']}/answers", headers=headers,
                        json={"seq": item["seq"], "item_id": item["item_id"], "choice": 0})
        assert r.status_code == 201
        assert client.get(f"/api/v1/sessions/{view['session_id']}", headers=headers).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert writes == []


def test_creation_and_revocation_are_audited_without_the_secret(app):
    token, token_id = _make(app, role="psychometrician", actor="cli:Grace")
    with _db(app) as db:
        staff_tokens.revoke(db, token_id, by="cli:Alan")
        digest = db.get(ApiToken, token_id).token_hash
        events = db.execute(select(AuditEvent).where(AuditEvent.subject == f"token:{token_id}")
                            .order_by(AuditEvent.id)).scalars().all()
    assert [(e.kind, e.actor) for e in events] == [("token.create", "cli:Grace"), ("token.revoke", "cli:Alan")]
    assert events[0].data["role"] == "psychometrician" and events[0].data["label"] == "integration X"
    for event_ in events:
        text = json.dumps([event_.actor, event_.kind, event_.subject, event_.data])
        assert token not in text and token[4:20] not in text and digest not in text and digest[:16] not in text


def test_the_listing_shows_what_a_token_is_never_its_secret(app, client):
    live, live_id = _make(app, role="hr")
    gone, gone_id = _make(app, role="admin")
    old, old_id = _make(app, role="psychometrician")
    client.get(ROSTER, headers=_auth(live))
    _shift(app, old_id, expires_at=accounts.utcnow() - dt.timedelta(days=1))
    with _db(app) as db:
        staff_tokens.revoke(db, gone_id, by="cli:Grace")
        accounts.start_session(db, accounts.register(db, name="Ada Lovelace", email="ada@example.com",
                                                     password="correct horse battery staple"))
        rows = staff_tokens.listing(db)
        digests = db.execute(select(ApiToken.token_hash)).scalars().all()
    assert [r["id"] for r in rows] == [old_id, gone_id, live_id]  # staff tokens only, newest first
    by_id = {r["id"]: r for r in rows}
    assert by_id[live_id]["status"] == "active" and by_id[live_id]["last_used"] is not None
    assert by_id[gone_id]["status"] == "revoked" and by_id[gone_id]["revoked_by"] == "cli:Grace"
    assert by_id[old_id]["status"] == "expired" and by_id[old_id]["last_used"] is None
    assert set(by_id[live_id]) == {"id", "role", "label", "organisation", "created", "expires", "last_used",
                                   "revoked", "revoked_by", "status"}
    assert by_id[live_id]["organisation"] == "acme" and by_id[gone_id]["organisation"] is None
    text = json.dumps(rows)
    for secret in (live, gone, old, *digests):
        assert secret not in text


def test_the_command_line_creates_lists_and_revokes(app, client, database_url):
    """`certamen token create|list|revoke` as an operator runs them, against the app's database."""
    import os
    import subprocess
    import sys

    def certamen(*args, check=True):
        proc = subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True,
                              env={**os.environ, "DATABASE_URL": database_url}, timeout=300)
        assert not check or proc.returncode == 0, proc.stderr
        return proc

    certamen("org", "create", "acme", "--name", "Acme Ltd")
    unscoped = certamen("token", "create", "--role", "hr", check=False)
    assert unscoped.returncode == 1 and "--org SLUG" in unscoped.stderr and not unscoped.stdout
    made = certamen("token", "create", "--role", "hr", "--org", "acme", "--label", "payroll sync",
                    "--expires-days", "30", "--by", "Grace")
    token = made.stdout.strip()
    assert token.startswith("ctm_") and "\n" not in token and "30 days" in made.stderr
    assert client.get(ROSTER, headers=_auth(token)).status_code == 200
    listed = json.loads(certamen("token", "list", "--json").stdout)
    assert [(r["role"], r["label"], r["status"]) for r in listed] == [("hr", "payroll sync", "active")]
    assert listed[0]["last_used"] is not None
    text = certamen("token", "list").stdout
    assert "payroll sync" in text and token not in text and token[4:] not in text
    with _db(app) as db:
        assert accounts.token_digest(token) not in text + json.dumps(listed)
        created = db.execute(select(AuditEvent).where(AuditEvent.kind == "token.create")).scalar_one()
        assert created.actor == "cli:Grace"
    token_id = listed[0]["id"]
    missing = certamen("token", "revoke", str(token_id), check=False)
    assert missing.returncode == 2 and "--by" in missing.stderr  # who revokes is not optional
    assert "revoked" in certamen("token", "revoke", str(token_id), "--by", "Alan", "--reason", "rotated").stdout
    assert client.get(ROSTER, headers=_auth(token)).status_code == 401
    assert json.loads(certamen("token", "list", "--json").stdout)[0]["revoked_by"] == "cli:Alan"
    assert "already" in certamen("token", "revoke", str(token_id), "--by", "Alan").stdout
    unknown = certamen("token", "revoke", "424242", "--by", "Alan", check=False)
    assert unknown.returncode == 1 and "no staff token" in unknown.stderr and "Traceback" not in unknown.stderr
    too_long = certamen("token", "create", "--role", "hr", "--org", "acme", "--expires-days", "5000", check=False)
    assert too_long.returncode == 1 and "730" in too_long.stderr
