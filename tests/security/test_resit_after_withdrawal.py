"""A suspended or revoked holder cannot sit again at once for a fresh certificate.

The attack (issue 25, 2): staff suspend or revoke a certificate; its holder starts the exam again,
passes, and a new valid certificate follows. Now starting the exam -- the full exam or its
recertification exam -- is refused with the reason, and so is issuing on a sitting that was already
under way, until staff reinstate the certificate or allow a re-sit (`certamen cert allow-resit`, or
the admin route), which is audited with who and why.
"""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from insider import FRONTLINE, MANAGER, RECERT, admin_post, certificate_of, cli, db_of, events_of, result, sit, start
from learners import answer_to_the_end, sign_in
from sqlalchemy import func, select, update

from certs.records import audit_report
from certs.service import REFUSED_KIND
from migrations import alembic_config, upgrade
from storage import Certificate, ResitAllowance, utcnow
from storage.db import Base, make_engine

EMAIL = "holder@example.com"


def _withdrawn(client, app, role_token, action: str) -> str:
    cert_id = certificate_of(client, sit(client, app, email=EMAIL, correct=True))
    r = admin_post(client, role_token, f"/certificates/{cert_id}/{action}", {"reason": "shared the answers"})
    assert r.status_code == 200, r.get_json()
    return cert_id


def _near_expiry(app, cert_id: str) -> None:
    """Inside the renewal window, so that only the withdrawal stands in the way of the recertification exam."""
    with db_of(app) as db:
        db.execute(update(Certificate).where(Certificate.id == cert_id)
                   .values(valid_until=utcnow() + dt.timedelta(days=10)))


def _refused(response, cert_id: str, state: str) -> None:
    assert response.status_code == 409, response.get_json()
    error = response.get_json()["error"]
    assert f"your certificate {cert_id}" in error and f"is {state} (shared the answers)" in error
    assert "until an administrator" in error


@pytest.mark.parametrize("exam", [FRONTLINE, RECERT], ids=["same-exam", "recertification-exam"])
@pytest.mark.parametrize("action", ["suspend", "revoke"])
def test_a_withdrawn_holder_cannot_start_the_exam_again(client, app, role_token, action, exam):
    cert_id = _withdrawn(client, app, role_token, action)
    _near_expiry(app, cert_id)
    _refused(start(client, exam), cert_id, f"{action}ed".replace("ee", "e"))
    assert start(client, MANAGER).status_code == 201  # another certification is not barred


def test_a_sitting_under_way_when_the_certificate_was_withdrawn_earns_none(client, app, role_token):
    """Started while the first certificate was valid (as a second full sitting), passed after its suspension."""
    cert_id = certificate_of(client, sit(client, app, email=EMAIL, correct=True))
    running = start(client, FRONTLINE)
    assert running.status_code == 201
    assert admin_post(client, role_token, f"/certificates/{cert_id}/suspend",
                      {"reason": "shared the answers"}).status_code == 200
    view = running.get_json()
    sid = view["session_id"]
    answer_to_the_end(client, app, view, correct=True)  # the last answer is recorded, its certificate refused
    assert client.get(f"/api/v1/sessions/{sid}").get_json()["state"] == "completed"
    _refused(result(client, sid), cert_id, "suspended")
    with db_of(app) as db:
        assert db.execute(select(func.count()).select_from(Certificate)).scalar() == 1
        [event] = events_of(db, kind=REFUSED_KIND, subject=f"issuance:{sid}")
        assert event.data == {"session": sid, "reason": "withdrawn_certificate", "certificate": cert_id}


def test_reinstating_lifts_the_bar(client, app, role_token):
    cert_id = _withdrawn(client, app, role_token, "suspend")
    _refused(start(client, FRONTLINE), cert_id, "suspended")
    reinstated = admin_post(client, role_token, f"/certificates/{cert_id}/reinstate", {"reason": "cleared"})
    assert reinstated.status_code == 200
    assert start(client, FRONTLINE).status_code == 201


def test_staff_allow_a_resit_through_the_admin_route_and_it_is_audited(client, app, role_token):
    cert_id = _withdrawn(client, app, role_token, "revoke")
    assert admin_post(client, role_token, f"/certificates/{cert_id}/allow-resit", {}).status_code == 400  # no reason
    r = admin_post(client, role_token, f"/certificates/{cert_id}/allow-resit", {"reason": "retrained in March"})
    assert r.status_code == 201 and r.get_json()["reason"] == "retrained in March"
    new = certificate_of(client, sit(client, app, email=EMAIL, correct=True))
    assert new != cert_id
    with db_of(app) as db:
        [event] = events_of(db, kind="certificate.allow_resit", subject=f"certificate:{cert_id}")
        assert event.actor.startswith("token:") and event.actor.endswith(":admin")  # the staff token that allowed it
        assert event.data["reason"] == "retrained in March" and event.data["allowance"] == r.get_json()["id"]
        assert audit_report(db, app.extensions["issuer"].keys.trust_store()).ok


