"""Certificates end to end: earned by passing, verified by the app and by the independent verifier,
suspended/revoked through status lists, renewed by the recertification exam, listed for HR."""
from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from learners import sign_in, sit
from ob_schema import ob_schema_errors
from sqlalchemy import select

from certs.pdf import extract_credential_from_pdf
from certs.service import status_of, verify_credential
from storage import Certificate
from storage.db import transaction

FRONTLINE = "social-media-frontline"


def published(client):
    """What an outside verifier fetches: the issuer's DID document and the status lists."""
    return [client.get("/.well-known/did.json").get_json(),
            client.get("/status/message").get_json(),
            client.get("/status/revocation").get_json(),
            client.get("/status/suspension").get_json()]


def credential_of(client, result):
    return client.get(result["certificate"]["credential_url"]).get_json()


def test_a_pass_earns_a_credential_that_both_verifiers_accept(client, app, vcv):
    result = sit(client, app)
    assert result["passed"] and result["certificate"]["id"]
    credential = credential_of(client, result)
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert "ada@example.com" not in json.dumps(credential), "the e-mail is only stored hashed"
    assert credential["proof"]["cryptosuite"] == "eddsa-rdfc-2022"

    verdict = client.post("/api/v1/verify", json=credential).get_json()
    assert verdict["status"] == "valid", verdict["checks"]
    assert verdict["summary"]["learner_name"] == "Ada Lovelace"

    assert ob_schema_errors(credential) == []
    issuer = credential["issuer"]["id"]
    code, report = vcv.verify(credential, docs=published(client), trusted=issuer)
    assert code == 0 and report["verified"] is True, report
    code, report = vcv.verify(credential, docs=published(client), trusted="did:web:someone-else.example")
    assert code == 1


