"""Expiry & recertification date math."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certs.policy import (
    CertificateState,
    PolicyChange,
    RecertPolicy,
    add_months,
    effective_expiry,
    evaluate,
    initial_expiry,
    renewal_expiry,
    version_less_than,
)

UTC = UTC
P = RecertPolicy(validity_months=24, recert_window_days=90, grace_days=30, expiring_soon_days=60)
EXPIRY = datetime(2027, 6, 30, 12, 0, tzinfo=UTC)


def at(days_before_expiry: float) -> datetime:
    return EXPIRY - timedelta(days=days_before_expiry)


def test_month_arithmetic_clamps():
    assert add_months(date(2026, 1, 31), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(date(2028, 1, 31), 1) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 30, 9, 30, tzinfo=UTC), 3) == \
        datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    assert add_months(date(2026, 12, 15), 1) == datetime(2027, 1, 15, tzinfo=UTC)
    assert initial_expiry(date(2026, 2, 28), P) == datetime(2028, 2, 28, tzinfo=UTC)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)), st.integers(1, 120))
def test_add_months_properties(d, m):
    r = add_months(d, m)
    assert (r.year * 12 + r.month) - (d.year * 12 + d.month) == m
    assert r.day <= d.day


def test_status_progression():
    assert evaluate(CertificateState(EXPIRY), P, at(200)).status == "active"
    assert evaluate(CertificateState(EXPIRY), P, at(59)).status == "expiring_soon"
    d = evaluate(CertificateState(EXPIRY), P, at(-1))
    assert d.status == "expired" and d.in_grace and d.days_remaining == -1
    assert evaluate(CertificateState(EXPIRY), P, at(-40)).status == "expired"
    assert evaluate(CertificateState(EXPIRY, suspended=True), P, at(200)).status == "suspended"
    assert evaluate(CertificateState(EXPIRY, revoked=True, suspended=True), P,
                    at(200)).status == "revoked"


def test_renewal_window_and_grace():
    assert not evaluate(CertificateState(EXPIRY), P, at(91)).renewal_allowed
    d = evaluate(CertificateState(EXPIRY), P, at(90))
    assert d.renewal_allowed and d.window_opens == at(90)
    assert evaluate(CertificateState(EXPIRY), P, at(-29)).renewal_allowed      # in grace
    d = evaluate(CertificateState(EXPIRY), P, at(-30))
    assert not d.renewal_allowed and "full exam" in d.renewal_reason      # grace over
    assert not evaluate(CertificateState(EXPIRY, revoked=True), P, at(10)).renewal_allowed
    assert not evaluate(CertificateState(EXPIRY, suspended=True), P, at(10)).renewal_allowed


def test_renewal_counts_from_the_old_expiry():
    early = evaluate(CertificateState(EXPIRY), P, at(80))
    late = evaluate(CertificateState(EXPIRY), P, at(-20))
    assert early.renewal_expiry == late.renewal_expiry == datetime(2029, 6, 30, 12, tzinfo=UTC)
    assert renewal_expiry(date(2027, 2, 28), P) == datetime(2029, 2, 28, tzinfo=UTC)
    assert evaluate(CertificateState(EXPIRY), P, at(200)).renewal_expiry is None


def test_policy_change_deadline():
    deadline = datetime(2027, 1, 31, tzinfo=UTC)
    change = PolicyChange(min_exam_version="3.0", deadline=deadline, reason="new regulation")
    old = CertificateState(EXPIRY, exam_version="2.9")
    new = CertificateState(EXPIRY, exam_version="3.0")
    assert effective_expiry(old, [change]) == (deadline, change)
    assert effective_expiry(new, [change]) == (EXPIRY, None)
    d = evaluate(old, P, datetime(2026, 12, 5, tzinfo=UTC), [change])
    assert d.effective_expiry == deadline and d.original_expiry == EXPIRY
    assert d.status == "expiring_soon" and d.renewal_allowed
    assert d.policy_deadline == deadline and d.policy_reason == "new regulation"
    assert d.renewal_expiry == datetime(2029, 6, 30, 12, tzinfo=UTC)  # still from old expiry
    after = evaluate(old, P, datetime(2027, 2, 5, tzinfo=UTC), [change])
    assert after.status == "expired" and after.in_grace
    assert evaluate(new, P, datetime(2027, 2, 5, tzinfo=UTC), [change]).status == "active"
    # a deadline later than the certificate's own expiry changes nothing
    late_change = PolicyChange("3.0", datetime(2030, 1, 1, tzinfo=UTC))
    assert effective_expiry(old, [late_change]) == (EXPIRY, None)
    # the earliest applicable deadline wins
    c2 = PolicyChange("2.5", datetime(2026, 12, 31, tzinfo=UTC))
    assert effective_expiry(CertificateState(EXPIRY, exam_version="2.1"), [change, c2])[1] is c2


def test_version_comparison():
    assert version_less_than("2.9", "2.10")
    assert not version_less_than("2.10", "2.9")
    assert version_less_than("2.1", "2.1.1")
    assert not version_less_than("3.0", "3.0")
    assert version_less_than(None, "1.0")


def test_naive_datetimes_are_utc_and_validation():
    d = evaluate(CertificateState(datetime(2027, 6, 30)), P, datetime(2027, 6, 1))
    assert d.effective_expiry.tzinfo is not None
    with pytest.raises(ValueError):
        RecertPolicy(validity_months=0)
