"""Learner accounts for tests: register through the JSON API and get the bearer headers."""
from __future__ import annotations

PASSWORD = "correct horse battery staple"

# Tests register many learners from one address; tests/api/test_accounts.py checks the real limits.
GENEROUS_RATE_LIMITS = {key: "10000 per minute" for key in ("RATELIMIT_SIGNIN", "RATELIMIT_REGISTER",
                                                            "RATELIMIT_ANSWERS", "RATELIMIT_VERIFY")}


def learner_headers(client, email: str, name: str = "Ada Lovelace", organisation: str | None = None) -> dict:
    """Registers `email` (a no-op if it is registered already) and signs in, with a Flask test client."""
    body = {"name": name, "email": email, "password": PASSWORD}
    if organisation:
        body["organisation"] = organisation
    r = client.post("/api/v1/learners", json=body)
    assert r.status_code == 202, r.get_json()
    r = client.post("/api/v1/signin", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def sign_in(client, email: str, name: str = "Ada Lovelace", organisation: str | None = None) -> dict:
    """Registers or signs in `email` and makes it the Flask test client's learner for later requests."""
    headers = learner_headers(client, email, name, organisation)
    client.environ_base["HTTP_AUTHORIZATION"] = headers["Authorization"]
    return headers


def live_learner_headers(call, base: str, email: str, name: str = "Ada Lovelace") -> dict:
    """The same against a real server, with tests/helpers/http_json.call."""
    status, body = call("POST", f"{base}/api/v1/learners", {"name": name, "email": email, "password": PASSWORD})
    assert status == 202, body
    status, body = call("POST", f"{base}/api/v1/signin", {"email": email, "password": PASSWORD})
    assert status == 200, body
    return {"Authorization": f"Bearer {body['token']}"}
