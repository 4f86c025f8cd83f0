"""The demo organisation `make run` loads, so that the employer console has a programme to show.

Northwind Retail (demo): about 300 people from a generated roster (six departments, four sites, managers
that people report to), the front-line exam assigned to everyone -- with earlier deadlines at the two sites
that went first, so some people are overdue -- and the managers' exam to the management department, with
some fourteen months of history behind it.

Every sitting in it is a real one: a simulated examinee, whose ability is drawn so that about three in four
sittings pass, answers the adaptive exam through delivery (`start_sitting`, then `submit_answer` item by
item, each answer correct with the probability the item's IRT parameters give at that ability), and each
pass gets its certificate from `certs.service.issue_for_session`, signed, so it verifies. Two certificates
are then suspended and one revoked through `certs.service.change_status`, with reasons.

What is back-dated, and what is not. The rows' clocks only. A finished sitting's start, presentations,
answers, deadline and finish (and its evidence by area) are placed on its day in the
past months, right after it ends, so that the retake rules see its real place in the history; its
certificate is issued with `now` at that finish, so issued_at, validFrom and validUntil -- in the row and
in the signed credential -- agree, and some certificates are expiring and a few have lapsed. The
organisation's own rows (created, enrolled, assigned) are back-dated to the start of the programme. The
audit trail keeps the time each event was really recorded (its hashes cover the time, and `audit verify`
checks them), and so do suspensions and revocations (certs.records checks their stamps against their
events' times): those happened "today". Sittings left in progress start today too: their time limit runs
from their real start.

Loading is idempotent: once the organisation is there and its load finished (an `organisation.demo_load`
event), it does nothing. A load that was interrupted (each answer commits, as delivery does) is resumed
by the next one: the roster and the plan come from the seed, and the exams already taken are not taken
again.
"""
from __future__ import annotations

import csv
import datetime as dt
import heapq
import io
import itertools
import random
import time
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from certs.service import IssuerSettings, change_status, issue_for_session
from engine.irt import logistic_prob
from errors import CertamenError, Kind
from item_bank import audit, delivery
from item_bank.delivery.engine_sessions import pool_of
from item_bank.delivery.rows import SittingRow
from item_bank.runtime import RuntimePool, item_content
from organisations.assignments import assign
from organisations.enrolment import enrol
from organisations.organisations import create_organisation
from storage import (
    AssignedExam,
    AuditEvent,
    Candidate,
    Certificate,
    Employee,
    Exam,
    Organisation,
    Response,
    Sitting,
    SittingArea,
    as_utc,
    utcnow,
)
from storage.db import transaction

SLUG = "northwind-demo"
NAME = "Northwind Retail (demo)"
DOMAIN = "northwind.example"
FRONTLINE = "social-media-frontline"
MANAGERS_EXAM = "social-media-manager"
MANAGEMENT = "Management"
ACTOR = "demo"
LOADED_KIND = "organisation.demo_load"
DAY = dt.timedelta(days=1)
PROGRAMME_DAYS = 425  # the organisation started its programme about fourteen months ago
MANAGERS_ASSIGNED_DAYS = 150  # ... and assigned the managers' exam five months ago

# Site -> (share of the people, {department: share of the site's people who are not managers}).
SITES: dict[str, tuple[float, dict[str, float]]] = {
    "Leeds": (0.30, {"Store Operations": 0.55, "Customer Service": 0.25, "Logistics": 0.20}),
    "Bristol": (0.25, {"Store Operations": 0.55, "Customer Service": 0.25, "Logistics": 0.20}),
    "Glasgow": (0.25, {"Store Operations": 0.55, "Customer Service": 0.25, "Logistics": 0.20}),
    "London HQ": (0.20, {"Customer Service": 0.35, "Marketing": 0.35, "Finance": 0.30}),
}
HEAD_OFFICE = "London HQ"
MANAGER_SHARE = 0.07

