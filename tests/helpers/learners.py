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


def key_of(app, item: dict) -> int:
    """Where a presented item (a sitting view's "item") shows its answer key, which a learner never sees:
    the key's text read from the app's database, found among the options in the order this sitting shows."""
    from sqlalchemy import select

    from storage import Item
    from storage.db import transaction

    with transaction(app.extensions["db_factory"]) as db:
        options, key = db.execute(select(Item.options, Item.key_index).where(
            Item.external_id == item["item_id"], Item.is_current.is_(True))).one()
    return next(shown["index"] for shown in item["options"] if shown["text"] == options[key]["text"])


def answer_to_the_end(client, app, view: dict, *, correct: bool = True) -> dict:
    """Answers a sitting (every answer right, or every one wrong) until it ends; its last view. An answer
    is acknowledged as recorded (200/201) even when the certificate it would earn is refused."""
    while view.get("state") == "in_progress":
        item = view["item"]
        key = key_of(app, item)
        choice = key if correct else (key + 1) % len(item["options"])
        r = client.post(f"/api/v1/sessions/{view['session_id']}/answers",
                        json={"seq": item["seq"], "item_id": item["item_id"], "choice": choice})
        assert r.status_code in (200, 201), r.get_json()
        view = r.get_json()
    return view


def sit(client, app, *, email: str = "ada@example.com", exam: str = "social-media-frontline", correct: bool = True,
        organisation: str | None = "Acme") -> dict:
    """Signs `email` in, sits `exam` to the end through the JSON API; the result."""
    sign_in(client, email, organisation=organisation)
    r = client.post("/api/v1/sessions", json={"exam_id": exam})
    assert r.status_code == 201, r.get_json()
    view = answer_to_the_end(client, app, r.get_json(), correct=correct)
    return client.get(f"/api/v1/sessions/{view['session_id']}/result").get_json()