def test_manager_exam_credentials_use_jcs_and_verify_independently(client, app, vcv):
    result = sit(client, app, exam="social-media-manager", email="mgr@example.com")
    credential = credential_of(client, result)
    assert credential["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert ob_schema_errors(credential) == []
    assert client.post("/api/v1/verify", json=credential).get_json()["status"] == "valid"
    code, report = vcv.verify(credential, docs=published(client), trusted=credential["issuer"]["id"])
    assert code == 0, report


def test_a_fail_earns_nothing(client, app):
    result = sit(client, app, email="weak@example.com", correct=False)
    assert result["passed"] is False and result["certificate"] is None


def test_revocation_and_suspension_reach_the_verifier(client, app, role_token):
    """The credential's one status entry has two bits ("message": valid / suspended / revoked).
    (vcv's status library reads one bit per entry whatever its statusSize, so it cannot be the judge
    here; it is for the one-bit entries of older certificates, in tests/certs/test_certs_vcv.py.)"""
    credential = credential_of(client, sit(client, app))
    cert_id = credential["id"].rsplit("/", 1)[-1]
    admin = {"Authorization": f"Bearer {role_token('admin')}"}
    url = f"/api/v1/admin/certificates/{cert_id}"
    assert client.post(f"{url}/suspend", json={}, headers=admin).status_code == 400  # a reason is required
    assert client.post(f"{url}/suspend", json={"reason": "investigation"},
                       headers={"Authorization": f"Bearer {role_token('hr')}"}).status_code == 403

    r = client.post(f"{url}/suspend", json={"reason": "under investigation"}, headers=admin)
    assert r.status_code == 200 and r.get_json()["status"] == "suspended"
    assert client.post("/api/v1/verify", json=credential).get_json()["status"] == "suspended"

    assert client.post(f"{url}/reinstate", json={"reason": "cleared"}, headers=admin).status_code == 200
    assert client.post("/api/v1/verify", json=credential).get_json()["status"] == "valid"

    assert client.post(f"{url}/revoke", json={"reason": "cheating proven"}, headers=admin).status_code == 200
    verdict = client.post("/api/v1/verify", json=credential).get_json()
    assert verdict["status"] == "revoked" and verdict["revokedAt"]
    again = client.post(f"{url}/reinstate", json={"reason": "oops"}, headers=admin)
    assert again.status_code == 409 and "final" in again.get_json()["error"]


def test_tampered_forged_and_malformed_input(client, app):
    credential = credential_of(client, sit(client, app))
    tampered = json.loads(json.dumps(credential))
    tampered["credentialSubject"]["name"] = "Mallory"
    assert client.post("/api/v1/verify", json=tampered).get_json()["status"] == "signature_invalid"
    later = json.loads(json.dumps(credential))
    later["validUntil"] = "2099-01-01T00:00:00Z"
    assert client.post("/api/v1/verify", json=later).get_json()["status"] == "signature_invalid"

    r = client.post("/api/v1/verify", data="{not json", content_type="application/json")
    assert r.status_code == 200 and r.get_json()["status"] == "not_a_credential"
    assert client.post("/api/v1/verify", json={"hello": "world"}).get_json()["status"] == "not_a_credential"
    huge = {"padding": "x" * 400_000}
    assert client.post("/api/v1/verify", json=huge).status_code in (400, 413)
    r = client.post("/api/v1/verify", data={"file": (io.BytesIO(b"%PDF-1.4 truncated"), "c.pdf")},
                    content_type="multipart/form-data")
    assert r.status_code == 400


def test_the_pdf_alone_verifies(client, app):
    result = sit(client, app)
    pdf = client.get(result["certificate"]["pdf_url"])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert extract_credential_from_pdf(pdf.data) == credential_of(client, result)
    r = client.post("/api/v1/verify", data={"file": (io.BytesIO(pdf.data), "certificate.pdf")},
                    content_type="multipart/form-data")
    assert r.get_json()["status"] == "valid"
    page = client.post("/verify", data={"file": (io.BytesIO(pdf.data), "certificate.pdf")},
                       content_type="multipart/form-data")
    assert page.status_code == 200 and b"Valid certificate" in page.data and b"Ada Lovelace" in page.data
    assert b"printed on the PDF" in page.data  # says the page text itself was not what was verified
    pasted = client.post("/verify", data={"credential": json.dumps(credential_of(client, result))})
    assert b"Ada Lovelace" in pasted.data and b"printed on the PDF" not in pasted.data
    qr_target = client.get(result["certificate"]["verify_url"])
    assert qr_target.status_code == 200 and b'data-status="valid"' in qr_target.data


def test_expiry_and_key_rotation(client, app):
    credential = credential_of(client, sit(client, app))
    settings = app.extensions["issuer"]
    with transaction(app.extensions["db_factory"]) as db:
        later = datetime.now(UTC) + timedelta(days=400)
        assert verify_credential(db, credential, settings, now=later).status.value == "expired"
    old_kid = settings.keys.active_key().kid
    settings.keys.rotate()
    assert client.post("/api/v1/verify", json=credential).get_json()["status"] == "valid"  # retired still verifies
    settings.keys.mark_compromised(old_kid)
    assert client.post("/api/v1/verify", json=credential).get_json()["status"] == "compromised_key"


def _age_certificate(app, cert_id: str, expires_in_days: int) -> None:
    with transaction(app.extensions["db_factory"]) as db:
        cert = db.get(Certificate, cert_id)
        cert.valid_until = datetime.now(UTC) + timedelta(days=expires_in_days)


def test_recertification_renews_from_the_old_expiry(client, app):
    first = sit(client, app)["certificate"]
    sign_in(client, "ada@example.com")
    refused = client.post("/api/v1/sessions", json={"exam_id": "social-media-recert"})
    assert refused.status_code == 409 and "window opens" in refused.get_json()["error"]
    sign_in(client, "bo@example.com", name="Bo")
    nobody = client.post("/api/v1/sessions", json={"exam_id": "social-media-recert"})
    assert nobody.status_code == 409 and "take the full exam" in nobody.get_json()["error"]

    _age_certificate(app, first["id"], expires_in_days=20)
    with transaction(app.extensions["db_factory"]) as db:
        old_expiry = db.get(Certificate, first["id"]).valid_until
    renewal = sit(client, app, exam="social-media-recert")["certificate"]
    assert renewal["id"] != first["id"]
    with transaction(app.extensions["db_factory"]) as db:
        new, old = db.get(Certificate, renewal["id"]), db.get(Certificate, first["id"])
        assert new.kind == "renewal" and new.previous_id == old.id and old.superseded_by == new.id
        assert new.exam_id == FRONTLINE  # the renewal certifies the full exam's scheme
        expected = old_expiry.replace(tzinfo=UTC)
        assert new.valid_until.replace(tzinfo=UTC).date() == expected.replace(year=expected.year + 1).date()
        assert status_of(db, new).status == "active"
    renewed = credential_of(client, {"certificate": renewal})
    summary = client.post("/api/v1/verify", json=renewed).get_json()["summary"]
    assert summary["previous_credential_id"].endswith(first["id"])


def test_lapsed_past_grace_must_sit_the_full_exam(client, app):
    first = sit(client, app)["certificate"]
    _age_certificate(app, first["id"], expires_in_days=-31)
    sign_in(client, "ada@example.com")
    r = client.post("/api/v1/sessions", json={"exam_id": "social-media-recert"})
    assert r.status_code == 409 and "grace period is over" in r.get_json()["error"]


def test_policy_change_forces_earlier_recertification(client, app, role_token):
    first = sit(client, app)["certificate"]
    admin = {"Authorization": f"Bearer {role_token('admin')}"}
    deadline = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    r = client.post("/api/v1/admin/policy-changes", json={"exam_id": FRONTLINE, "min_exam_version": 2,
                                                         "deadline": deadline, "reason": "new AI guidance"},
                    headers=admin)
    assert r.status_code == 201
    with transaction(app.extensions["db_factory"]) as db:
        decision = status_of(db, db.get(Certificate, first["id"]))
        assert decision.effective_expiry.date().isoformat() == deadline
        assert decision.status == "expiring_soon" and decision.renewal_allowed


def test_the_roster_lists_the_organisations_enrolled_people_not_who_typed_its_name(client, app, role_token):
    """Typing "Acme" at registration puts nobody on Acme's roster; enrolment does, certificate or not."""
    from organisations.assignments import assign
    from organisations.enrolment import enrol
    from organisations.organisations import create_organisation, organisation

    certified = sit(client, app, email="a@example.com", organisation="Acme")["certificate"]
    sit(client, app, email="b@example.com", organisation="Acme")  # typed the name, never enrolled
    hr = {"Authorization": f"Bearer {role_token('hr')}"}
    with transaction(app.extensions["db_factory"]) as db:
        acme = organisation(db, "acme")
        enrol(db, acme, b"name,email\nAda,a@example.com\nDee,d@example.com\n", actor="test")
        assign(db, acme, exam_id="social-media-frontline", due_at=datetime.now(UTC) + timedelta(days=9), actor="test")
        globex = create_organisation(db, "globex", "Globex", actor="test")
        enrol(db, globex, b"name,email\nZed,z@example.com\n", actor="test")
    assert client.get("/api/v1/hr/roster").status_code == 401
    body = client.get("/api/v1/hr/roster", headers=hr).get_json()
    people = {p["email"]: p for p in body["people"]}
    assert body["organisation"] == "acme" and set(people) == {"a@example.com", "d@example.com"}
    assert people["a@example.com"]["status"] == "passed"
    assert people["a@example.com"]["certificate_id"] == certified["id"]
    assert people["d@example.com"]["status"] == "not_started" and people["d@example.com"]["certificate_id"] is None
    assert body["counts"]["passed"] == 1 and body["counts"]["not_started"] == 1 and body["next"] is None
    r = client.get("/api/v1/hr/roster?format=csv", headers=hr)
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert r.mimetype == "text/csv" and {row["email"] for row in rows} == {"a@example.com", "d@example.com"}
    first = client.get("/api/v1/hr/roster?limit=1", headers=hr).get_json()
    second = client.get(f"/api/v1/hr/roster?limit=1&after={first['next']}", headers=hr).get_json()
    assert [p["email"] for p in first["people"] + second["people"]] == ["a@example.com", "d@example.com"]
    assert client.get("/api/v1/hr/roster?organisation=globex", headers=hr).status_code == 404
    assert client.get("/api/v1/hr/roster?status=happy", headers=hr).status_code == 400
    assert client.get("/api/v1/hr/roster?after=bm9wZQ", headers=hr).status_code == 400
    assert client.get("/api/v1/hr/roster?limit=0", headers=hr).status_code == 400


def test_a_certificate_names_the_organisations_that_enrolled_its_holder_not_what_they_typed(client, app):
    from organisations.enrolment import enrol
    from organisations.organisations import create_organisation

    sign_in(client, "enrolled@example.com")  # an account first: enrolment then finds it
    with transaction(app.extensions["db_factory"]) as db:
        globex = create_organisation(db, "globex", "Globex Retail", actor="test")
        enrol(db, globex, b"name,email\nEnrolled,enrolled@example.com\n", actor="test")
    typed = sit(client, app, email="typed@example.com", organisation="Globex Retail")["certificate"]
    enrolled = sit(client, app, email="enrolled@example.com", organisation="Anything")["certificate"]
    with app.extensions["db_factory"]() as db:
        assert db.get(Certificate, typed["id"]).organisation is None
        assert db.get(Certificate, enrolled["id"]).organisation == "Globex Retail"


def test_the_achievement_a_certificate_names_is_a_page_a_verifier_can_read(client, app):
    """The credential's achievement id and its scheme alignment point at the exam's public page."""
    from urllib.parse import urlsplit

    cert = sit(client, app, email="reader@example.com")["certificate"]
    with app.extensions["db_factory"]() as db:
        achievement = db.get(Certificate, cert["id"]).credential["credentialSubject"]["achievement"]
    for url in (achievement["id"], achievement["alignment"][0]["targetUrl"]):
        page = client.get(urlsplit(url).path)
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and "Social Media Risk &amp; Compliance certification" in text
        assert "Passed the adaptive exam" in text and "Valid for" in text and "-0.3" not in text
    assert client.get("/exams/no-such-exam").status_code == 404


@pytest.mark.parametrize("path", ["/certificates/NOPE.json", "/certificates/NOPE.pdf", "/verify/NOPE",
                                  "/status/banana"])
def test_unknown_things_are_404(client, path):
    assert client.get(path).status_code == 404


def test_offline_cli_verify_of_json_and_pdf(client, app, tmp_path):
    import subprocess
    import sys

    result = sit(client, app)
    files = {}
    names = ("did.json", "message.json", "revocation.json", "suspension.json")
    for name, doc in zip(names, published(client), strict=True):
        files[name] = tmp_path / name
        files[name].write_text(json.dumps(doc))
    credential = tmp_path / "credential.json"
    credential.write_bytes(client.get(result["certificate"]["credential_url"]).data)
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(client.get(result["certificate"]["pdf_url"]).data)

    def cli(path, *extra):
        args = [sys.executable, "-m", "cli.main", "verify", str(path), "--did-doc", str(files["did.json"]), *extra]
        return subprocess.run(args, capture_output=True, text=True, timeout=120)

    lists = [arg for name in names[1:] for arg in ("--status-list", str(files[name]))]
    ok = cli(credential, *lists, "--require-status")
    assert ok.returncode == 0 and ok.stdout.startswith("VALID"), ok.stdout + ok.stderr
    assert cli(pdf, *lists).returncode == 0
    assert cli(credential, "--require-status").returncode == 1  # status lists not given
    tampered = tmp_path / "tampered.json"
    tampered.write_text(credential.read_text().replace("Ada Lovelace", "Ada Lovelacf"))
    bad = cli(tampered, *lists)
    assert bad.returncode == 1 and "SIGNATURE_INVALID" in bad.stdout
    not_pdf = tmp_path / "empty.pdf"
    not_pdf.write_bytes(b"%PDF-1.7\n%%EOF")
    assert cli(not_pdf).returncode == 2


def test_the_issuer_key_is_published_from_the_first_start(client):
    document = client.get("/.well-known/did.json").get_json()
    assert document["id"].startswith("did:web:") and len(document["verificationMethod"]) == 1
    assert document["assertionMethod"] == [document["verificationMethod"][0]["id"]]


def test_a_certificate_gets_a_free_status_index_when_every_probe_is_taken(client, app, monkeypatch):
    """Issuing probes a few random indexes instead of reading every used one; when all probes are
    taken (a nearly full list), it falls back to the full read and still picks a free index."""
    import certs.service

    first = sit(client, app, email="first@example.com")
    with transaction(app.extensions["db_factory"]) as db:
        taken = db.get(Certificate, first["certificate"]["id"]).status_index
    monkeypatch.setattr(certs.service, "index_probes", lambda count: [taken] * count)
    second = sit(client, app, email="second@example.com")
    with transaction(app.extensions["db_factory"]) as db:
        indexes = db.execute(select(Certificate.status_index)).scalars().all()
    assert second["certificate"] and len(indexes) == len(set(indexes)) == 2 and taken in indexes