FIRST_NAMES = (
    "Aisha", "Alex", "Amara", "Amir", "Ana", "Anika", "Ben", "Björn", "Caitlin", "Callum", "Carlos", "Chloé",
    "Chidi", "Daniel", "Deepa", "Eilidh", "Elena", "Emeka", "Emily", "Ewan", "Farah", "Fatima", "Finn",
    "Grace", "Hamza", "Hannah", "Harry", "Imogen", "Isla", "Jack", "Jamal", "José", "Kai", "Kavya", "Laura",
    "Leon", "Lily", "Lucas", "Maya", "Mei", "Mohammed", "Nadia", "Niamh", "Noah", "Olga", "Oliver", "Omar",
    "Priya", "Rachel", "Rhys", "Rosa", "Ruth", "Sam", "Sara", "Siobhán", "Sofia", "Tariq", "Tom", "Yusuf",
    "Zoë",
)
LAST_NAMES = (
    "Adeyemi", "Ahmed", "Ali", "Anderson", "Baker", "Bennett", "Campbell", "Chen", "Clarke", "Costa", "Davies",
    "Evans", "Fraser", "Green", "Gupta", "Hall", "Hughes", "Hussain", "Jones", "Kaur", "Khan", "Kowalski",
    "Lewis", "MacDonald", "Martin", "Mitchell", "Morgan", "Murphy", "Nowak", "O'Brien", "Okafor", "Patel",
    "Price", "Reid", "Robertson", "Rossi", "Santos", "Scott", "Shah", "Singh", "Smith", "Stewart", "Taylor",
    "Thomas", "Thompson", "Walker", "Watson", "White", "Williams", "Wilson", "Wood", "Wright", "Young", "Zhang",
)

WITHDRAWALS = (
    ("revoke", "Shared a customer's order details in a public reply (case HR-2291); certificate withdrawn"),
    ("suspend", "Under review: complaint about a post made from the store's account (case HR-2304)"),
    ("suspend", "The sitting's identity check was queried by the store manager; suspended pending review"),
)


class DemoError(CertamenError):
    kind = Kind.CONFLICT


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    employee_id: str
    department: str
    site: str
    manager_email: str | None

    @property
    def is_manager(self) -> bool:
        return self.department == MANAGEMENT


@dataclass(order=True)
class Attempt:
    """One planned sitting: when (back-dated), who, which exam, at what ability; a failed one is retaken
    `retakes` more times at most, each after `gap_days` and with more ability (they studied)."""

    at: dt.datetime
    order: int
    email: str = field(compare=False)
    exam_id: str = field(compare=False)
    theta: float = field(compare=False)
    retakes: int = field(compare=False, default=0)
    gap_days: tuple[int, int] = field(compare=False, default=(10, 45))
    gain: tuple[float, float] = field(compare=False, default=(0.4, 0.9))


@dataclass
class Plan:
    people: list[Person]
    attempts: list[Attempt]  # back-dated sittings, any order
    in_progress: list[tuple[str, str, float, int]]  # (email, exam, theta, answers given so far), started now


@dataclass
class DemoReport:
    slug: str = SLUG
    loaded: bool = False  # False: the organisation was there already and nothing was done
    resumed: bool = False  # an interrupted load was finished
    people: int = 0
    sittings: int = 0
    passed: int = 0
    failed: int = 0
    in_progress: int = 0
    certificates: int = 0
    expiring_60_days: int = 0
    lapsed: int = 0
    revoked: int = 0
    suspended: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        if not self.loaded:
            return f"demo organisation {self.slug} is loaded already; nothing to do"
        return (f"demo organisation {self.slug} {'finished loading' if self.resumed else 'loaded'}: "
                f"{self.people} people, {self.sittings} sittings ({self.passed} passed, {self.failed} failed, "
                f"{self.in_progress} in progress), {self.certificates} certificates ({self.expiring_60_days} "
                f"expiring within 60 days, {self.lapsed} lapsed, {self.suspended} suspended, {self.revoked} "
                f"revoked) in {self.seconds:.1f} s")


