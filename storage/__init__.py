"""The database schema in one place: every table, and the engine and sessions that reach them.

Domain packages (item_bank, calibration, certs, organisations) read and write these rows; none of them
defines a table. `migrations/` follows this metadata."""
from storage.audit import AuditEvent
from storage.bank import ITEM_STATUSES, Exam, ExposureControl, Item, ItemParameter, ParameterSet
from storage.calibration import CalibrationRun
from storage.certificates import Certificate, PolicyChange, ResitAllowance
from storage.db import Base, as_utc, utcnow
from storage.notices import NOTICE_STATES, Notice
from storage.organisations import (
    ASSIGNMENT_SCOPES,
    ORG_ROLES,
    UNIT_KINDS,
    AssignedExam,
    Assignment,
    Employee,
    Invitation,
    Organisation,
    OrgUnit,
    StaffAccount,
    StaffRole,
    TenantScoped,
)
from storage.people import ApiToken, Candidate, SigninFailure
from storage.sittings import SITTING_STATES, AttemptGrant, Response, Sitting, SittingArea

__all__ = [
    "Item",
    "ParameterSet",
    "ItemParameter",
    "Exam",
    "ExposureControl",
    "ITEM_STATUSES",
    "Candidate",
    "ApiToken",
    "SigninFailure",
    "Sitting",
    "SittingArea",
    "AttemptGrant",
    "Response",
    "SITTING_STATES",
    "AuditEvent",
    "Certificate",
    "PolicyChange",
    "ResitAllowance",
    "CalibrationRun",
    "Notice", "NOTICE_STATES",
    "Organisation", "Invitation", "OrgUnit", "Employee", "StaffAccount", "StaffRole", "Assignment", "AssignedExam",
    "TenantScoped", "ORG_ROLES", "UNIT_KINDS", "ASSIGNMENT_SCOPES",
    "Base", "as_utc", "utcnow",
]
