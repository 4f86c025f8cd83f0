"""Every route is public on purpose, or refuses a caller without the right credentials.

A new route lands in neither list below unless someone decides which it is: the test then fails.
"""
from __future__ import annotations

import re

import pytest

# Open to anyone: reading material, exam catalogue, verification, issuer documents, sign-up/in pages.
PUBLIC = {
    "learner.index", "learner.guides", "learner.guide", "learner.exam_page", "learner.register_page",
    "learner.register",
    "learner.signin_page", "learner.signin", "learner.signin_link_page", "learner.signin_link",
    "learner.signout", "learner.join_page", "learner.join", "learner_api.exams", "learner_api.register",
    "learner_api.signin",
    "openapi.openapi", "hr.did_document", "hr.status_list", "hr.verify_page", "hr.verify_submit",
    "hr.verify_api", "hr.verify_certificate", "static",
    # A certificate is the holder's to share: its unguessable id is in the QR code for verifiers.
    "hr.certificate", "hr.certificate_json", "hr.certificate_pdf",
    # Signed heads of the audit trail protect history only if outsiders keep copies (api/transparency.py).
    "transparency.latest_checkpoint", "transparency.consistency",
    # The console's sign-in pages.
    "console.signin_page", "console.signin", "console.signin_link_page", "console.signin_link", "console.signout",
}
# Need a signed-in learner (and then only show that learner's own things).
LEARNER = {
    "learner.password_page", "learner.set_password", "learner.start", "learner.sit", "learner.answer",
    "learner.result", "learner.my_certificates", "learner_api.me", "learner_api.signout",
    "learner_api.start", "learner_api.resume", "learner_api.answer", "learner_api.result",
}
# Need a staff bearer token with a role; a learner's token is not one.
STAFF_PREFIXES = ("admin.", "psychometrics.", "hr.hr_roster")
# Need a staff member signed in to the console (its cookie); what they see then is their organisations' only.
CONSOLE_PREFIX = "console."


def _url(rule) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: "1" if m.group(1).endswith("id") else "x", rule.rule)


def test_every_route_is_classified(app):
    for rule in app.url_map.iter_rules():
        staff = rule.endpoint.startswith(STAFF_PREFIXES) or (
            rule.endpoint.startswith(CONSOLE_PREFIX) and rule.endpoint not in PUBLIC)
        assert (rule.endpoint in PUBLIC) + (rule.endpoint in LEARNER) + staff == 1, \
            f"{rule.endpoint} ({rule.rule}): decide whether it is public, learner-only or staff-only"


def _sign_in_learner(client) -> dict:
    from learners import learner_headers

    return learner_headers(client, "guard@example.com")


@pytest.mark.parametrize("with_learner_token", [False, True], ids=["anonymous", "learner"])
def test_staff_routes_refuse_anyone_without_a_staff_token(app, client, with_learner_token):
    headers = _sign_in_learner(client) if with_learner_token else {}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(STAFF_PREFIXES):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            r = client.open(_url(rule), method=method, headers=headers, json={})
            assert r.status_code == 401, f"{method} {rule.rule}: {r.status_code}"


def test_learner_routes_refuse_anyone_signed_out(app, client):
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in LEARNER:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            r = client.open(_url(rule), method=method, json={} if rule.rule.startswith("/api/") else None)
            if rule.rule.startswith("/api/"):
                assert r.status_code == 401, f"{method} {rule.rule}: {r.status_code}"
            elif method == "POST":
                assert r.status_code == 400 and b"form expired" in r.data, f"{method} {rule.rule}"  # CSRF first
            else:
                assert r.status_code == 302 and "/signin" in r.headers["Location"], f"{method} {rule.rule}"


@pytest.mark.parametrize("as_learner", [False, True], ids=["anonymous", "signed-in learner"])
def test_console_routes_refuse_anyone_not_signed_in_as_staff(app, client, as_learner):
    """Signed out, or signed in as a learner (whose cookie is not a console session): every console page sends
    to the console's sign-in, and every console form is refused before it does anything."""
    if as_learner:
        from item_bank import accounts
        from storage.db import transaction

        with transaction(app.extensions["db_factory"]) as db:
            accounts.register(db, name="Guard", email="guard@example.com", password="a long passphrase here")
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signin").get_data(as_text=True))[1]
        signed_in = client.post("/signin", data={"csrf_token": token, "email": "guard@example.com",
                                                 "password": "a long passphrase here"})
        assert signed_in.status_code in (302, 303) and client.get("/my/certificates").status_code == 200
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(CONSOLE_PREFIX) or rule.endpoint in PUBLIC:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            r = client.open(_url(rule), method=method)
            if method == "POST":
                assert r.status_code == 400 and b"form expired" in r.data, f"{method} {rule.rule}"  # CSRF first
            else:
                assert r.status_code == 302 and "/console/signin" in r.headers["Location"], f"{method} {rule.rule}"
