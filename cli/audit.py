"""`certamen audit`: check the audit trail, and sign checkpoints of it to keep where the database's owner cannot."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.common import CommandError, add_json_option, emit, issuer_settings, read_json, session_factory
from storage.db import transaction


def _audit_trust(args: argparse.Namespace):
    """Whose checkpoint signatures count: the issuer's DID document(s) given, else the local key store."""
    from certs.keys import TrustStore

    if not args.did_doc:
        return issuer_settings().keys.trust_store()
    trusted = TrustStore()
    for path in args.did_doc:
        trusted.add_did_document(read_json(path, "DID document"))
    return trusted


def cmd_audit_verify(args: argparse.Namespace) -> None:
    """The chains, the state tables against the events, and the checkpoints (recorded, and --checkpoint
    files kept elsewhere, which are what an insider with the database cannot rewrite)."""
    from certs.records import audit_report

    kept = [read_json(path, "checkpoint") for path in args.checkpoint or []]
    with transaction(session_factory()) as db:
        report = audit_report(db, _audit_trust(args), kept)
    payload = {"ok": report.ok, "checked": report.checked, "checkpoints": report.checkpoints,
               "tree_size": report.tree.size if report.tree else 0, "root": report.tree.root if report.tree else None,
               "problems": report.problems}
    emit(args, payload, lambda r: f"audit trail {'intact' if r['ok'] else 'BROKEN'}: {r['checked']} events and "
                                  f"{r['checkpoints']} checkpoint(s) checked"
                                  + "".join(f"\n  {p}" for p in r["problems"]))
    if not report.ok:
        raise CommandError(f"audit trail verification failed: {len(report.problems)} problem(s)", code=1)


def cmd_audit_checkpoint(args: argparse.Namespace) -> None:
    """Sign the trail's head with the issuer key and record it; --out also writes it to a file to keep
    elsewhere (a checkpoint only helps where the database's owner cannot change it)."""
    from certs.checkpoints import create_checkpoint

    issuer = issuer_settings()
    with transaction(session_factory()) as db:
        checkpoint = create_checkpoint(db, issuer.keys, log_url=f"{issuer.public_url}/audit",
                                       actor=f"cli:{args.by}")
    text = json.dumps(checkpoint, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"checkpoint of {checkpoint['treeSize']} events ({checkpoint['eventsCovered']} with the sittings "
              f"they seal) written to {args.out}")
    else:
        print(text)


def register(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser("audit", help="audit trail").add_subparsers(dest="audit_command", required=True)
    verify = audit.add_parser("verify", help="check the hash chains, the records against them and the checkpoints")
    verify.add_argument("--checkpoint", action="append",
                        help="a checkpoint kept outside the database (repeatable): the trail must still match it")
    verify.add_argument("--did-doc", action="append",
                        help="the issuer's DID document, to check checkpoint signatures (default: the local key store)")
    add_json_option(verify)
    verify.set_defaults(func=cmd_audit_verify)
    checkpoint = audit.add_parser("checkpoint", help="sign and record the trail's head (keep a copy elsewhere)")
    checkpoint.add_argument("--out", help="also write it to this file")
    checkpoint.add_argument("--by", default="checkpoint", help="who takes it (recorded)")
    checkpoint.set_defaults(func=cmd_audit_checkpoint)
