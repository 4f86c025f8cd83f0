"""`certamen audit verify` over a generated database of many finished sittings and certificates.

    python bench/audit_verify.py                 # 20,000 sittings (about 14,000 certified) on SQLite
    python bench/audit_verify.py --sittings 50000
    python bench/audit_verify.py --quick         # 1,000 sittings: a smoke run
    python bench/audit_verify.py --json

A few sittings are taken through item_bank.delivery and certified by certs.service, as in production;
then each is cloned many times under new ids -- its responses, its own hash chain (rehashed for the new
subject), its seal and, if it passed, its certificate and certificate.issue event on the global chain --
so the trail is what that many real sittings would leave (about 30 answers each). Timed: the chain walk
(item_bank.audit.verify_chain), the certificate cross-checks with every certified sitting re-derived by
replay (certs.records.certificate_problems), the whole report, and signing a checkpoint.
"""
from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select  # noqa: E402

from certs import checkpoints  # noqa: E402
from certs.keys import KeyStore  # noqa: E402
from certs.records import audit_report, certificate_problems  # noqa: E402
from certs.service import IssuerSettings, issue_for_session  # noqa: E402
from cli.database import initialise  # noqa: E402
from item_bank import audit, delivery  # noqa: E402
from storage import (  # noqa: E402
    AuditEvent,
    Candidate,
    Certificate,  # noqa: E402
    Item,
    Response,
    Sitting,
    utcnow,
)
from storage.db import make_engine, make_session_factory, transaction  # noqa: E402

EXAM = "social-media-frontline"
TEMPLATES = 12  # genuine sittings to clone: mixed passes and fails


def genuine_sittings(factory, settings: IssuerSettings) -> list[str]:
    """Sittings through delivery, answered right two times in three (about half pass), and certified."""
    ids = []
    for n in range(TEMPLATES):
        with transaction(factory) as db:
            candidate = Candidate(name=f"Template {n}", email=f"template{n}@example.com")
            db.add(candidate)
            db.flush()
            sid = delivery.start_sitting(db, candidate_id=candidate.id, exam_id=EXAM).id
        for step in range(200):
            with transaction(factory) as db:
                presented = delivery.current_item(db, sid)
                key = db.get(Item, delivery.get_sitting(db, sid).pending_item_id).key_index
                right = step % 3 == 0 if n % 3 == 0 else step % 5 != 0  # a third of them fail
                shown = delivery.position_shown(db, sid, key if right else (key + 1) % 4)
            if delivery.submit_answer(factory, sid, seq=presented.seq, item_ref=presented.item_ref,
                                      choice=shown).finished:
                break
        with transaction(factory) as db:
            issue_for_session(db, sid, settings)
        ids.append(sid)
    return ids


class Cloner:
    """Writes clones of template sittings with their chains, seals and certificates, in bulk."""

    def __init__(self, db, templates: list[str]):
        self.db = db
        self.templates = [self._read(sid) for sid in templates]
        self.global_head = audit.ChainHead.of(*db.execute(select(*audit.head_columns(audit.GLOBAL))).one())
        self.next_index = 10_000_000

    def _read(self, sid: str) -> dict[str, Any]:
        db = self.db
        row = db.get(Sitting, sid)
        return {
            "sitting": {c.name: getattr(row, c.name) for c in Sitting.__table__.columns},
            "responses": [{c.name: getattr(r, c.name) for c in Response.__table__.columns if c.name != "id"}
                          for r in row.responses],
            "events": [(e.kind, e.actor, e.data) for e in db.execute(
                select(AuditEvent).where(AuditEvent.chain == f"session:{sid}").order_by(AuditEvent.chain_seq)
            ).scalars()],
            "certificate": db.execute(select(Certificate).where(Certificate.session_id == sid)).scalar(),
        }

    def clone(self, n: int) -> None:
        sittings, responses, events, certificates, candidates = [], [], [], [], []
        for i in range(n):
            template = self.templates[i % len(self.templates)]
            sid = secrets.token_urlsafe(18)
            candidate_id = 1_000_000 + self.next_index
            candidates.append({"id": candidate_id, "name": f"Clone {i}", "email": f"clone{self.next_index}@example.com",
                               "created_at": utcnow()})
            sittings.append({**template["sitting"], "id": sid, "candidate_id": candidate_id})
            responses += [{**r, "session_id": sid} for r in template["responses"]]
            head = audit.EMPTY_CHAIN
            for kind, actor, data in template["events"]:
                row, head = audit._event_row(f"session:{sid}", actor=actor, kind=kind, subject=f"session:{sid}",
                                             data=data, head=head)
                events.append(row)
            self._global("audit", audit.SEAL_KIND, f"session:{sid}",
                         {"chain": f"session:{sid}", "events": head.seq, "head": head.hash}, events)
            cert = template["certificate"]
            if cert is not None:
                certificates.append(self._certificate(cert, sid, candidate_id))
                self._global("system", "certificate.issue", f"certificate:{certificates[-1]['id']}",
                             {"session": sid, "exam": cert.exam_id, "kind": "initial"}, events)
            self.next_index += 1
        conn = self.db.connection()
        for table, rows in ((Candidate, candidates), (Sitting, sittings), (Response, responses),
                            (AuditEvent, events), (Certificate, certificates)):
            if rows:
                conn.execute(insert(table.__table__), rows)

    def _global(self, actor: str, kind: str, subject: str, data: dict, events: list) -> None:
        row, self.global_head = audit._event_row(audit.GLOBAL, actor=actor, kind=kind, subject=subject, data=data,
                                                 head=self.global_head)
        events.append(row)

    def _certificate(self, cert: Certificate, sid: str, candidate_id: int) -> dict[str, Any]:
        self.next_index += 1
        values = {c.name: getattr(cert, c.name) for c in Certificate.__table__.columns}
        return {**values, "id": f"C{self.next_index:011d}", "session_id": sid, "candidate_id": candidate_id,
                "status_index": self.next_index, "previous_id": None}


def timed(fn) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sittings", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sittings = 1_000 if args.quick else args.sittings
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite"
        initialise(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        keys = KeyStore(Path(tmp) / "keys", host="bench.example")
        settings = IssuerSettings(public_url="https://bench.example", name="Bench", keys=keys)
        templates = genuine_sittings(factory, settings)
        with transaction(factory) as db:
            cloner = Cloner(db, templates)
        for _ in range(0, sittings - TEMPLATES, 2_000):
            with transaction(factory) as db:
                cloner.db = db
                cloner.clone(min(2_000, sittings - TEMPLATES))
        with transaction(factory) as db:
            counts = {name: db.query(model).count() for name, model in
                      (("sittings", Sitting), ("responses", Response), ("events", AuditEvent),
                       ("certificates", Certificate))}
            chains, chain_s = timed(lambda: audit.verify_chain(db))
            certs_problems, certs_s = timed(lambda: certificate_problems(db))
            report, report_s = timed(lambda: audit_report(db, keys.trust_store()))
            _checkpoint, checkpoint_s = timed(lambda: checkpoints.create_checkpoint(
                db, keys, log_url="https://bench.example/audit", actor="bench"))
        engine.dispose()
    result = {**counts, "ok": report.ok and chains.ok and not certs_problems, "verify_chain_s": round(chain_s, 2),
              "certificate_checks_s": round(certs_s, 2), "audit_report_s": round(report_s, 2),
              "checkpoint_s": round(checkpoint_s, 2), "global_events": report.tree.size if report.tree else 0}
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
