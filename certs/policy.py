"""Expiry and recertification policy — pure functions over dates, no I/O.

Vocabulary:

* **validity** — a certificate is valid for ``validity_months`` from issue
  (:func:`initial_expiry`; month arithmetic clamps to the month's last day: Jan 31 + 1 month
  = Feb 28/29).
* **recertification window** — renewal through the short recertification exam is allowed
  from ``recert_window_days`` before the (effective) expiry ...
* **grace period** — ... until ``grace_days`` after it. The certificate itself is *expired*
  during grace (it is not valid), but the holder may still renew with the short exam; after
  grace only the full exam certifies again.
* **expiring soon** — ``expiring_soon_days`` before expiry the status is ``expiring_soon``.
* **renewal keeps every day** — a renewed certificate runs ``validity_months`` from the OLD
  expiry date (:func:`renewal_expiry`), never from the renewal date, so renewing early loses
  nothing (and renewing late, in grace, gains nothing).
* **policy change** — "everyone certified under exam version < V must recertify by DATE":
  the *effective* expiry is ``min(validUntil, DATE)`` for affected certificates, and the
  window / grace / expiring-soon rules then run against that effective expiry.

All datetimes are timezone-aware (naive ones are taken as UTC); ``date`` values mean
midnight UTC.
"""
from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

PolicyStatus = Literal["active", "expiring_soon", "expired", "suspended", "revoked"]


@dataclass(frozen=True)
class RecertPolicy:
    validity_months: int = 24
    recert_window_days: int = 90
    grace_days: int = 30
    expiring_soon_days: int = 60

    def __post_init__(self) -> None:
        if self.validity_months < 1:
            raise ValueError("validity_months must be at least 1")
        for name in ("recert_window_days", "grace_days", "expiring_soon_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


@dataclass(frozen=True)
class PolicyChange:
    """Everyone certified under an exam version older than ``min_exam_version`` must
    recertify by ``deadline``."""

    min_exam_version: str
    deadline: datetime | date
    reason: str = ""


@dataclass(frozen=True)
class CertificateState:
    """What the policy needs to know about one certificate."""

    valid_until: datetime | date
    exam_version: str | None = None
    revoked: bool = False
    suspended: bool = False
    valid_from: datetime | date | None = None


@dataclass(frozen=True)
class PolicyDecision:
    status: PolicyStatus
    effective_expiry: datetime        # min(validUntil, applicable policy deadline)
    original_expiry: datetime         # validUntil as issued
    days_remaining: int               # whole days until effective expiry (negative: past)
    renewal_allowed: bool             # may take the short recertification exam now
    renewal_reason: str
    window_opens: datetime            # effective expiry − recertification window
    grace_ends: datetime              # effective expiry + grace period
    in_grace: bool
    policy_deadline: datetime | None  # the deadline that cut the expiry short, if any
    policy_reason: str | None
    renewal_expiry: datetime | None   # new validUntil if renewed now (None if not allowed)


def _aware(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(f"expected a date or datetime, got {type(value).__name__}")


def add_months(value: datetime | date, months: int) -> datetime:
    """``value`` + ``months`` calendar months, clamping the day to the target month's length."""
    dt = _aware(value)
    total = dt.year * 12 + (dt.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


def initial_expiry(issued: datetime | date, policy: RecertPolicy) -> datetime:
    """validUntil for a first certification issued at ``issued``."""
    return add_months(issued, policy.validity_months)


def renewal_expiry(old_expiry: datetime | date, policy: RecertPolicy) -> datetime:
    """validUntil of the renewed certificate: counted from the OLD expiry (no lost days)."""
    return add_months(old_expiry, policy.validity_months)


def _version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    parts = re.split(r"[.\-_ ]", version.strip())
    key: list[tuple[int, int, str]] = []
    for p in parts:
        key.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return tuple(key)


def version_less_than(version: str | None, minimum: str) -> bool:
    """Dotted-version comparison ("2.9" < "2.10"); an unknown version counts as older."""
    if not version:
        return True
    return _version_key(version) < _version_key(minimum)


def effective_expiry(state: CertificateState,
                     changes: Iterable[PolicyChange] = ()) -> tuple[datetime, PolicyChange | None]:
    """``min(validUntil, deadline of every policy change that applies)`` and the change that
    set it (None when the certificate's own validUntil stands)."""
    expiry = _aware(state.valid_until)
    cause = None
    for change in changes:
        if version_less_than(state.exam_version, change.min_exam_version):
            deadline = _aware(change.deadline)
            if state.valid_from is not None and _aware(state.valid_from) >= deadline:
                continue  # certified after the deadline: not affected
            if deadline < expiry:
                expiry, cause = deadline, change
    return expiry, cause


def evaluate(
    state: CertificateState,
    policy: RecertPolicy,
    now: datetime | date,
    changes: Iterable[PolicyChange] = (),
) -> PolicyDecision:
    """The certificate's status at ``now`` and whether the short recertification is allowed."""
    now = _aware(now)
    original = _aware(state.valid_until)
    eff, cause = effective_expiry(state, changes)
    window_opens = eff - timedelta(days=policy.recert_window_days)
    grace_ends = eff + timedelta(days=policy.grace_days)
    remaining = eff - now
    days_remaining = remaining.days if remaining >= timedelta(0) else -((-remaining).days)
    expired = now >= eff
    in_grace = expired and now < grace_ends

    status: PolicyStatus
    if state.revoked:
        status = "revoked"
    elif state.suspended:
        status = "suspended"
    elif expired:
        status = "expired"
    elif eff - now <= timedelta(days=policy.expiring_soon_days):
        status = "expiring_soon"
    else:
        status = "active"

    if state.revoked:
        allowed, why = False, "revoked certificates cannot be renewed; the full exam is required"
    elif state.suspended:
        allowed, why = False, "the certificate is suspended"
    elif now < window_opens:
        allowed, why = False, f"the recertification window opens on {window_opens.date()}"
    elif not expired:
        allowed, why = True, f"within the recertification window (expires {eff.date()})"
    elif in_grace:
        allowed, why = True, f"expired, but within the grace period until {grace_ends.date()}"
    else:
        allowed, why = False, "the grace period is over; the full exam is required"
    if allowed and cause is not None:
        why += f"; recertification required by {eff.date()} under the current exam version"

    return PolicyDecision(
        status=status,
        effective_expiry=eff,
        original_expiry=original,
        days_remaining=days_remaining,
        renewal_allowed=allowed,
        renewal_reason=why,
        window_opens=window_opens,
        grace_ends=grace_ends,
        in_grace=in_grace,
        policy_deadline=_aware(cause.deadline) if cause else None,
        policy_reason=(cause.reason or f"exam version below {cause.min_exam_version}")
        if cause else None,
        renewal_expiry=renewal_expiry(original, policy) if allowed else None,
    )


__all__ = [
    "RecertPolicy", "PolicyChange", "CertificateState", "PolicyDecision", "evaluate",
    "add_months", "initial_expiry", "renewal_expiry", "effective_expiry", "version_less_than",
]
