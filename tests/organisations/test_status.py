"""Each person's status on each required exam, as the database computes it: one case per status, the people
without requirements, filters and keyset paging, and agreement with certs.policy on certificate rules."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import select

from certs.policy import CertificateState, RecertPolicy, evaluate
from certs.policy import PolicyChange as PolicyRule
from organisations.assignments import assign
from organisations.enrolment import enrol
from organisations.organisations import create_organisation
from organisations.status import ExamClock, PeopleFilter, page_of, rows_of, status_counts
from storage import AssignedExam, Employee, Exam, Organisation, PolicyChange, Sitting, as_utc
from storage.db import make_engine, make_session_factory, transaction
from storage.tenancy import scoped_to
from tests.helpers.programme import certificate, sitting

EXAM = "social-media-frontline"
NOW = dt.datetime(2027, 1, 15, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
GIVEN = NOW - 40 * DAY  # when the requirement was given

PEOPLE = ["passed", "expiring", "in_progress", "withdrawn", "lapsed", "overdue", "failed", "not_started",
          "exempt", "recert_in_progress", "failed_before_given", "no_requirement"]


@pytest.fixture
def programme(database_url):
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    roster = "name,email,employee_id,department,site,manager_email\n" + "".join(
        f"{who.replace('_', ' ').title()},{who}@acme.example,E{i},{'Sales' if i % 2 else 'Support'},Lisbon,"
        f"{'boss@acme.example' if i < 4 else ''}\n" for i, who in enumerate(PEOPLE))
    with transaction(factory) as db:
        org = create_organisation(db, "acme", "Acme Ltd", actor="test")
        enrol(db, org, roster.encode(), actor="test")
        late = [f"{who}@acme.example" for who in PEOPLE if who not in ("overdue", "no_requirement")]
        assign(db, org, exam_id=EXAM, due_at=NOW + 20 * DAY, emails=late, actor="test")
        assign(db, org, exam_id=EXAM, due_at=NOW - DAY, emails=["overdue@acme.example"], actor="test")
        db.execute(AssignedExam.__table__.update().values(assigned_at=GIVEN))
        who = {e.email.split("@")[0]: e for e in db.execute(select(Employee)).scalars()}
        recert = db.get(Exam, EXAM).recert_exam_id
        window = db.get(Exam, EXAM).recert_window_days
        certificate(db, who["passed"].candidate_id, EXAM, issued=NOW - 30 * DAY, valid_until=NOW + 300 * DAY)
        certificate(db, who["expiring"].candidate_id, EXAM, issued=NOW - 300 * DAY,
                    valid_until=NOW + (window - 5) * DAY)
        sitting(db, who["in_progress"].candidate_id, EXAM, state="in_progress", started=NOW - DAY)
        certificate(db, who["withdrawn"].candidate_id, EXAM, issued=NOW - 30 * DAY, valid_until=NOW + 300 * DAY,
                    revoked=True)
        certificate(db, who["lapsed"].candidate_id, EXAM, issued=NOW - 400 * DAY, valid_until=NOW - 10 * DAY)
        sitting(db, who["failed"].candidate_id, EXAM, decision="fail", started=NOW - 2 * DAY)
        sitting(db, who["failed_before_given"].candidate_id, EXAM, decision="fail", started=GIVEN - 5 * DAY)
        sitting(db, who["recert_in_progress"].candidate_id, recert, state="in_progress", started=NOW - DAY)
        share = db.execute(select(AssignedExam).join(Employee)
                           .where(Employee.email == "exempt@acme.example")).scalar_one()
        share.exempt_reason, share.exempt_by = "on long-term leave", "hr@acme.example"
        org_id = org.id
    yield factory, org_id
    engine.dispose()


def _rows(factory, org_id, people=None, reports_of=None):
    with factory() as db, scoped_to(db, org_id, reports_of=reports_of):
        clock = ExamClock.at(db, NOW)
        return {r["email"].split("@")[0]: r for r in rows_of(db, clock, people or PeopleFilter())}


def test_every_status_is_told_apart(programme):
    rows = _rows(*programme)
    assert {who: r["status"] for who, r in rows.items()} == {
        "passed": "passed", "expiring": "expiring", "in_progress": "in_progress", "withdrawn": "withdrawn",
        "lapsed": "lapsed", "overdue": "overdue", "failed": "failed", "not_started": "not_started",
        "exempt": "exempt", "recert_in_progress": "in_progress", "failed_before_given": "not_started",
        "no_requirement": "none"}
    assert rows["failed"]["retake_from"] is not None and rows["failed"]["retake_from"] > NOW - 2 * DAY
    assert rows["passed"]["retake_from"] is None
    assert rows["exempt"]["exempt_by"] == "hr@acme.example"
    assert rows["passed"]["certificate_id"] and rows["not_started"]["certificate_id"] is None


def test_counts_agree_with_the_rows(programme):
    factory, org_id = programme
    rows = _rows(factory, org_id)
    with factory() as db, scoped_to(db, org_id):
        counts = status_counts(db, ExamClock.at(db, NOW))
    expected: dict[str, int] = {}
    for r in rows.values():
        expected[r["status"]] = expected.get(r["status"], 0) + 1
    assert {k: v for k, v in counts.items() if v} == expected


def test_filters_narrow_the_list(programme):
    factory, org_id = programme
    assert set(_rows(factory, org_id, PeopleFilter(status="overdue"))) == {"overdue"}
    assert set(_rows(factory, org_id, reports_of="boss@acme.example")) == set(PEOPLE[:4])
    assert set(_rows(factory, org_id, PeopleFilter(status="lapsed"), reports_of="boss@acme.example")) == set()
    assert set(_rows(factory, org_id, PeopleFilter(search="LAPS"))) == {"lapsed"}
    assert set(_rows(factory, org_id, PeopleFilter(search="%"))) == set()  # a wildcard is a character
    with factory() as db, scoped_to(db, org_id):
        sales = db.execute(select(Employee.department_id).where(Employee.email == "passed@acme.example")).scalar()
    assert set(_rows(factory, org_id, PeopleFilter(department_id=sales))) == {
        who for i, who in enumerate(PEOPLE) if i % 2 == 0}


def test_keyset_pages_cover_everyone_once(programme):
    factory, org_id = programme
    seen, after = [], None
    with factory() as db, scoped_to(db, org_id):
        clock = ExamClock.at(db, NOW)
        while True:
            page = page_of(db, clock, PeopleFilter(), after=after, size=5)
            if not page:
                break
            seen += [r["email"] for r in page]
            last = page[-1]
            after = (last["name"], last["employee_id"], last["exam_id"] or "")
    assert len(seen) == len(PEOPLE) == len(set(seen))


def test_another_organisations_people_are_not_counted(programme):
    factory, org_id = programme
    with transaction(factory) as db:
        other = create_organisation(db, "globex", "Globex", actor="test")
        enrol(db, other, b"name,email\nZed,zed@globex.example\n", actor="test")
        other_id = other.id
    assert set(_rows(factory, other_id)) == {"zed"}
    assert "zed" not in _rows(factory, org_id)


def test_certificate_rules_agree_with_the_policy_module(programme):
    """Random certificates (expiry, revocation, suspension, version, policy deadlines) give the same answer
    as certs.policy.evaluate: valid or not, renewal window open or not."""
    factory, org_id = programme
    rng = random.Random(7)
    with transaction(factory) as db:
        exam = db.get(Exam, EXAM)
        deadline = NOW + rng.randint(-30, 90) * DAY
        db.add(PolicyChange(exam_id=EXAM, min_exam_version=3, deadline=deadline, reason="test"))
        people = list(db.execute(select(Employee).where(Employee.email.like("not_started%"))).scalars())
        org = db.get(Organisation, org_id)
        extra = "name,email\n" + "".join(f"P{i},p{i}@acme.example\n" for i in range(60))
        enrol(db, org, extra.encode(), actor="test")
        assign(db, org, exam_id=EXAM, due_at=NOW + DAY, emails=[f"p{i}@acme.example" for i in range(60)],
               actor="test")
        people = {e.email: e for e in db.execute(select(Employee).where(Employee.email.like("p%@acme.example")))
                  .scalars()}
        expected = {}
        policy = RecertPolicy(validity_months=exam.validity_months, recert_window_days=exam.recert_window_days,
                              grace_days=exam.grace_days)
        for i in range(60):
            issued = NOW - rng.randint(1, 700) * DAY
            state = CertificateState(valid_until=NOW + rng.randint(-100, 200) * DAY + rng.randint(0, 86399) *
                                     dt.timedelta(seconds=1), exam_version=str(rng.choice([1, 2, 3, 4])),
                                     revoked=rng.random() < 0.1, suspended=rng.random() < 0.1, valid_from=issued)
            certificate(db, people[f"p{i}@acme.example"].candidate_id, EXAM, issued=issued,
                        valid_until=state.valid_until, exam_version=int(state.exam_version), revoked=state.revoked,
                        suspended=state.suspended)
            decision = evaluate(state, policy, NOW, [PolicyRule(min_exam_version="3", deadline=deadline)])
            if decision.status in ("revoked", "suspended"):
                expected[f"p{i}"] = "withdrawn"
            elif decision.status == "expired":
                expected[f"p{i}"] = "lapsed"
            else:
                expected[f"p{i}"] = "expiring" if decision.renewal_allowed else "passed"
    rows = _rows(factory, org_id)
    assert {who: rows[who]["status"] for who in expected} == expected
    assert len(set(expected.values())) == 4


def test_a_page_and_the_bulk_read_agree_row_for_row(programme):
    """A page (50 rows, index probes) and the whole organisation (one pass, hash joins) read the same rows."""
    factory, org_id = programme
    with transaction(factory) as db:  # a second, older certificate beside the current one must not count
        lapsed = db.execute(select(Employee).where(Employee.email == "lapsed@acme.example")).scalar_one()
        certificate(db, lapsed.candidate_id, EXAM, issued=NOW - 900 * DAY, valid_until=NOW - 500 * DAY)
    with factory() as db, scoped_to(db, org_id):
        clock = ExamClock.at(db, NOW)
        paged = page_of(db, clock, PeopleFilter(), size=100)
        bulk = list(rows_of(db, clock, PeopleFilter()))
    assert paged == bulk and len(bulk) == len(PEOPLE)


def test_the_dashboard_counts_this_months_sittings_and_the_rates(programme):
    from organisations.dashboard import dashboard

    factory, org_id = programme
    with factory() as db, scoped_to(db, org_id):
        board = dashboard(db, ExamClock.at(db, NOW), PeopleFilter(), expiring_days=30)
        month = db.execute(select(Sitting).where(Sitting.state == "completed")).scalars().all()
    this_month = [s for s in month if as_utc(s.finished_at).strftime("%Y-%m") == NOW.strftime("%Y-%m")]
    assert board.trend[-1]["month"] == NOW.strftime("%Y-%m") and len(board.trend) == 12
    assert board.trend[-1]["finished"] == len(this_month) > 0
    assert board.trend[-1]["passed"] == sum(s.decision == "pass" for s in this_month)
    assert board.counts["passed"] == 1 and board.met == 3  # passed, expiring, exempt
    assert board.required == len(PEOPLE) - 1 and board.completion_rate == pytest.approx(3 / (len(PEOPLE) - 1))


def test_the_database_writes_the_same_csv_as_python(programme, database_url):
    """PostgreSQL writes the export itself (COPY); it must say exactly what the Python writer says, formulas
    neutralised included, and stay inside the organisation (and a manager's reports)."""
    import csv
    import io

    from organisations.exports import csv_chunks, csv_stream

    factory, org_id = programme
    with transaction(factory) as db:
        enrol(db, db.get(Organisation, org_id), b"name,email,department,manager_email\n"
              b"=HYPERLINK(\"x\"),formula@acme.example,+Sales,boss@acme.example\n", actor="test")
        other = create_organisation(db, "globex", "Globex", actor="test")
        enrol(db, other, b"name,email\nZed,zed@globex.example\n", actor="test")
    exports = {}
    for reports_of in (None, "boss@acme.example"):
        with factory() as db, scoped_to(db, org_id, reports_of=reports_of):
            clock = ExamClock.at(db, NOW)
            python = list(csv.reader(io.StringIO("".join(csv_chunks(rows_of(db, clock, PeopleFilter()))))))
            written = list(csv.reader(io.StringIO("".join(csv_stream(db, clock, PeopleFilter())))))
        assert written == python and len(python) > 1
        assert not any("globex" in cell for row in python for cell in row)
        exports[reports_of] = python
    assert len(exports["boss@acme.example"]) == 1 + 5 < len(exports[None])  # the header, 4 reports and one more
    formula = next(row for row in exports[None] if row[1] == "formula@acme.example")
    assert formula[0].startswith("'=") and formula[3] == "'+Sales"
    assert any(row[15] for row in exports[None][1:])  # a retake date, written by both
