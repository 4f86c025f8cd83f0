"""Assigning exams to an organisation's people: everyone, a department, a site or a list, by a date.

A standing assignment also reaches people enrolled later, due `due_days` after they join (the
organisation's default when the assignment names none).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from errors import CertamenError, Kind
from item_bank import audit
from storage import AssignedExam, Assignment, Employee, Exam, Organisation, OrgUnit
from storage.db import as_utc, utcnow


class AssignmentError(CertamenError):
    kind = Kind.INVALID


def _in_scope(assignment: Assignment, person: Employee) -> bool:
    if assignment.scope == "all":
        return True
    if assignment.scope == "department":
        return person.department_id == assignment.unit_id
    if assignment.scope == "site":
        return person.site_id == assignment.unit_id
    return False  # a list names its people once; later hires are not on it


def assign(db: Session, org: Organisation, *, exam_id: str, due_at: dt.datetime, actor: str,
           department: str | None = None, site: str | None = None, emails: Sequence[str] | None = None,
           due_days: int | None = None, standing: bool = True) -> tuple[Assignment, int]:
    """The assignment and how many people it reached now."""
    exam = db.get(Exam, exam_id)
    if exam is None or exam.kind != "full":
        raise AssignmentError(f"no exam {exam_id!r} to assign (certamen exam list shows them)", kind=Kind.NOT_FOUND)
    if sum(x is not None for x in (department, site, emails)) > 1:
        raise AssignmentError("assign to everyone, one department, one site or a list; not several")
    if due_days is not None and not 1 <= due_days <= 3650:
        raise AssignmentError("due_days must be between 1 and 3650")
    unit_id, scope = None, "all"
    if department is not None or site is not None:
        scope = "department" if department is not None else "site"
        name = department if department is not None else site
        unit_id = db.execute(select(OrgUnit.id).where(OrgUnit.organisation_id == org.id, OrgUnit.kind == scope,
                                                      OrgUnit.name == name)).scalar()
        if unit_id is None:
            raise AssignmentError(f"{org.slug} has no {scope} {name!r}", kind=Kind.NOT_FOUND)
    people = select(Employee).where(Employee.organisation_id == org.id, Employee.active.is_(True))
    if emails is not None:
        scope, standing = "list", False
        wanted = {e.strip().lower() for e in emails if e.strip()}
        found = list(db.execute(people.where(Employee.email.in_(sorted(wanted)))).scalars())
        missing = sorted(wanted - {p.email for p in found})
        if missing:
            raise AssignmentError(f"not enrolled (or left) in {org.slug}: {', '.join(missing[:10])}"
                                  + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""))
    else:
        if scope == "department":
            people = people.where(Employee.department_id == unit_id)
        elif scope == "site":
            people = people.where(Employee.site_id == unit_id)
        found = list(db.execute(people).scalars())
    assignment = Assignment(organisation_id=org.id, exam_id=exam_id, scope=scope, unit_id=unit_id, due_at=due_at,
                            due_days=due_days, standing=standing, created_by=actor)
    db.add(assignment)
    db.flush()
    moved = _require(db, org, assignment, found, due_at=due_at, now=utcnow())
    audit.record(db, actor=actor, kind="organisation.assign", subject=f"organisation:{org.slug}",
                 data={"assignment": assignment.id, "exam": exam_id, "scope": scope, "unit": unit_id,
                       "due": due_at.isoformat(), "people": len(found), "due_date_moved": moved,
                       "standing": standing})
    return assignment, len(found)


def _require(db: Session, org: Organisation, assignment: Assignment, people: Sequence[Employee], *,
             due_at: dt.datetime, now: dt.datetime) -> int:
    """Gives each person the requirement, or moves the due date of the one they have earlier when this one is
    due sooner (a later assignment never gives anyone more time). Returns how many requirements were there."""
    held = {row.employee_id: row for row in db.execute(
        select(AssignedExam).where(AssignedExam.organisation_id == org.id,
                                   AssignedExam.exam_id == assignment.exam_id)).scalars()}
    for person in people:
        share = held.get(person.id)
        if share is None:
            db.add(AssignedExam(organisation_id=org.id, assignment_id=assignment.id, employee_id=person.id,
                                exam_id=assignment.exam_id, assigned_at=now, due_at=due_at))
        elif as_utc(share.due_at) > due_at:
            share.due_at, share.assignment_id = due_at, assignment.id
    db.flush()
    return sum(person.id in held for person in people)


def give_standing_assignments(db: Session, org: Organisation, employee_ids: Sequence[int], *,
                              now: dt.datetime) -> int:
    """Give newly enrolled (or returning) people the standing assignments in their scope; returns how many."""
    if not employee_ids:
        return 0
    standing = list(db.execute(select(Assignment).where(Assignment.organisation_id == org.id,
                                                        Assignment.standing.is_(True),
                                                        Assignment.ended_at.is_(None))).scalars())
    if not standing:
        return 0
    people = list(db.execute(select(Employee).where(Employee.id.in_(list(employee_ids)))).scalars())
    given = 0
    for assignment in standing:
        due = now + dt.timedelta(days=assignment.due_days or org.default_due_days)
        reached = [person for person in people if _in_scope(assignment, person)]
        given += len(reached) - _require(db, org, assignment, reached, due_at=due, now=now)
    return given


def set_exemption(db: Session, employee_id: int, exam_id: str, *, reason: str | None, actor: str) -> AssignedExam:
    """Excuses a person from a required exam (with the reason and who decided), or with no reason lifts it.
    Run in a session scoped to the organisation: another organisation's person is not found."""
    share = db.execute(select(AssignedExam).where(AssignedExam.employee_id == employee_id,
                                                  AssignedExam.exam_id == exam_id)).scalar_one_or_none()
    if share is None:
        raise AssignmentError("that person has no requirement for that exam", kind=Kind.NOT_FOUND)
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > 500:
        raise AssignmentError("say why in at most 500 characters")
    share.exempt_reason, share.exempt_by = reason, actor if reason else None
    share.exempt_at = utcnow() if reason else None
    audit.record(db, actor=actor, kind="organisation.exempt" if reason else "organisation.exempt_lifted",
                 subject=f"employee:{employee_id}", data={"exam": exam_id, **({"reason": reason} if reason else {})})
    return share
