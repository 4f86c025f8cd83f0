"""Rows of a certification programme written straight into the tables (sittings, certificates), for tests of
what the console and the roster make of them. The answer path and issuance have their own tests."""
from __future__ import annotations

import datetime as dt
import itertools
import secrets

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage import Certificate, ParameterSet, Sitting

_status_index = itertools.count(10_000 + secrets.randbelow(10_000) * 1000)


def sitting(db: Session, candidate_id: int, exam_id: str, *, state: str = "completed", decision: str | None = None,
            started: dt.datetime, finished: dt.datetime | None = None) -> Sitting:
    row = Sitting(id="s_" + secrets.token_hex(8), candidate_id=candidate_id, exam_id=exam_id, exam_version=1,
                  parameter_set_id=db.execute(select(func.max(ParameterSet.id))).scalar_one(), state=state,
                  seed=1, cat_config={}, decision=decision, started_at=started,
                  finished_at=finished if finished is not None or state == "in_progress" else started)
    db.add(row)
    db.flush()
    return row


def certificate(db: Session, candidate_id: int, exam_id: str, *, issued: dt.datetime, valid_until: dt.datetime,
                exam_version: int = 1, revoked: bool = False, suspended: bool = False) -> Certificate:
    passed = sitting(db, candidate_id, exam_id, decision="pass", started=issued)
    same = (Certificate.candidate_id == candidate_id, Certificate.exam_id == exam_id)
    newest = db.execute(select(Certificate.id).where(*same, Certificate.issued_at > issued)).first() is None
    if newest:  # as issuance does: the latest certificate is the current one
        db.execute(update(Certificate).where(*same).values(is_current=False))
    cert = Certificate(id="C-" + secrets.token_hex(5).upper(), candidate_id=candidate_id, exam_id=exam_id,
                       is_current=newest, exam_version=exam_version, session_id=passed.id, issued_at=issued,
                       valid_from=issued, valid_until=valid_until, status_index=next(_status_index),
                       revoked_at=issued if revoked else None, suspended_at=issued if suspended else None,
                       cryptosuite="eddsa-rdfc-2022", verification_method="did:web:example#k", credential={})
    db.add(cert)
    db.flush()
    return cert


def acme_organisation_id(db: Session) -> int:
    """The id of organisation `acme` (created on first use), which the tests' hr tokens act for."""
    from organisations.organisations import OrganisationError, create_organisation, organisation

    try:
        return organisation(db, "acme").id
    except OrganisationError:
        return create_organisation(db, "acme", "Acme Ltd", actor="test").id


ROSTER = (b"name,email,employee_id,department,site,manager_email\n"
          b"Ana Lima,ana@acme.example,E1,Sales,Lisbon,mia@acme.example\n"
          b"Bo Chen,bo@acme.example,E2,Support,Porto,mia@acme.example\n"
          b"Cy Diaz,cy@acme.example,E3,Sales,Porto,other@acme.example\n")


def two_organisations(factory) -> tuple[dict[str, str], dict[str, object]]:
    """acme (3 people: Ana certified, Bo failed, Cy nothing yet; HR and Ana and Bo's manager Mia) and globex
    (Zed, certified; its HR). Returns each staff member's one-time sign-in link token, and the ids."""
    from organisations.assignments import assign
    from organisations.enrolment import enrol
    from organisations.organisations import create_organisation
    from organisations.staff import add_staff
    from storage import Employee
    from storage.db import transaction

    now, day = dt.datetime.now(dt.UTC), dt.timedelta(days=1)
    links = {}
    with transaction(factory) as db:
        acme = create_organisation(db, "acme", "Acme Ltd", actor="test")
        globex = create_organisation(db, "globex", "Globex", actor="test")
        enrol(db, acme, ROSTER, actor="test")
        enrol(db, globex, b"name,email\nZed Zane,zed@globex.example\n", actor="test")
        for org in (acme, globex):
            assign(db, org, exam_id="social-media-frontline", due_at=now + 10 * day, actor="test")
        people = {e.email: e for e in db.execute(select(Employee)).scalars()}
        ana_cert = certificate(db, people["ana@acme.example"].candidate_id, "social-media-frontline",
                               issued=now - 5 * day, valid_until=now + 360 * day)
        sitting(db, people["bo@acme.example"].candidate_id, "social-media-frontline", decision="fail",
                started=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))  # after the assignment
        zed_cert = certificate(db, people["zed@globex.example"].candidate_id, "social-media-frontline",
                               issued=now - 5 * day, valid_until=now + 360 * day)
        for email, role, org in (("hr@acme.example", "hr", acme), ("mia@acme.example", "manager", acme),
                                 ("hr@globex.example", "hr", globex)):
            links[email] = add_staff(db, email=email, role=role, organisation=org, actor="test")[1].token
        ids = {"ana": people["ana@acme.example"].id, "bo": people["bo@acme.example"].id,
               "cy": people["cy@acme.example"].id, "zed": people["zed@globex.example"].id,
               "ana_cert": ana_cert.id, "zed_cert": zed_cert.id}
    return links, ids
