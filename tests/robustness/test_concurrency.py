"""Racing requests against a live, multi-threaded server, on SQLite and PostgreSQL.

Two browser tabs, or a client that retries before the first answer came back, send the same request at
the same moment. The answer must count once, one sitting must be opened, and the audit chain must stay
one unbroken chain.
"""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from http_json import call as http_call
from learners import key_of, live_learner_headers
from sqlalchemy import func, select
from werkzeug.serving import make_server

from item_bank.audit import verify_chain
from storage import AuditEvent, Candidate, Item, Response, Sitting
from storage.db import transaction

EXAM = "social-media-frontline"
THREADS = 8
HTTP_TIMEOUT = 60



# ---------------------------------------------------------------- a live server and an HTTP client


@pytest.fixture
def live_server(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash is the 500 a client would see
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def call(method: str, url: str, body: dict | None = None, auth: dict | None = None) -> tuple[int, dict]:
    return http_call(method, url, body, timeout=HTTP_TIMEOUT, headers=auth)


def all_at_once(n: int, fn, *args) -> list:
    """Run fn(i, *args) in n threads released together by a barrier; results in thread order."""
    barrier = threading.Barrier(n, timeout=30)

    def run(i):
        barrier.wait()
        return fn(i, *args)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return [f.result(timeout=HTTP_TIMEOUT * 2) for f in [pool.submit(run, i) for i in range(n)]]


def start(base: str, email: str) -> tuple[dict, dict]:
    """(first view, the learner's auth headers)"""
    auth = live_learner_headers(call, base, email, name="Racer")
    status, view = call("POST", f"{base}/api/v1/sessions", {"exam_id": EXAM}, auth)
    assert status == 201, view
    return view, auth


def count(app, model, *where) -> int:
    with transaction(app.extensions["db_factory"]) as db:
        return db.execute(select(func.count()).select_from(model).where(*where)).scalar()


def assert_audit_chain_intact(app) -> None:
    with transaction(app.extensions["db_factory"]) as db:
        report = verify_chain(db)
    assert report.ok, report.problems


# ---------------------------------------------------------------- the same answer, many times at once


def test_same_answer_sent_at_once_counts_once(app, live_server):
    view, auth = start(live_server, "tabs@example.com")
    sid = view["session_id"]
    url = f"{live_server}/api/v1/sessions/{sid}/answers"
    rounds = 5
    for n in range(rounds):
        item = view["item"]
        body = {"seq": item["seq"], "item_id": item["item_id"], "choice": key_of(app, item)}
        results = all_at_once(THREADS, lambda i, body=body: call("POST", url, body, auth))
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] * (THREADS - 1) + [201], results
        assert [v["duplicate"] for s, v in results if s == 200] == [True] * (THREADS - 1)
        # Every caller, winner or duplicate, is shown the same next item.
        assert len({json.dumps(v["item"], sort_keys=True) for _, v in results}) == 1
        assert {v["answered"] for _, v in results} == {n + 1}
        view = results[0][1]
    assert count(app, Response, Response.session_id == sid) == rounds
    assert count(app, AuditEvent, AuditEvent.kind == "exam.answer", AuditEvent.subject == f"session:{sid}") == rounds
    status, resumed = call("GET", f"{live_server}/api/v1/sessions/{sid}", auth=auth)
    assert status == 200 and resumed["answered"] == rounds and resumed["item"] == view["item"]
    assert_audit_chain_intact(app)