# ---------------------------------------------------------------- the roster and the plan


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _weighted(rng: random.Random, shares: dict[str, float]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def roster(seed: int, size: int) -> list[Person]:
    """`size` invented people; managers (the Management department, at least two a site) report to the head
    of retail operations at head office, everyone else to a manager at their site."""
    if not 30 <= size <= len(FIRST_NAMES) * len(LAST_NAMES):
        raise DemoError(f"the demo roster has 30 to {len(FIRST_NAMES) * len(LAST_NAMES)} people, not {size}",
                        kind=Kind.INVALID)
    rng = random.Random(f"{seed}:roster")
    names = rng.sample([(f, la) for f in FIRST_NAMES for la in LAST_NAMES], size)
    # Three people at each site first (so every site has its managers), then by the sites' shares.
    sites = [site for site in SITES for _ in range(3)]
    sites += [_weighted(rng, {site: share for site, (share, _) in SITES.items()}) for _ in range(size - len(sites))]
    rng.shuffle(sites)
    managers: dict[str, list[int]] = {}
    for site in SITES:
        at_site = [n for n, s in enumerate(sites) if s == site]
        managers[site] = rng.sample(at_site, max(2, round(len(at_site) * MANAGER_SHARE)))
    emails = [f"{_slug(first)}.{_slug(last)}@{DOMAIN}" for first, last in names]
    head = managers[HEAD_OFFICE][0]
    people = []
    for n, ((first, last), site) in enumerate(zip(names, sites, strict=True)):
        if n in managers[site]:
            department, manager = MANAGEMENT, None if n == head else emails[head]
        else:
            department, manager = _weighted(rng, SITES[site][1]), emails[rng.choice(managers[site])]
        people.append(Person(name=f"{first} {last}", email=emails[n], employee_id=f"NW{10001 + n}",
                             department=department, site=site, manager_email=manager))
    return people


def roster_csv(people: list[Person]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "email", "employee_id", "department", "site", "manager_email", "status"])
    for p in people:
        writer.writerow([p.name, p.email, p.employee_id, p.department, p.site, p.manager_email or "", "active"])
    return out.getvalue().encode()


def _working_hours(rng: random.Random, day: dt.datetime) -> dt.datetime:
    return day.replace(hour=rng.randint(8, 17), minute=rng.randint(0, 59), second=rng.randint(0, 59), microsecond=0)


def _day(rng: random.Random, now: dt.datetime, days_ago: float) -> dt.datetime:
    """A working-hours moment `days_ago` days before `now`, at least three hours before it."""
    return min(_working_hours(rng, now - days_ago * DAY), now - dt.timedelta(hours=3, minutes=rng.randint(0, 120)))


