"""Enrolling an organisation's people from its roster file: idempotent, all or nothing, history kept.

A person is matched by employee number when the row has one, else by e-mail address, so a re-upload
updates people (a new department, a new manager, a changed address) and never duplicates them. Rows marked
`left`, and with `deactivate_missing` everyone the file no longer lists, are deactivated: their sittings
and certificates stay, they stop counting towards the programme. Each enrolled person is linked to the
learner account of their address, created (without a password: they sign in with a link) when there is none.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank import audit
from organisations.assignments import give_standing_assignments
from organisations.roster_csv import RosterFileError, RosterRow, parse_roster
from storage import Candidate, Employee, Organisation, OrgUnit
from storage.db import utcnow

_CHUNK = 900  # bound parameters per IN (...) list: SQLite's limit is 999 on old builds


@dataclass
class EnrolmentReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    reactivated: int = 0
    new_accounts: int = 0
    new_employee_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if isinstance(v, int)}


def _chunks(values: list, size: int = _CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _units(db: Session, org: Organisation, rows: list[RosterRow]) -> dict[tuple[str, str], int]:
    wanted = {("department", r.department) for r in rows if r.department} | {("site", r.site) for r in rows if r.site}
    have = {(u.kind, u.name): u.id for u in db.execute(select(OrgUnit).where(OrgUnit.organisation_id == org.id))
            .scalars()}
    for kind, name in sorted(wanted - have.keys()):
        unit = OrgUnit(organisation_id=org.id, kind=kind, name=name)
        db.add(unit)
        db.flush()
        have[(kind, name)] = unit.id
    return have


def _accounts(db: Session, rows: list[RosterRow], report: EnrolmentReport) -> dict[str, int]:
    emails = sorted({r.email for r in rows})
    have: dict[str, int] = {}
    for chunk in _chunks(emails):
        found = db.execute(select(Candidate.email, Candidate.id).where(Candidate.email.in_(chunk)))
        have.update((email, candidate_id) for email, candidate_id in found)
    for row in rows:
        if row.email not in have:
            candidate = Candidate(name=row.name, email=row.email, password_hash=None)
            db.add(candidate)
            db.flush()
            have[row.email] = candidate.id
            report.new_accounts += 1
    return have


def enrol(db: Session, org: Organisation, data: bytes, *, actor: str,
          deactivate_missing: bool = False) -> EnrolmentReport:
    """Apply a roster file to the organisation in the caller's transaction; RosterFileError (nothing applied)
    names every line that cannot be."""
    rows = parse_roster(data)
    report = EnrolmentReport()
    people = list(db.execute(select(Employee).where(Employee.organisation_id == org.id)).scalars())
    by_number = {p.employee_number: p for p in people if p.employee_number}
    by_email = {p.email: p for p in people}
    problems = []
    matched: list[tuple[RosterRow, Employee | None]] = []
    for row in rows:
        person = by_number.get(row.employee_id) if row.employee_id else None
        person = person or by_email.get(row.email)
        if person is not None and row.employee_id and person.employee_number not in (None, row.employee_id):
            problems.append(f"line {row.line}: {row.email} is enrolled with employee_id "
                            f"{person.employee_number!r}, not {row.employee_id!r}")
        holder = by_email.get(row.email)
        if person is not None and holder is not None and holder is not person:
            problems.append(f"line {row.line}: {row.email} belongs to another enrolled person "
                            f"(employee_id {holder.employee_number or '-'})")
        matched.append((row, person))
    if problems:
        raise RosterFileError(problems)
    units = _units(db, org, rows)
    accounts = _accounts(db, rows, report)
    now = utcnow()
    seen: set[int] = set()
    for row, person in matched:
        values = {
            "email": row.email, "name": row.name, "employee_number": row.employee_id,
            "department_id": units.get(("department", row.department)) if row.department else None,
            "site_id": units.get(("site", row.site)) if row.site else None,
            "manager_email": row.manager_email, "candidate_id": accounts[row.email],
        }
        if person is None:
            person = Employee(organisation_id=org.id, active=row.active, enrolled_at=now, updated_at=now,
                              left_at=None if row.active else now, **values)
            db.add(person)
            db.flush()
            report.added += 1
            if person.active:
                report.new_employee_ids.append(person.id)
        else:
            changed = {k: v for k, v in values.items() if getattr(person, k) != v}
            for key, value in changed.items():
                setattr(person, key, value)
            if person.active != row.active:
                person.active, person.left_at = row.active, (None if row.active else now)
                if row.active:
                    report.reactivated += 1
                    report.new_employee_ids.append(person.id)
                else:
                    report.deactivated += 1
            elif changed:
                report.updated += 1
            else:
                report.unchanged += 1
            if changed or person.active != row.active:
                person.updated_at = now
        seen.add(person.id)
    if deactivate_missing:
        for person in people:
            if person.id not in seen and person.active:
                person.active, person.left_at, person.updated_at = False, now, now
                report.deactivated += 1
    db.flush()
    give_standing_assignments(db, org, report.new_employee_ids, now=now)
    audit.record(db, actor=actor, kind="organisation.enrol", subject=f"organisation:{org.slug}",
                 data={**report.as_dict(), "file_sha256": hashlib.sha256(data).hexdigest(),
                       "deactivate_missing": deactivate_missing})
    return report
