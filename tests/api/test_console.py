"""The employer's console through HTTP: staff sign in (link, then password), see their organisation's dashboard,
people, a person's page and exports, act on certificates (audited with their identity); a manager sees their
reports only; and every console or roster route, walked from the app's url_map, answers 404/403 to staff of
another organisation whatever ids it is given."""
from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest
from sqlalchemy import select

from storage import AuditEvent, Certificate
from storage.db import transaction
from tests.helpers.programme import two_organisations


def _csrf(client, path: str) -> str:
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _sign_in(client, link_token: str) -> None:
    token = _csrf(client, "/console/signin/link")
    r = client.post("/console/signin/link", data={"csrf_token": token, "token": link_token})
    assert r.status_code == 303 and r.headers["Location"].endswith("/console/password")


@pytest.fixture
def programme(app):
    return two_organisations(app.extensions["db_factory"])


def test_signing_in_needs_a_link_or_password_and_signing_out_ends_it(app, client, programme):
    links, _ = programme
    assert client.get("/console/acme/").status_code == 302  # to the sign-in page
    _sign_in(client, links["hr@acme.example"])
    token = _csrf(client, "/console/password")
    assert client.post("/console/password", data={"csrf_token": token, "password": "short"}).status_code == 400
    assert client.post("/console/password", data={"csrf_token": token,
                                                  "password": "a long and unusual phrase"}).status_code == 303
    assert client.get("/console/acme/").status_code == 200
    client.post("/console/signout", data={"csrf_token": _csrf(client, "/console/acme/")})
    assert client.get("/console/acme/").status_code == 302
    again = client.post("/console/signin/link", data={"csrf_token": _csrf(client, "/console/signin/link"),
                                                      "token": links["hr@acme.example"]})
    assert again.status_code == 400  # the link was used up
    wrong = client.post("/console/signin", data={"csrf_token": _csrf(client, "/console/signin"),
                                                 "email": "hr@acme.example", "password": "not the password"})
    assert wrong.status_code == 401 and "not recognised" in wrong.get_data(as_text=True)
    right = client.post("/console/signin", data={"csrf_token": _csrf(client, "/console/signin"),
                                                 "email": "HR@acme.example", "password": "a long and unusual phrase",
                                                 "next": "https://evil.example/"})
    assert right.status_code == 303 and right.headers["Location"] == "/console/"  # never off-site


