"""An employer's programme: the organisation, its departments and sites, the people it enrolled, its staff
and what it assigned them. Each of these rows carries `organisation_id`, so one tenant filter
(`storage.tenancy`) covers every query of them."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.db import Base, utcnow

ORG_ROLES = ("org_admin", "hr", "manager")
UNIT_KINDS = ("department", "site")
ASSIGNMENT_SCOPES = ("all", "department", "site", "list")


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Due period of an assignment given to someone enrolled after it was made, unless it says otherwise.
    default_due_days: Mapped[int] = mapped_column(Integer, default=30)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TenantScoped:
    """Rows of one organisation: `storage.tenancy` adds `organisation_id = :current` to every query of them."""

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)


class OrgUnit(TenantScoped, Base):
    """A department or a site. Flat lists: employers report on one level of each, and a CSV column names it."""

    __tablename__ = "org_units"
    __table_args__ = (UniqueConstraint("organisation_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # department | site
    name: Mapped[str] = mapped_column(String(120))


class Employee(TenantScoped, Base):
    """A person an organisation enrolled, linked to the learner account they sign in with. Only the
    organisation creates these rows (upload, invitation, its own e-mail domain): typing an organisation's
    name at registration puts nobody on its roster. People who leave are deactivated, never deleted."""

    __tablename__ = "employees"
    __table_args__ = (
        UniqueConstraint("organisation_id", "email"),
        UniqueConstraint("organisation_id", "candidate_id"),
        Index("uq_employees_employee_number", "organisation_id", "employee_number", unique=True,
              postgresql_where=text("employee_number IS NOT NULL"), sqlite_where=text("employee_number IS NOT NULL")),
        Index("ix_employees_people_list", "organisation_id", "active", "name"),
        Index("ix_employees_manager", "organisation_id", "manager_email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    employee_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), nullable=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), nullable=True)
    manager_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    enrolled_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    left_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    department = relationship("OrgUnit", foreign_keys=[department_id], lazy="joined")
    site = relationship("OrgUnit", foreign_keys=[site_id], lazy="joined")


class StaffAccount(Base):
    """Someone who works in the console: an employer's HR, compliance officers and managers, and the platform's
    own administrators and psychometricians. Roles per organisation are `StaffRole` rows."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)  # argon2id; None: links only
    platform_role: Mapped[str | None] = mapped_column(String(20), nullable=True)  # admin | psychometrician
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StaffRole(TenantScoped, Base):
    """One role in one organisation: org_admin (everything of it), hr (read all, act on certificates),
    manager (their own reports only)."""

    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("staff_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    granted_by: Mapped[str] = mapped_column(String(200))


class Assignment(TenantScoped, Base):
    """An exam an organisation requires of everyone, a department, a site or a list of people, by a date.
    A standing assignment also goes to people enrolled later, due `due_days` after they join."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[str] = mapped_column(ForeignKey("exams.id"))
    scope: Mapped[str] = mapped_column(String(12))  # all | department | site | list
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), nullable=True)
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    due_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    standing: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AssignedExam(TenantScoped, Base):
    """A person's requirement to hold an exam's certificate: when it is due for them, and an exemption if they
    have one. One per person and exam: a second assignment of the same exam moves the due date earlier if
    it is earlier, and otherwise leaves it (organisations.assignments)."""

    __tablename__ = "assigned_exams"
    __table_args__ = (
        UniqueConstraint("employee_id", "exam_id"),
        Index("ix_assigned_exams_due", "organisation_id", "exam_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id"), index=True)
    exam_id: Mapped[str] = mapped_column(ForeignKey("exams.id"))
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    exempt_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    exempt_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    exempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Invitation(TenantScoped, Base):
    """A link an organisation hands its people (intranet, team chat) to join it themselves: whoever opens it
    signed in to a learner account is enrolled, if their address is in `email_domain` when one is set, until
    the link expires or is ended. Only its digest is stored."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email_domain: Mapped[str | None] = mapped_column(String(253), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    joined: Mapped[int] = mapped_column(Integer, default=0)
