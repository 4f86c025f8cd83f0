"""One tenant filter for every query of an organisation's data.

A database session given to `scoped_to(db, organisation_id)` adds `organisation_id = :id` to every ORM
query of a `TenantScoped` table (employees, units, staff roles, assignments), and limits sittings and
certificates to the learners that organisation enrolled. Views never repeat the check, so a console page or
an integration route asking for another organisation's employee, sitting or certificate finds nothing
(404), whatever the id it was given.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from storage.certificates import Certificate
from storage.organisations import Employee, TenantScoped
from storage.sittings import Sitting

_KEY = "organisation_id"


def current_organisation(db: Session) -> int | None:
    return db.info.get(_KEY)


@contextmanager
def scoped_to(db: Session, organisation_id: int) -> Iterator[Session]:
    """Every query in the block sees one organisation's rows only."""
    previous = db.info.get(_KEY)
    db.info[_KEY] = organisation_id
    try:
        yield db
    finally:
        if previous is None:
            db.info.pop(_KEY, None)
        else:
            db.info[_KEY] = previous


@event.listens_for(Session, "do_orm_execute")
def _filter_by_tenant(state: ORMExecuteState) -> None:
    organisation_id = state.session.info.get(_KEY)
    if organisation_id is None or not state.is_select or state.is_column_load or state.is_relationship_load:
        return
    enrolled = select(Employee.candidate_id).where(Employee.organisation_id == organisation_id)
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, lambda cls: cls.organisation_id == organisation_id,
                             include_aliases=True),
        with_loader_criteria(Sitting, Sitting.candidate_id.in_(enrolled), include_aliases=True),
        with_loader_criteria(Certificate, Certificate.candidate_id.in_(enrolled), include_aliases=True),
    )