def test_hr_sees_the_dashboard_people_and_a_person_and_exports_them(app, client, programme):
    links, ids = programme
    _sign_in(client, links["hr@acme.example"])
    board = client.get("/console/acme/").get_data(as_text=True)
    assert "Acme Ltd" in board and "Zed" not in board
    assert "Mail is not configured" in board  # the test app has no CERTAMEN_SMTP_URL
    people = client.get("/console/acme/people").get_data(as_text=True)
    assert all(name in people for name in ("Ana Lima", "Bo Chen", "Cy Diaz")) and "Zed Zane" not in people
    failed = client.get("/console/acme/people?status=failed").get_data(as_text=True)
    assert "Bo Chen" in failed and "Ana Lima" not in failed
    assert client.get("/console/acme/people?status=happy").status_code == 400
    page = client.get(f"/console/acme/people/{ids['ana']}").get_data(as_text=True)
    assert ids["ana_cert"] in page and "Certified" in page
    csv_text = client.get("/console/acme/people.csv?status=passed").get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("name,email") and len(csv_text.splitlines()) == 2
    assert "ana@acme.example" in csv_text
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(client.get("/console/acme/people.xlsx").data)).active
    emails = {row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert emails == {"ana@acme.example", "bo@acme.example", "cy@acme.example"}


def test_certificate_actions_are_audited_with_the_staff_members_identity(app, client, programme):
    links, ids = programme
    _sign_in(client, links["hr@acme.example"])
    token = _csrf(client, f"/console/acme/people/{ids['ana']}")
    url = f"/console/acme/certificates/{ids['ana_cert']}/status"
    assert client.post(url, data={"csrf_token": token, "action": "suspend", "reason": ""}).status_code == 422
    r = client.post(url, data={"csrf_token": token, "action": "suspend", "reason": "under investigation",
                               "employee": ids["ana"]})
    assert r.status_code == 303
    with transaction(app.extensions["db_factory"]) as db:
        assert db.get(Certificate, ids["ana_cert"]).suspended_at is not None
        event = db.execute(select(AuditEvent).where(AuditEvent.kind == "certificate.suspend")).scalar_one()
        assert event.actor.startswith("staff:") and event.actor.endswith("hr@acme.example")
    r = client.post(f"/console/acme/people/{ids['bo']}/exemption",
                    data={"csrf_token": token, "action": "exempt", "exam": "social-media-frontline",
                          "reason": "long-term leave"})
    assert r.status_code == 303
    assert "long-term leave" in client.get(f"/console/acme/people/{ids['bo']}").get_data(as_text=True)


def test_hr_sends_a_valid_certificate_again_and_the_trail_says_who_did(app, client, programme):
    """Re-sent to the address the organisation enrolled, with its public links and nothing secret; a
    withdrawn certificate is not sent; SMTP down: an error, and no audit record says it went."""
    from email import message_from_bytes, policy

    links, ids = programme
    _sign_in(client, links["hr@acme.example"])
    token = _csrf(client, f"/console/acme/people/{ids['ana']}")
    assert "Send to ana@acme.example again" in client.get(f"/console/acme/people/{ids['ana']}").get_data(as_text=True)
    url = f"/console/acme/certificates/{ids['ana_cert']}/resend"
    r = client.post(url, data={"csrf_token": token, "employee": ids["ana"]})
    assert r.status_code == 303
    assert f"Certificate {ids['ana_cert']} sent to ana@acme.example." in client.get(r.headers["Location"]).get_data(
        as_text=True)
    (sent,) = (app.extensions["settings"].outbox_dir).glob("*.eml")
    message = message_from_bytes(sent.read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    assert message["To"] == "ana@acme.example" and f"/verify/{ids['ana_cert']}" in text
    assert "hr@acme.example (Acme Ltd)" in text and "proofValue" not in text and "privateKey" not in text
    with transaction(app.extensions["db_factory"]) as db:
        event = db.execute(select(AuditEvent).where(AuditEvent.kind == "certificate.resend")).scalar_one()
        assert event.actor.endswith("hr@acme.example") and event.data == {"to": "ana@acme.example"}
    app.extensions["settings"] = replace(app.extensions["settings"], smtp_url="smtp://127.0.0.1:1")
    assert client.post(url, data={"csrf_token": token}).status_code == 503  # nobody listens on port 1
    client.post(f"/console/acme/certificates/{ids['ana_cert']}/status",
                data={"csrf_token": token, "action": "revoke", "reason": "left under a cloud"})
    assert client.post(url, data={"csrf_token": token}).status_code == 409
    with transaction(app.extensions["db_factory"]) as db:
        assert len(db.execute(select(AuditEvent).where(AuditEvent.kind == "certificate.resend")).all()) == 1


def test_a_manager_sees_their_reports_only_and_cannot_act(app, client, programme):
    links, ids = programme
    _sign_in(client, links["mia@acme.example"])
    people = client.get("/console/acme/people").get_data(as_text=True)
    assert "Ana Lima" in people and "Bo Chen" in people and "Cy Diaz" not in people
    assert client.get(f"/console/acme/people/{ids['cy']}").status_code == 404
    csv_text = client.get("/console/acme/people.csv").get_data(as_text=True)
    assert "cy@acme.example" not in csv_text and "ana@acme.example" in csv_text
    token = _csrf(client, f"/console/acme/people/{ids['ana']}")
    r = client.post(f"/console/acme/certificates/{ids['ana_cert']}/status",
                    data={"csrf_token": token, "action": "revoke", "reason": "x"})
    assert r.status_code == 403
    assert client.post(f"/console/acme/certificates/{ids['ana_cert']}/resend",
                       data={"csrf_token": token}).status_code == 403


def _fill(rule, values: dict) -> str:
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(r"<(?:[a-z]+:)?" + name + ">", str(values[name]), path)
    return path


def test_every_organisation_route_refuses_another_organisations_staff(app, client, programme):
    """Walks the url_map: each route that takes an organisation, a person or a certificate, asked by globex's
    HR about acme (acme's slug, or globex's slug with acme's ids), answers 404 or 403 and changes nothing."""
    links, ids = programme
    _sign_in(client, links["hr@globex.example"])
    token = _csrf(client, "/console/globex/")
    routes = [rule for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/console/<slug>") or rule.rule.startswith("/api/v1/hr/")]
    assert len(routes) >= 7
    checked = 0
    for rule in routes:
        for values in ({"slug": "acme", "employee_id": ids["ana"], "cert_id": ids["ana_cert"]},
                       {"slug": "globex", "employee_id": ids["ana"], "cert_id": ids["ana_cert"]}):
            if rule.arguments <= {"slug"} and values["slug"] == "globex":
                continue  # globex's own page: allowed
            path = _fill(rule, values)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                data = {"csrf_token": token, "action": "revoke", "reason": "x", "exam": "social-media-frontline"}
                r = client.open(path, method=method, data=data if method == "POST" else None)
                assert r.status_code in (401, 403, 404), (method, path, r.status_code)
                checked += 1
    assert checked >= 10
    with transaction(app.extensions["db_factory"]) as db:
        assert db.get(Certificate, ids["ana_cert"]).revoked_at is None
    ok = client.get(f"/console/globex/people/{ids['zed']}")
    assert ok.status_code == 200 and "Zed Zane" in ok.get_data(as_text=True)


def test_hr_uploads_a_roster_all_or_nothing(app, client, programme):
    import io as _io

    links, _ = programme
    _sign_in(client, links["hr@acme.example"])
    token = _csrf(client, "/console/acme/")

    def upload(data: bytes, **form):
        return client.post("/console/acme/roster", content_type="multipart/form-data",
                           data={"csrf_token": token, "roster": (_io.BytesIO(data), "people.csv"), **form})

    good = upload(b"name,email,department\nDee New,dee@acme.example,Sales\nAna Lima,ana@acme.example,Sales\n")
    assert good.status_code == 200 and "people added" in good.get_data(as_text=True)
    assert "Dee New" in client.get("/console/acme/people?q=dee").get_data(as_text=True)
    bad = upload(b"name,email\nEve,not-an-address\nFay,fay@acme.example\n")
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "line 2" in text and "nothing was imported" in text
    assert "Fay" not in client.get("/console/acme/people?q=fay").get_data(as_text=True)
    # larger than the 2 MB other forms may send: read, and refused for its content, not its size
    big = b"name,email\n" + b"".join(b"Person %d,bad-address-%d\n" % (i, i) for i in range(120_000))
    assert len(big) > app.config["MAX_CONTENT_LENGTH"]
    assert upload(big).status_code == 422
    _sign_in(client, links["mia@acme.example"])  # a manager does not enrol people
    token = _csrf(client, "/console/acme/")
    assert upload(b"name,email\nGus,gus@acme.example\n").status_code == 403
