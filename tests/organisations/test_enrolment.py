"""Enrolling and assigning: idempotent re-uploads, people who leave, standing assignments for new hires,
all or nothing, and one organisation never seeing another's people."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from organisations.assignments import AssignmentError, assign
from organisations.enrolment import enrol
from organisations.organisations import create_organisation
from organisations.roster_csv import RosterFileError
from storage import AssignedExam, Candidate, Employee, Organisation
from storage.db import make_engine, make_session_factory, transaction
from storage.tenancy import scoped_to

ROSTER = (b"name,email,employee_id,department,site,manager_email\n"
          b"Ana Lima,ana@acme.example,E1,Sales,Lisbon,boss@acme.example\n"
          b"Bo Chen,bo@acme.example,E2,Support,Porto,boss@acme.example\n"
          b"Cy Diaz,cy@acme.example,,Sales,Porto,\n")
DUE = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)


@pytest.fixture
def acme(database_url):
    """A database with the bundled bank (SQLite and PostgreSQL) and one organisation in it."""
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with transaction(factory) as db:
        create_organisation(db, "acme", "Acme Ltd", actor="test")
    yield factory
    engine.dispose()


def _org(db, slug="acme") -> Organisation:
    return db.execute(select(Organisation).where(Organisation.slug == slug)).scalar_one()


def _people(db, slug="acme") -> dict[str, Employee]:
    return {p.email: p for p in db.execute(select(Employee).where(Employee.organisation_id == _org(db, slug).id))
            .scalars()}


def test_a_roster_enrols_people_and_a_second_upload_changes_nothing(acme):
    with transaction(acme) as db:
        first = enrol(db, _org(db), ROSTER, actor="test")
    assert (first.added, first.updated, first.new_accounts) == (3, 0, 3)
    with transaction(acme) as db:
        again = enrol(db, _org(db), ROSTER, actor="test")
        people = _people(db)
        assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
        assert len(people) == 3 and people["ana@acme.example"].department.name == "Sales"
        assert people["cy@acme.example"].employee_number is None
        assert db.execute(select(func.count()).select_from(Candidate)
                          .where(Candidate.email.like("%@acme.example"))).scalar() == 3


def test_a_changed_row_updates_the_person_it_names(acme):
    with transaction(acme) as db:
        enrol(db, _org(db), ROSTER, actor="test")
    moved = ROSTER.replace(b"Bo Chen,bo@acme.example,E2,Support", b"Bo Chen,bo.chen@acme.example,E2,Sales")
    with transaction(acme) as db:
        report = enrol(db, _org(db), moved, actor="test")
        people = _people(db)
    assert (report.added, report.updated) == (0, 1)
    assert "bo@acme.example" not in people and people["bo.chen@acme.example"].employee_number == "E2"


def test_people_who_left_are_deactivated_not_deleted(acme):
    with transaction(acme) as db:
        enrol(db, _org(db), ROSTER, actor="test")
    only_ana = b"name,email,employee_id\nAna Lima,ana@acme.example,E1\n"
    with transaction(acme) as db:
        report = enrol(db, _org(db), only_ana, actor="test", deactivate_missing=True)
        people = _people(db)
    assert report.deactivated == 2
    assert [p.active for p in people.values()].count(False) == 2 and people["bo@acme.example"].left_at is not None
    with transaction(acme) as db:
        back = enrol(db, _org(db), ROSTER, actor="test")
    assert back.reactivated == 2


def test_a_file_with_one_bad_line_changes_nothing(acme):
    with transaction(acme) as db:
        enrol(db, _org(db), ROSTER, actor="test")
    broken = ROSTER.replace(b"Ana Lima", b"Ana Maria Lima") + b"Dee,not-an-address,E9,,,\n"
    with pytest.raises(RosterFileError, match="line 5"):
        with transaction(acme) as db:
            enrol(db, _org(db), broken, actor="test")
    with transaction(acme) as db:
        assert _people(db)["ana@acme.example"].name == "Ana Lima" and len(_people(db)) == 3


def test_an_assignment_reaches_its_scope_and_later_hires(acme):
    with transaction(acme) as db:
        enrol(db, _org(db), ROSTER, actor="test")
        _, reached = assign(db, _org(db), exam_id="social-media-frontline", due_at=DUE, department="Sales",
                            due_days=14, actor="test")
    assert reached == 2
    with transaction(acme) as db:
        enrol(db, _org(db), ROSTER + b"Eve Ng,eve@acme.example,E5,Sales,Lisbon,\n", actor="test")
        eve = _people(db)["eve@acme.example"]
        given = db.execute(select(AssignedExam).where(AssignedExam.employee_id == eve.id)).scalar_one()
        assert given.exam_id == "social-media-frontline"
        assert dt.timedelta(days=13) < given.due_at.replace(tzinfo=dt.UTC) - eve.enrolled_at.replace(
            tzinfo=dt.UTC) <= dt.timedelta(days=14, seconds=1)


@pytest.mark.parametrize("kwargs, message", [
    ({"exam_id": "nope"}, "no exam 'nope'"),
    ({"department": "Legal"}, "no department 'Legal'"),
    ({"emails": ["zed@acme.example"]}, "not enrolled"),
    ({"department": "Sales", "site": "Porto"}, "not several"),
])
def test_an_assignment_that_cannot_be_made_says_why(acme, kwargs, message):
    with transaction(acme) as db:
        enrol(db, _org(db), ROSTER, actor="test")
    with pytest.raises(AssignmentError, match=message):
        with transaction(acme) as db:
            assign(db, _org(db), **{"exam_id": "social-media-frontline", "due_at": DUE, "actor": "test", **kwargs})


def test_one_organisation_never_sees_anothers_people(acme):
    with transaction(acme) as db:
        create_organisation(db, "globex", "Globex", actor="test")
        enrol(db, _org(db), ROSTER, actor="test")
        enrol(db, _org(db, "globex"), b"name,email\nGus,gus@globex.example\n", actor="test")
    with transaction(acme) as db:
        globex = _org(db, "globex")
        gus = _people(db, "globex")["gus@globex.example"]
        with scoped_to(db, _org(db).id):
            assert db.get(Employee, gus.id, populate_existing=True) is None
            visible = db.execute(select(Employee)).scalars().all()
            assert {p.email for p in visible} == {"ana@acme.example", "bo@acme.example", "cy@acme.example"}
        with scoped_to(db, globex.id):
            assert [p.email for p in db.execute(select(Employee)).scalars()] == ["gus@globex.example"]
