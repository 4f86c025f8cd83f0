"""One tenant filter for every query of an organisation's data.

A database session given to `scoped_to(db, organisation_id)` adds `organisation_id = :id` to every ORM
query of a `TenantScoped` table (employees, units, staff roles, assignments), and limits sittings (and their
evidence by area) and certificates to the learners that organisation enrolled (and, for a manager, to the
people who report to them). Views never repeat the check, so a console page or an integration route asking
for another organisation's employee, sitting or certificate finds nothing (404), whatever the id it was given.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, event, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from storage.certificates import Certificate
from storage.organisations import Employee, TenantScoped
from storage.sittings import Sitting, SittingArea

_KEY = "organisation_id"
_PEOPLES_ROWS = (Sitting, SittingArea, Certificate)  # rows of a learner: scoped to the people enrolled
_REPORTS_KEY = "reports_of"


def current_organisation(db: Session) -> int | None:
    return db.info.get(_KEY)


@contextmanager
def scoped_to(db: Session, organisation_id: int, *, reports_of: str | None = None) -> Iterator[Session]:
    """Every query in the block sees one organisation's rows only; with `reports_of` (a manager's e-mail),
    only the people who report to that manager, and their sittings and certificates."""
    previous = db.info.get(_KEY), db.info.get(_REPORTS_KEY)
    db.info[_KEY], db.info[_REPORTS_KEY] = organisation_id, reports_of
    try:
        yield db
    finally:
        for key, value in zip((_KEY, _REPORTS_KEY), previous, strict=True):
            if value is None:
                db.info.pop(key, None)
            else:
                db.info[key] = value


def _criteria(organisation_id: int, reports_of: str | None) -> list[Any]:
    criteria = [
        with_loader_criteria(TenantScoped, lambda cls: cls.organisation_id == organisation_id,
                             include_aliases=True),
        *(with_loader_criteria(entity, lambda cls: cls.candidate_id.in_(
            select(Employee.candidate_id).where(Employee.organisation_id == organisation_id)),
            include_aliases=True) for entity in _PEOPLES_ROWS),
    ]
    if reports_of is not None:
        criteria += [
            with_loader_criteria(Employee, lambda cls: cls.manager_email == reports_of, include_aliases=True),
            *(with_loader_criteria(entity, lambda cls: cls.candidate_id.in_(
                select(Employee.candidate_id).where(Employee.organisation_id == organisation_id,
                                                    Employee.manager_email == reports_of)),
                include_aliases=True) for entity in _PEOPLES_ROWS),
        ]
    return criteria


def as_scoped(db: Session, statement: Select[Any]) -> Select[Any]:
    """The statement as the scoped session would run it, for code that hands SQL to the driver itself (a
    PostgreSQL COPY); refuses a session that is not scoped, rather than reading every organisation."""
    organisation_id = db.info.get(_KEY)
    if organisation_id is None:
        raise RuntimeError("as_scoped needs a session given to scoped_to()")
    return statement.options(*_criteria(organisation_id, db.info.get(_REPORTS_KEY)))


@event.listens_for(Session, "do_orm_execute")
def _filter_by_tenant(state: ORMExecuteState) -> None:
    organisation_id = state.session.info.get(_KEY)
    if organisation_id is None or not state.is_select or state.is_column_load or state.is_relationship_load:
        return
    state.statement = state.statement.options(*_criteria(organisation_id, state.session.info.get(_REPORTS_KEY)))
