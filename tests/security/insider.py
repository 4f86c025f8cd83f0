"""What an insider with write access to the database (and the algorithms, which are public) can do,
and the honest flows the attacks start from: sittings through the JSON API, staff actions, the CLI."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from learners import answer_to_the_end, sign_in
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from item_bank.audit import GENESIS, GLOBAL, SEAL_KIND, _digest, _timestamp
from storage import AuditEvent, Sitting
from storage.db import transaction

FRONTLINE = "social-media-frontline"
RECERT = "social-media-recert"
MANAGER = "social-media-manager"
CERTAMEN = [sys.executable, "-m", "cli.main"]


# ---------------------------------------------------------------- honest flows


def start(client, exam: str = FRONTLINE):
    return client.post("/api/v1/sessions", json={"exam_id": exam})


def sit(client, app, *, email: str, exam: str = FRONTLINE, correct: bool = True) -> str:
    """Signs `email` in, sits `exam` to the end (every answer right, or every one wrong); the sitting's id."""
    sign_in(client, email)
    r = start(client, exam)
    assert r.status_code == 201, r.get_json()
    return answer_to_the_end(client, app, r.get_json(), correct=correct)["session_id"]


def result(client, session_id: str):
    return client.get(f"/api/v1/sessions/{session_id}/result")


def certificate_of(client, session_id: str) -> str:
    r = result(client, session_id)
    assert r.status_code == 200 and r.get_json()["certificate"], r.get_json()
    return r.get_json()["certificate"]["id"]


def admin_post(client, role_token, path: str, body: dict):
    return client.post(f"/api/v1/admin{path}", json=body, headers={"Authorization": f"Bearer {role_token('admin')}"})


def cli(args: list[str], app, check: bool = True) -> subprocess.CompletedProcess:
    """`certamen ARGS` as a user runs it, against the app's database and key directory."""
    env = {**os.environ, "DATABASE_URL": app.config["DATABASE_URL"],
           "CERTAMEN_KEY_DIR": app.config["CERTAMEN_KEY_DIR"], "CERTAMEN_PUBLIC_URL": app.config["PUBLIC_URL"]}
    proc = subprocess.run(CERTAMEN + args, capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


# ---------------------------------------------------------------- the insider's tools


def db_of(app):
    return transaction(app.extensions["db_factory"])


def rehash_everything(db: Session) -> None:
    """Recompute every chain as if it had always been like this: renumber each chain 1, 2, ..., relink,
    rehash, and point every seal at its chain's new head (sitting chains first, then the global chain).
    What someone who knows the algorithm does after editing or removing events; no secret is needed."""
    events = db.execute(select(AuditEvent).order_by(AuditEvent.chain, AuditEvent.chain_seq)).scalars().all()
    chains: dict[str, list[AuditEvent]] = {}
    for event in events:
        chains.setdefault(event.chain, []).append(event)
    heads: dict[str, tuple[int, str]] = {}
    for chain in sorted(chains, key=lambda name: name == GLOBAL):
        prev = GENESIS
        for seq, event in enumerate(chains[chain], start=1):
            data = dict(event.data)
            if event.kind == SEAL_KIND and data.get("chain") in heads:
                data["events"], data["head"] = heads[data["chain"]]
            digest = _digest(prev, _timestamp(event.at), event.actor, event.kind, event.subject, data)
            db.execute(update(AuditEvent).where(AuditEvent.id == event.id)
                       .values(chain_seq=seq, data=data, prev_hash=prev, hash=digest))
            prev = digest
        heads[chain] = (len(chains[chain]), prev)


def edit_event_data(db: Session, event_id: int, **changes: Any) -> None:
    event = db.get(AuditEvent, event_id)
    db.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(data={**event.data, **changes}))


def events_of(db: Session, *, kind: str, subject: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)
    if subject is not None:
        query = query.where(AuditEvent.subject == subject)
    return list(db.execute(query).scalars())


def delete_events(db: Session, ids: list[int]) -> None:
    db.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))


def set_sitting(db: Session, session_id: str, **values: Any) -> None:
    db.execute(update(Sitting).where(Sitting.id == session_id).values(**values))
