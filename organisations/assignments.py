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
from storage.db import utcnow


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
    now = utcnow()
    db.add_all(AssignedExam(organisation_id=org.id, assignment_id=assignment.id, employee_id=p.id, exam_id=exam_id,
                            assigned_at=now, due_at=due_at) for p in found)
    db.flush()
    audit.record(db, actor=actor, kind="organisation.assign", subject=f"organisation:{org.slug}",
                 data={"assignment": assignment.id, "exam": exam_id, "scope": scope, "unit": unit_id,
                       "due": due_at.isoformat(), "people": len(found), "standing": standing})
    return assignment, len(found)


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
    have = set(db.execute(select(AssignedExam.assignment_id, AssignedExam.employee_id)
                          .where(AssignedExam.employee_id.in_(list(employee_ids)))).all())
    given = 0
    for assignment in standing:
        due = now + dt.timedelta(days=assignment.due_days or org.default_due_days)
        for person in people:
            if (assignment.id, person.id) not in have and _in_scope(assignment, person):
                db.add(AssignedExam(organisation_id=org.id, assignment_id=assignment.id, employee_id=person.id,
                                    exam_id=assignment.exam_id, assigned_at=now, due_at=due))
                given += 1
    db.flush()
    return given