def test_different_answers_to_one_item_at_once_one_wins(app, live_server):
    """Two tabs answering the same item differently: one answer is kept, the other is refused (409)."""
    view, auth = start(live_server, "twotabs@example.com")
    sid, item = view["session_id"], view["item"]
    url = f"{live_server}/api/v1/sessions/{sid}/answers"
    choices = [i % len(item["options"]) for i in range(THREADS)]
    results = all_at_once(THREADS, lambda i: call("POST", url, {"seq": item["seq"], "item_id": item["item_id"],
                                                                 "choice": choices[i]}, auth))
    assert sorted(s for s, _ in results).count(201) == 1, results
    winner = choices[next(i for i, (s, _) in enumerate(results) if s == 201)]
    for i, (status, body) in enumerate(results):
        if status == 201:
            continue
        if choices[i] == winner:
            assert status == 200 and body["duplicate"] is True, body
        else:
            assert status == 409 and "already answered" in body["error"], body
    with transaction(app.extensions["db_factory"]) as db:
        stored = db.execute(select(Response).where(Response.session_id == sid)).scalars().all()
        # The option stored is the one the winning tab clicked (options are shown in the sitting's order).
        chosen = [(r.seq, db.get(Item, r.item_id).options[r.choice]["text"]) for r in stored]
    assert chosen == [(item["seq"], item["options"][winner]["text"])]
    assert count(app, AuditEvent, AuditEvent.kind == "exam.answer") == 1
    assert_audit_chain_intact(app)


# ---------------------------------------------------------------- starting the same exam at once


def _race_starts(app, base: str, email: str, auth: dict) -> tuple[list, int]:
    results = all_at_once(THREADS, lambda i: call("POST", f"{base}/api/v1/sessions", {"exam_id": EXAM}, auth))
    with transaction(app.extensions["db_factory"]) as db:
        running = db.execute(select(func.count()).select_from(Sitting).join(Candidate)
                             .where(Candidate.email == email, Sitting.state == "in_progress")).scalar()
    return results, running


def test_concurrent_starts_by_one_candidate_open_one_sitting(app, live_server):
    # Several rounds: each must hold; one round losing the race is the bug.
    for n in range(5):
        email = f"starter{n}@example.com"
        auth = live_learner_headers(call, live_server, email, name="Racer")
        results, running = _race_starts(app, live_server, email, auth)
        assert [s for s, _ in results] == [201] * THREADS, results
        assert len({v["session_id"] for _, v in results}) == 1, "different sittings were handed out"
        assert running == 1
        # The learner can resume it afterwards, but not open a second exam beside it.
        status, again = call("POST", f"{live_server}/api/v1/sessions", {"exam_id": EXAM}, auth)
        assert status == 201 and again["session_id"] == results[0][1]["session_id"], again
        status, other = call("POST", f"{live_server}/api/v1/sessions", {"exam_id": "social-media-manager"}, auth)
        assert status == 409 and "in progress" in other["error"], other
    assert_audit_chain_intact(app)


def test_concurrent_registrations_of_one_email_create_one_account(app, live_server):
    for n in range(5):
        email = f"newcomer{n}@example.com"
        body = {"name": "Racer", "email": email, "password": "correct horse battery staple"}
        results = all_at_once(THREADS, lambda i, body=body: call("POST", f"{live_server}/api/v1/learners", body))
        # One account; every racer is told the same (registration never says an address was taken).
        assert [s for s, _ in results] == [202] * THREADS, results
        assert count(app, Candidate, Candidate.email == email) == 1
    assert_audit_chain_intact(app)


# ---------------------------------------------------------------- many learners at once


def test_many_learners_at_once_keep_every_answer_and_one_audit_chain(app, live_server):
    learners = 6

    def sit(i: int) -> tuple[str, int, dict]:
        view, auth = start(live_server, f"parallel{i}@example.com")
        sid, answered = view["session_id"], 0
        while view["state"] == "in_progress":
            item = view["item"]
            key = key_of(app, item)
            choice = key if (i + answered) % 3 else (key + 1) % len(item["options"])
            status, view = call("POST", f"{live_server}/api/v1/sessions/{sid}/answers",
                                {"seq": item["seq"], "item_id": item["item_id"], "choice": choice}, auth)
            assert status == 201, view
            answered += 1
            assert view["answered"] == answered
        status, result = call("GET", f"{live_server}/api/v1/sessions/{sid}/result", auth=auth)
        assert status == 200, result
        return sid, answered, result

    outcomes = all_at_once(learners, sit)
    for sid, answered, result in outcomes:
        assert result["items_answered"] == answered
        assert count(app, Response, Response.session_id == sid) == answered
        answers = count(app, AuditEvent, AuditEvent.kind == "exam.answer", AuditEvent.subject == f"session:{sid}")
        assert answers == answered
    assert_audit_chain_intact(app)