def test_staff_allow_a_resit_from_the_command_line(client, app, role_token):
    cert_id = _withdrawn(client, app, role_token, "suspend")
    proc = cli(["cert", "allow-resit", cert_id, "--reason", "appeal upheld", "--by", "Dr Rasch"], app)
    assert "may sit the exam again" in proc.stdout
    with db_of(app) as db:
        [event] = events_of(db, kind="certificate.allow_resit", subject=f"certificate:{cert_id}")
        assert (event.actor, event.data["reason"]) == ("cli:Dr Rasch", "appeal upheld")
    sign_in(client, EMAIL)
    assert start(client, FRONTLINE).status_code == 201
    missing = cli(["cert", "allow-resit", "NO-SUCH-CERT", "--reason", "x", "--by", "x"], app, check=False)
    assert missing.returncode == 1 and "no certificate 'NO-SUCH-CERT'" in missing.stderr


def test_an_allowance_covers_only_the_withdrawal_it_was_given_for(client, app, role_token):
    cert_id = _withdrawn(client, app, role_token, "suspend")
    admin_post(client, role_token, f"/certificates/{cert_id}/allow-resit", {"reason": "appeal"})
    assert admin_post(client, role_token, f"/certificates/{cert_id}/revoke", {"reason": "shared the answers"}
                      ).status_code == 200
    _refused(start(client, FRONTLINE), cert_id, "revoked")


def test_a_resit_cannot_be_allowed_on_a_valid_certificate(client, app, role_token):
    cert_id = certificate_of(client, sit(client, app, email=EMAIL, correct=True))
    r = admin_post(client, role_token, f"/certificates/{cert_id}/allow-resit", {"reason": "why not"})
    assert r.status_code == 409 and "nothing bars a re-sit" in r.get_json()["error"]


def test_an_allowance_inserted_in_the_database_is_named(client, app, role_token):
    """The insider's way round the bar: write the allowance row, skip the audited route."""
    cert_id = _withdrawn(client, app, role_token, "revoke")
    with db_of(app) as db:
        db.add(ResitAllowance(certificate_id=cert_id, allowed_by="admin", reason="ok", allowed_at=utcnow()))
        db.flush()
        allowance = db.execute(select(ResitAllowance.id)).scalar_one()
        report = audit_report(db, app.extensions["issuer"].keys.trust_store())
    assert start(client, FRONTLINE).status_code == 201  # the bar is lifted in the database ...
    assert report.problems == [  # ... and audit verify names it
        f"re-sit allowance {allowance} for certificate {cert_id}: no certificate.allow_resit event (inserted in the "
        f"database)"]


@pytest.mark.parametrize("field", ["revoked_at", "suspended_at"])
def test_a_withdrawal_undone_in_the_database_is_named(client, app, role_token, field):
    action = "revoke" if field == "revoked_at" else "suspend"
    cert_id = _withdrawn(client, app, role_token, action)
    with db_of(app) as db:
        event = events_of(db, kind=f"certificate.{action}", subject=f"certificate:{cert_id}")[0]
        db.execute(update(Certificate).where(Certificate.id == cert_id).values({field: None}))
        report = audit_report(db, app.extensions["issuer"].keys.trust_store())
    state = f"{action}ed".replace("ee", "e")
    undone = "revocation undone" if action == "revoke" else "suspension lifted without a reinstatement"
    assert report.problems == [f"certificate {cert_id}: {state} by event {event.id}, but its row is not ({undone} "
                               f"in the database)"]


def test_a_withdrawal_written_in_the_database_is_named(client, app):
    cert_id = certificate_of(client, sit(client, app, email=EMAIL, correct=True))
    with db_of(app) as db:
        db.execute(update(Certificate).where(Certificate.id == cert_id).values(suspended_at=utcnow()))
        report = audit_report(db, app.extensions["issuer"].keys.trust_store())
    assert report.problems == [f"certificate {cert_id}: marked suspended, but no certificate.suspend event is in "
                               f"force (status set in the database)"]


def test_migration_0009_adds_the_allowances_table_as_the_model_has_it(empty_database_url):
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert [d for d in diffs if "resit_allowances" in repr(d)] == []
        command.downgrade(alembic_config(empty_database_url), "0008")
        assert "resit_allowances" not in sa.inspect(engine).get_table_names()
        upgrade(empty_database_url)
        assert "resit_allowances" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
