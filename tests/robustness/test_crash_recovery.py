"""Kill -9 the server in the middle of exams, restart it, and lose nothing that was acknowledged.

A real server process (`certamen serve`, the werkzeug server or granian with two workers) runs on a
prepared SQLite or PostgreSQL database. Learners answer over HTTP; the whole process group is SIGKILLed,
some answers still in flight; a new server starts on the same database and port; every sitting resumes
with every acknowledged answer, the same pending item, and can be finished. The audit chain is intact.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from http_json import call as http_call
from learners import live_learner_headers
from pg_cluster import free_port
from sqlalchemy import select

from storage import Item
from storage.db import make_engine, make_session_factory, transaction

REPO = Path(__file__).resolve().parents[2]
EXAM = "social-media-frontline"
HTTP_TIMEOUT = 30
START_TIMEOUT = 60


# ---------------------------------------------------------------- processes


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


class Server:
    """`python -m cli.main serve` in its own process group, so SIGKILL reaches granian's workers too."""

    def __init__(self, kind: str, port: int, env: dict[str, str], log: Path):
        self.kind, self.port, self.env, self.log_path = kind, port, env, log
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.kind == "production":
            command += ["--production", "--workers", "2"]
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(command, cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _ = call("GET", f"{self.base}/api/v1/exams", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        pytest.fail(f"the server did not answer within {START_TIMEOUT} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole process group and wait until none of it is left."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the server leads its own group
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        finally:
            deadline = time.monotonic() + 10
            while group_members(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
        left = group_members(pgid)
        assert not left, f"processes survived SIGKILL: {left}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


@pytest.fixture(params=["development", pytest.param("production", marks=pytest.mark.slow)])
def server(request, database_url, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CERTAMEN_", "DATABASE_URL"))}
    env.update({
        "DATABASE_URL": database_url,
        "CERTAMEN_KEY_DIR": str(tmp_path / "keys"),
        "CERTAMEN_SECRET_KEY": "crash-test-secret",
        "CERTAMEN_INSTANCE": str(tmp_path / "instance"),
        "CERTAMEN_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
    })
    srv = Server(request.param, port, env, tmp_path / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


# ---------------------------------------------------------------- HTTP


def call(method: str, url: str, body: dict | None = None, timeout: float = HTTP_TIMEOUT,
         auth: dict | None = None) -> tuple[int, dict]:
    return http_call(method, url, body, timeout=timeout, headers=auth)


class Keys:
    """Answer keys straight from the database, so learners can be made to pass or fail."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        self.factory = make_session_factory(self.engine)
        self.cache: dict[str, str] = {}

    def __call__(self, item: dict) -> int:
        """Where the presented item shows its key (the options are in the sitting's order)."""
        if item["item_id"] not in self.cache:
            with transaction(self.factory) as db:
                options, key = db.execute(select(Item.options, Item.key_index).where(
                    Item.external_id == item["item_id"], Item.is_current.is_(True))).one()
                self.cache[item["item_id"]] = options[key]["text"]
        return next(shown["index"] for shown in item["options"] if shown["text"] == self.cache[item["item_id"]])


@pytest.fixture
def keys(database_url):
    k = Keys(database_url)
    yield k
    k.engine.dispose()


class Learner:
    def __init__(self, base: str, email: str, keys: Keys, strong: bool):
        self.base, self.email, self.keys, self.strong = base, email, keys, strong
        self.view: dict = {}
        self.acknowledged = 0  # answers the server confirmed (201/200)
        self.in_flight: dict | None = None

    @property
    def sid(self) -> str:
        return self.view["session_id"]

    def start(self) -> None:
        self.auth = live_learner_headers(call, self.base, self.email, name="Crash Test")
        status, self.view = call("POST", f"{self.base}/api/v1/sessions", {"exam_id": EXAM}, auth=self.auth)
        assert status == 201, self.view

    def body(self) -> dict:
        item = self.view["item"]
        key = self.keys(item)
        choice = key if self.strong else (key + 1) % len(item["options"])
        return {"seq": item["seq"], "item_id": item["item_id"], "choice": choice}

    def answer(self) -> None:
        status, view = call("POST", f"{self.base}/api/v1/sessions/{self.sid}/answers", self.body(), auth=self.auth)
        assert status == 201, view
        self.view = view
        self.acknowledged += 1
        assert view["answered"] == self.acknowledged

    def answer_unacknowledged(self) -> None:
        """Send an answer while the server is being killed; the reply may never come."""
        self.in_flight = self.body()
        try:
            status, view = call("POST", f"{self.base}/api/v1/sessions/{self.sid}/answers", self.in_flight,
                                auth=self.auth, timeout=10)
        except (OSError, http.client.HTTPException):  # reset, refused, cut short, timed out: not acknowledged
            return
        if status in (200, 201):
            self.view = view
            self.acknowledged += 1
            self.in_flight = None


def resume_and_finish(base: str, learner: Learner) -> dict:
    """After the restart: the sitting has every acknowledged answer; an unacknowledged one is either kept or
    not, and sending it again is safe; then the exam can be finished and its result read."""
    before = learner.view
    status, view = call("GET", f"{base}/api/v1/sessions/{learner.sid}", auth=learner.auth)
    assert status == 200, view
    assert view["state"] == "in_progress"
    if learner.in_flight is None or view["answered"] == learner.acknowledged:
        assert view["answered"] == learner.acknowledged, (view["answered"], learner.acknowledged)
        assert view["item"] == before["item"], "the pending item changed across the crash"
    else:
        # The in-flight answer was committed before the kill, only its reply was lost.
        assert view["answered"] == learner.acknowledged + 1
        assert view["item"] != before["item"]
    if learner.in_flight is not None:
        status, retried = call("POST", f"{base}/api/v1/sessions/{learner.sid}/answers", learner.in_flight,
                               auth=learner.auth)
        kept = view["answered"] == learner.acknowledged + 1
        assert status == (200 if kept else 201), retried
        assert retried["duplicate"] is kept
        learner.acknowledged += 1
        learner.in_flight = None
        view = retried
        assert view["answered"] == learner.acknowledged
    learner.view = view
    while learner.view["state"] == "in_progress":
        learner.answer()
    status, result = call("GET", f"{base}/api/v1/sessions/{learner.sid}/result", auth=learner.auth)
    assert status == 200, result
    assert result["items_answered"] == learner.acknowledged
    return result


def audit_verify(server: Server) -> None:
    proc = subprocess.run([sys.executable, "-m", "cli.main", "audit", "verify", "--json"], cwd=REPO,
                          env=server.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["ok"] is True


# ---------------------------------------------------------------- the tests


def test_sigkill_mid_exam_loses_no_acknowledged_answer(server, keys):
    strong = Learner(server.base, "strong@example.com", keys, strong=True)
    weak = Learner(server.base, "weak@example.com", keys, strong=False)
    for learner in (strong, weak):
        learner.start()
        for _ in range(5):
            learner.answer()
    pending = {learner.sid: learner.view["item"] for learner in (strong, weak)}

    server.kill()
    assert server.proc.returncode == -signal.SIGKILL
    with pytest.raises(OSError):
        call("GET", f"{server.base}/api/v1/exams", timeout=2)
    server.start()

    for learner in (strong, weak):
        status, view = call("GET", f"{server.base}/api/v1/sessions/{learner.sid}", auth=learner.auth)
        assert status == 200 and view["answered"] == 5 and view["item"] == pending[learner.sid], view
        # Starting the exam again resumes the same sitting.
        learner_again = Learner(server.base, learner.email, keys, learner.strong)
        learner_again.start()
        assert learner_again.sid == learner.sid and learner_again.view["item"] == pending[learner.sid]

    passed = resume_and_finish(server.base, strong)
    failed = resume_and_finish(server.base, weak)
    assert passed["decision"] == "pass" and passed["certificate"] is not None
    assert failed["decision"] == "fail" and failed["certificate"] is None
    # The certificate issued after the restart can be fetched and verifies.
    status, credential = call("GET", server.base + passed["certificate"]["credential_url"])
    assert status == 200 and credential
    audit_verify(server)


def test_sigkill_with_answers_in_flight(server, keys):
    learners = [Learner(server.base, f"inflight{i}@example.com", keys, strong=bool(i % 2)) for i in range(4)]
    for learner in learners:
        learner.start()
        for _ in range(3):
            learner.answer()

    threads = [threading.Thread(target=learner.answer_unacknowledged, daemon=True) for learner in learners]
    for thread in threads:
        thread.start()
    time.sleep(0.02)  # some requests reach the server, some are mid-transaction, some are not sent yet
    server.kill()
    for thread in threads:
        thread.join(timeout=15)
        assert not thread.is_alive()
    server.start()

    for learner in learners:
        result = resume_and_finish(server.base, learner)
        assert result["decision"] in ("pass", "fail")
    audit_verify(server)




@pytest.mark.postgres
def test_server_starts_on_every_database_url_the_cli_accepts(postgres_prepared_url, tmp_path):
    """The restarted server must come up on the configuration the operator's CLI commands used."""
    url = postgres_prepared_url.replace("postgresql+psycopg://", "postgres://", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CERTAMEN_", "DATABASE_URL"))}
    env.update({"DATABASE_URL": url, "CERTAMEN_KEY_DIR": str(tmp_path / "keys"),
                "CERTAMEN_SECRET_KEY": "s", "CERTAMEN_INSTANCE": str(tmp_path / "instance")})
    cli = subprocess.run([sys.executable, "-m", "cli.main", "db", "upgrade"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr  # the CLI takes the URL...
    port = free_port()
    srv = Server("development", port, env, tmp_path / "server.log")
    try:
        srv.start()  # ...and so must the server
    finally:
        srv.kill()
