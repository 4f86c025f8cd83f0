"""Every credential Certamen issues conforms to the 1EdTech Open Badges 3.0 AchievementCredential JSON
Schema (both cryptosuites, with and without the optional parts). The schema is from
../shared/data/conformance/schemas (1EdTech, OB 3.0)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from certs_testlib import NOW
from ob_schema import ob_schema_errors

from certs.signing import JCS, RDFC


@pytest.mark.parametrize("suite", [RDFC, JCS])
def test_issued_credentials_conform(issuer, suite):
    assert ob_schema_errors(issuer.issue(suite)) == []
    plain = issuer.issue(suite, n=2, status=None, score=None, theta=None, valid_until=None)
    assert ob_schema_errors(plain) == []
    renewal = issuer.issue(suite, n=3, previous_credential_id="https://certs.example.test/c/OLD",
                           valid_from=NOW, valid_until=NOW + timedelta(days=365))
    assert ob_schema_errors(renewal) == []


def test_the_schema_refuses_what_ob_does_not_allow(issuer):
    """The check can fail: two credentialStatus entries (the form of older certificates) and a
    credential without a subject are refused."""
    legacy = issuer.issue_legacy()
    assert any("credentialStatus" in e for e in ob_schema_errors(legacy))
    cred = dict(issuer.issue())
    del cred["credentialSubject"]
    assert ob_schema_errors(cred)