def plan(seed: int, people: list[Person], now: dt.datetime) -> Plan:
    """Who sits what and when. Front-line exam: some a little over a year ago (certificates now lapsed or
    expiring), most over the year since, some in the last three weeks, a few who struggle and fail again,
    some who have not started and a few in the middle of it now. Managers' exam: most managers over the
    five months since it was assigned, some not yet (they are overdue)."""
    rng = random.Random(f"{seed}:plan")
    order = itertools.count()
    attempts: list[Attempt] = []
    busy = set(rng.sample(range(len(people)), max(3, len(people) // 75)))
    in_progress = []
    for n, person in enumerate(people):
        if n in busy:
            in_progress.append((person.email, FRONTLINE, rng.gauss(0.6, 0.85), rng.randint(3, 12)))
        else:
            r = rng.random()
            if r < 0.15:
                pass  # not started
            elif r < 0.94:
                days, theta = ((rng.uniform(370, 415), rng.gauss(0.6, 0.85)) if r < 0.175 else
                               (rng.uniform(306, 360), rng.gauss(0.6, 0.85)) if r < 0.285 else
                               (rng.uniform(21, 300), rng.gauss(0.6, 0.85)) if r < 0.82 else
                               (rng.uniform(0.5, 20), rng.gauss(0.3, 0.9)))
                attempts.append(Attempt(_day(rng, now, days), next(order), person.email, FRONTLINE, theta,
                                        retakes=2))
            else:  # struggling: fails, and fails again
                attempts.append(Attempt(_day(rng, now, rng.uniform(30, 200)), next(order), person.email, FRONTLINE,
                                        rng.uniform(-2.2, -1.2), retakes=1, gain=(0.0, 0.4)))
        if person.is_manager:
            r = rng.random()
            if r >= 0.2:
                days = rng.uniform(0.5, 9) if r < 0.3 else rng.uniform(12, MANAGERS_ASSIGNED_DAYS - 5)
                attempts.append(Attempt(_day(rng, now, days), next(order), person.email, MANAGERS_EXAM,
                                        rng.gauss(0.6, 0.8), retakes=2, gap_days=(8, 30)))
    return Plan(people, attempts, in_progress)


# ---------------------------------------------------------------- the organisation


def _midnight(when: dt.datetime) -> dt.datetime:
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def _create(db: Session, people: list[Person], now: dt.datetime) -> Organisation:
    """The organisation, its roster and its assignments, as HR would set them up (and audited as such), with
    the rows' dates moved back to the start of the programme."""
    for exam_id in (FRONTLINE, MANAGERS_EXAM):
        exam = db.get(Exam, exam_id)
        if exam is None or not exam.is_active:
            raise DemoError(f"the demo needs the exam {exam_id!r}: load the bank first (certamen init)")
    start = _midnight(now - PROGRAMME_DAYS * DAY) + dt.timedelta(hours=9)
    managers_from = _midnight(now - MANAGERS_ASSIGNED_DAYS * DAY) + dt.timedelta(hours=9)
    org = create_organisation(db, SLUG, NAME, actor=ACTOR, default_due_days=30)
    enrol(db, org, roster_csv(people), actor=ACTOR)
    everyone, _ = assign(db, org, exam_id=FRONTLINE, due_at=_midnight(now + 45 * DAY), actor=ACTOR)
    # The pilot site had two and a half months; the second site's deadline passed three weeks ago.
    pilot, _ = assign(db, org, exam_id=FRONTLINE, due_at=_midnight(start + 75 * DAY), site="Leeds",
                      standing=False, actor=ACTOR)
    second, _ = assign(db, org, exam_id=FRONTLINE, due_at=_midnight(now - 21 * DAY), site="Bristol",
                       standing=False, actor=ACTOR)
    managers, _ = assign(db, org, exam_id=MANAGERS_EXAM, due_at=_midnight(now - 10 * DAY), department=MANAGEMENT,
                         actor=ACTOR)
    enrolled = start - DAY
    org.created_at = enrolled - DAY
    emails = [p.email for p in people]
    db.execute(update(Employee).where(Employee.organisation_id == org.id)
               .values(enrolled_at=enrolled, updated_at=enrolled))
    db.execute(update(Candidate).where(Candidate.email.in_(emails)).values(created_at=enrolled))
    for assignment, created in ((everyone, start), (pilot, start), (second, now - 120 * DAY),
                                (managers, managers_from)):
        assignment.created_at = created
    for exam_id, given in ((FRONTLINE, start), (MANAGERS_EXAM, managers_from)):
        db.execute(update(AssignedExam).where(AssignedExam.organisation_id == org.id, AssignedExam.exam_id == exam_id)
                   .values(assigned_at=given))
    db.flush()
    return org


# ---------------------------------------------------------------- sittings, for real


def _answer(factory: sessionmaker[Session], pool: RuntimePool, session_id: str, candidate_id: int, theta: float,
            rng: random.Random) -> delivery.AnswerOutcome:
    """The simulated examinee answers the item presented: right with the probability its parameters give."""
    with factory() as db:  # reads only
        item_id, seq = db.execute(select(Sitting.pending_item_id, Sitting.pending_seq)
                                  .where(Sitting.id == session_id)).one()
        item = item_content(db, item_id)
        options = len(item.option_texts)
        written = item.key_index if rng.random() < _right(pool, item, theta) else rng.choice(
            [n for n in range(options) if n != item.key_index])
        choice = delivery.position_shown(db, session_id, written)  # the learner picks a position on screen
    return delivery.submit_answer(factory, session_id, seq=seq, item_ref=item.external_id, choice=choice,
                                  actor=f"candidate:{candidate_id}")


def _right(pool, item, theta: float) -> float:
    """The chance the simulated examinee answers `item` right: what its parameters give."""
    try:
        p = pool.position(item.id)
        return float(logistic_prob(theta, pool.a[p], pool.b[p], pool.c[p], pool.d[p]))
    except KeyError:  # an unscored pretest item: not in the calibrated pool
        return 0.55


def _sit(factory: sessionmaker[Session], candidate_id: int, exam_id: str, theta: float, rng: random.Random,
         stop_after: int | None = None) -> tuple[str, str | None]:
    """A sitting from start to finish (or to `stop_after` answers): its id and decision."""
    with transaction(factory) as db:
        started = delivery.start_sitting(db, candidate_id=candidate_id, exam_id=exam_id)
        session_id, pool = started.id, pool_of(db, SittingRow.of(started))
    answered = 0
    while stop_after is None or answered < stop_after:
        outcome = _answer(factory, pool, session_id, candidate_id, theta, rng)
        answered += 1
        if outcome.finished:
            return session_id, outcome.decision
    return session_id, None


_MOVE_RESPONSE = (update(Response).where(Response.id == bindparam("rid"))
                  .values(presented_at=bindparam("shown"), answered_at=bindparam("answered")))


def _backdate(db: Session, session_id: str, start: dt.datetime, rng: random.Random) -> dt.datetime:
    """Place a finished sitting at `start`, its answers 15-75 s apart; returns its finish."""
    sitting = db.get(Sitting, session_id)
    responses = db.execute(select(Response.id).where(Response.session_id == session_id)
                           .order_by(Response.seq)).scalars().all()
    moved, clock, shown = [], start, start
    for response_id in responses:
        shown, clock = clock, clock + dt.timedelta(seconds=rng.uniform(15, 75))
        moved.append({"rid": response_id, "shown": shown, "answered": clock})
    if moved:
        db.connection().execute(_MOVE_RESPONSE, moved)
    if sitting.deadline is not None:
        sitting.deadline = start + (as_utc(sitting.deadline) - as_utc(sitting.started_at))
    sitting.started_at, sitting.presented_at, sitting.finished_at = start, shown, clock
    db.flush()
    db.execute(update(SittingArea).where(SittingArea.sitting_id == session_id).values(finished_at=clock))
    return clock


def _run(factory: sessionmaker[Session], issuer: IssuerSettings, org_id: int, the_plan: Plan, seed: int,
         now: dt.datetime) -> None:
    """Every planned sitting, oldest first (a failed one queues its retake), then those left in progress.
    After an interrupted load, exams a candidate has taken already are not taken again, and a candidate it
    left in the middle of one sits nothing more (that sitting stays in progress)."""
    with transaction(factory) as db:
        candidates = dict(db.execute(select(Employee.email, Employee.candidate_id)
                                     .where(Employee.organisation_id == org_id)).all())
        taken: set[tuple[int, str]] = set()
        busy: set[int] = set()
        for candidate_id, exam_id, state in db.execute(select(Sitting.candidate_id, Sitting.exam_id, Sitting.state)
                                                       .where(Sitting.candidate_id.in_(list(candidates.values())))):
            taken.add((candidate_id, exam_id))
            if state == "in_progress":
                busy.add(candidate_id)
    queue = [a for a in the_plan.attempts
             if (candidates[a.email], a.exam_id) not in taken and candidates[a.email] not in busy]
    heapq.heapify(queue)
    order = itertools.count(len(the_plan.attempts))
    while queue:
        attempt = heapq.heappop(queue)
        candidate_id = candidates[attempt.email]
        rng = random.Random(f"{seed}:{attempt.email}:{attempt.exam_id}:{attempt.order}")
        session_id, decision = _sit(factory, candidate_id, attempt.exam_id, attempt.theta, rng)
        with transaction(factory) as db:
            finished = _backdate(db, session_id, attempt.at, rng)
            if decision == "pass":
                issue_for_session(db, session_id, issuer, now=finished)
        retake = finished + rng.uniform(*attempt.gap_days) * DAY
        if decision != "pass" and attempt.retakes > 0 and retake < now - 2 * DAY:
            heapq.heappush(queue, Attempt(_working_hours(rng, retake), next(order), attempt.email, attempt.exam_id,
                                          attempt.theta + rng.uniform(*attempt.gain), attempt.retakes - 1,
                                          attempt.gap_days, attempt.gain))
    for email, exam_id, theta, answers in the_plan.in_progress:
        if (candidates[email], exam_id) not in taken and candidates[email] not in busy:
            _sit(factory, candidates[email], exam_id, theta, random.Random(f"{seed}:{email}:now"), stop_after=answers)


def _withdraw(db: Session, org_id: int, seed: int, now: dt.datetime) -> None:
    """Suspend two certificates and revoke one, among those issued one to eight months ago."""
    held = db.execute(select(Certificate.id).join(Employee, Employee.candidate_id == Certificate.candidate_id)
                      .where(Employee.organisation_id == org_id, Certificate.revoked_at.is_(None),
                             Certificate.suspended_at.is_(None), Certificate.issued_at < now - 30 * DAY,
                             Certificate.issued_at > now - 240 * DAY)
                      .order_by(Certificate.issued_at, Certificate.id)).scalars().all()
    rng = random.Random(f"{seed}:withdrawals")
    for cert_id, (action, reason) in zip(rng.sample(held, min(len(held), len(WITHDRAWALS))), WITHDRAWALS,
                                         strict=False):
        change_status(db, cert_id, action, reason=reason, actor=ACTOR)


def _counts(db: Session, org_id: int, now: dt.datetime, report: DemoReport) -> None:
    people = select(Employee.candidate_id).where(Employee.organisation_id == org_id)
    report.people = db.execute(select(func.count()).select_from(Employee)
                               .where(Employee.organisation_id == org_id)).scalar_one()
    for state, decision, count in db.execute(select(Sitting.state, Sitting.decision, func.count())
                                             .where(Sitting.candidate_id.in_(people))
                                             .group_by(Sitting.state, Sitting.decision)):
        report.sittings += count
        if state == "in_progress":
            report.in_progress += count
        elif decision == "pass":
            report.passed += count
        else:
            report.failed += count
    for valid_until, revoked_at, suspended_at in db.execute(
            select(Certificate.valid_until, Certificate.revoked_at, Certificate.suspended_at)
            .where(Certificate.candidate_id.in_(people))):
        report.certificates += 1
        report.revoked += revoked_at is not None
        report.suspended += suspended_at is not None
        if revoked_at is None and suspended_at is None:
            until = as_utc(valid_until)
            report.lapsed += until <= now
            report.expiring_60_days += now < until <= now + 60 * DAY


def load_demo_organisation(factory: sessionmaker[Session], issuer: IssuerSettings, *, now: dt.datetime | None = None,
                           seed: int = 2026, people: int = 300) -> DemoReport:
    """Create the demo organisation and its history (see the module's docstring); nothing if it is loaded
    already. `now`: the moment the history leads up to (default: now)."""
    began = time.monotonic()
    now = now or utcnow()
    report = DemoReport()
    with transaction(factory) as db:
        org = db.execute(select(Organisation).where(Organisation.slug == SLUG)).scalar()
        if org is not None and db.execute(select(AuditEvent.id).where(
                AuditEvent.kind == LOADED_KIND, AuditEvent.subject == f"organisation:{SLUG}")).first() is not None:
            return report
        the_plan = plan(seed, roster(seed, people), now)
        report.resumed = org is not None
        org_id = (org or _create(db, the_plan.people, now)).id
    _run(factory, issuer, org_id, the_plan, seed, now)
    with transaction(factory) as db:
        _withdraw(db, org_id, seed, now)
        _counts(db, org_id, now, report)
        report.loaded, report.seconds = True, time.monotonic() - began
        audit.record(db, actor=ACTOR, kind=LOADED_KIND, subject=f"organisation:{SLUG}",
                     data={"seed": seed, "people": report.people, "sittings": report.sittings,
                           "certificates": report.certificates, "resumed": report.resumed})
    return report
