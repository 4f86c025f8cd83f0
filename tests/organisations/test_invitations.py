"""Invitation links: a signed-in learner who opens one joins the organisation (once), gets its standing
assignments and appears on its roster; a link for another domain, an expired one or a forged one enrols
nobody; HR makes them in the console or on the command line."""
from __future__ import annotations

import datetime as dt
import re

from learners import sign_in
from sqlalchemy import select, update

from organisations.assignments import assign
from organisations.invitations import invite
from organisations.organisations import organisation
from storage import AssignedExam, Employee, Invitation
from storage.db import transaction
from tests.helpers.programme import acme_organisation_id


def _csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))[1]


def _join(client, token: str):
    return client.post("/join", data={"csrf_token": _csrf(client, "/join"), "token": token})


def _web_sign_in(client, email: str) -> None:
    sign_in(client, email)  # creates the account
    client.post("/signin", data={"csrf_token": _csrf(client, "/signin"), "email": email,
                                 "password": "a long passphrase"})


def test_a_learner_joins_once_and_gets_the_standing_assignments(app, client, role_token):
    factory = app.extensions["db_factory"]
    with transaction(factory) as db:
        acme_organisation_id(db)
        acme = organisation(db, "acme")
        assign(db, acme, exam_id="social-media-frontline", due_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
               actor="test")
        link = invite(db, acme, actor="test", email_domain="acme.example")
    assert _join(client, link.token).status_code == 401  # signed out: nobody to enrol
    _web_sign_in(client, "newhire@acme.example")
    first = _join(client, link.token)
    assert first.status_code == 200 and "You have joined Acme Ltd" in first.get_data(as_text=True)
    again = _join(client, link.token)
    assert "already part of Acme Ltd" in again.get_data(as_text=True)
    with transaction(factory) as db:
        person = db.execute(select(Employee).where(Employee.email == "newhire@acme.example")).scalar_one()
        assert db.execute(select(AssignedExam.exam_id).where(AssignedExam.employee_id == person.id)).scalars().all() \
            == ["social-media-frontline"]
        assert db.execute(select(Invitation.joined)).scalar_one() == 1
    roster = client.get("/api/v1/hr/roster", headers={"Authorization": f"Bearer {role_token('hr')}"}).get_json()
    assert [p["email"] for p in roster["people"]] == ["newhire@acme.example"]


def test_the_wrong_domain_an_expired_or_a_forged_link_enrols_nobody(app, client):
    factory = app.extensions["db_factory"]
    with transaction(factory) as db:
        acme_organisation_id(db)
        acme = organisation(db, "acme")
        domain_link = invite(db, acme, actor="test", email_domain="acme.example")
        old_link = invite(db, acme, actor="test")
        db.execute(update(Invitation).where(Invitation.email_domain.is_(None))
                   .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    _web_sign_in(client, "someone@gmail.example")
    wrong = _join(client, domain_link.token)
    assert wrong.status_code == 403 and "acme.example" in wrong.get_data(as_text=True)
    assert _join(client, old_link.token).status_code == 422
    assert _join(client, "inv_" + "x" * 40).status_code == 422
    assert _join(client, "not a token").status_code == 422
    with transaction(factory) as db:
        assert db.execute(select(Employee)).first() is None


def test_hr_makes_a_link_in_the_console(app, client):
    from organisations.staff import add_staff

    with transaction(app.extensions["db_factory"]) as db:
        acme_organisation_id(db)
        staff_link = add_staff(db, email="hr@acme.example", role="hr", organisation=organisation(db, "acme"),
                               actor="test")[1]
    client.post("/console/signin/link", data={"csrf_token": _csrf(client, "/console/signin/link"),
                                              "token": staff_link.token})
    page = client.post("/console/acme/invitations", data={"csrf_token": _csrf(client, "/console/acme/"),
                                                          "domain": "acme.example", "days": "7"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "/join#inv_" in text and "acme.example" in text
    bad = client.post("/console/acme/invitations", data={"csrf_token": _csrf(client, "/console/acme/"),
                                                         "domain": "not a domain"})
    assert bad.status_code == 422
