"""`certamen verify`, `certamen cert` and `certamen keys`: issued certificates, checked offline, managed, and
the issuer keys that sign them."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cli.common import CommandError, add_json_option, emit, issuer_settings, parse_when, session_factory
from storage.db import transaction


def cmd_verify(args: argparse.Namespace) -> None:
    """Offline: trust comes from a DID document (or the local key store), status from list files."""
    from certs.keys import TrustStore
    from certs.pdf import PdfCredentialError, extract_credential_from_pdf
    from certs.verify import verify

    data = Path(args.file).read_bytes()
    if data[:5] == b"%PDF-":
        try:
            credential: Any = extract_credential_from_pdf(data)
        except PdfCredentialError as exc:
            raise CommandError(f"{args.file}: {exc}", code=2) from None
    else:
        credential = data
    if args.did_doc:
        trusted = TrustStore()
        for path in args.did_doc:
            trusted.add_did_document(json.loads(Path(path).read_text()))
    else:
        trusted = issuer_settings().keys.trust_store()
    lists = {}
    for path in args.status_list or []:
        doc = json.loads(Path(path).read_text())
        lists[doc.get("id")] = doc
    verdict = verify(credential, trusted=trusted, status_resolver=lists.get,
                     require_status=not args.skip_status).to_dict()

    def text(v: dict) -> str:
        lines = [f"{v['status'].upper()}: {v['reason']}"]
        lines += [f"  {'ok ' if c['ok'] else ('-- ' if c['ok'] is None else 'NO ')} {c['text']}" for c in v["checks"]]
        lines += [f"  note: {n}" for n in v["notes"]]
        return "\n".join(lines)

    emit(args, verdict, text)
    if verdict["status"] == "status_unavailable" and not lists:
        print("status not checked: pass the issuer's current status list with --status-list FILE "
              "(or --skip-status to accept without it)", file=sys.stderr)
    if verdict["status"] != "valid":
        raise CommandError("not valid", code=1)


def cmd_cert_list(args: argparse.Namespace) -> None:
    from certs.service import certificate_listing
    from organisations.organisations import organisation

    with transaction(session_factory()) as db:
        org_id = organisation(db, args.org).id if args.org else None
        rows = certificate_listing(db, organisation_id=org_id, within_days=args.within)
    emit(args, rows, lambda rs: "\n".join(
        f"{r['certificate_id']}  {r['status']:<13} until {r['valid_until']}  {r['name']} <{r['email']}>  {r['exam']}"
        for r in rs) or "no certificates")


def cmd_cert_status(args: argparse.Namespace) -> None:
    from certs.service import change_status

    with transaction(session_factory()) as db:
        cert = change_status(db, args.certificate, args.action, reason=args.reason, actor=f"cli:{args.by}")
        print(f"certificate {cert.id}: {args.action} recorded ({args.reason})")


def cmd_cert_allow_resit(args: argparse.Namespace) -> None:
    from certs.resits import allow_resit

    with transaction(session_factory()) as db:
        allowance = allow_resit(db, args.certificate, reason=args.reason, actor=f"cli:{args.by}")
        print(f"certificate {allowance.certificate_id}: its holder may sit the exam again (allowance "
              f"{allowance.id}, by {args.by}: {args.reason})")


def cmd_cert_policy_change(args: argparse.Namespace) -> None:
    from certs.service import add_policy_change

    deadline = parse_when(args.deadline)
    with transaction(session_factory()) as db:
        add_policy_change(db, args.exam, args.min_version, deadline, args.reason, actor=f"cli:{args.by}")
    print(f"holders of {args.exam} certificates from exam versions below {args.min_version} "
          f"must recertify by {args.deadline}")


def cmd_keys_show(args: argparse.Namespace) -> None:
    keys = issuer_settings().keys
    keys.active_key()
    print(json.dumps(keys.did_document(), indent=2))


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    from certs.key_lifecycle import rotate_key

    keys = issuer_settings().keys
    with transaction(session_factory()) as db:
        new = rotate_key(db, keys, actor=f"cli:{args.by}")
    print(f"new active key {new.verification_method}; the previous one is retired: it verifies what it "
          "signed before, and its private key has left the key directory")


def cmd_keys_compromise(args: argparse.Namespace) -> None:
    from certs.key_lifecycle import withdraw_key

    keys = issuer_settings().keys
    since = parse_when(args.since) if args.since else None
    try:
        with transaction(session_factory()) as db:
            affected = withdraw_key(db, keys, args.kid, actor=f"cli:{args.by}", reason=args.reason, since=since)
            rows = [(c.id, c.candidate.email, c.exam_id) for c in affected]
    except KeyError:
        raise CommandError(f"no key {args.kid!r} (certamen keys show lists them)") from None
    print(f"key {args.kid} withdrawn as compromised: the {len(rows)} certificate(s) it signed"
          f"{' from ' + args.since if since else ''} no longer verify; re-issue them:")
    for cert_id, email, exam in rows:
        print(f"  {cert_id}  {email}  {exam}")


def _register_cert(sub: argparse._SubParsersAction) -> None:
    cert = sub.add_parser("cert", help="issued certificates").add_subparsers(dest="cert_command", required=True)
    clist = cert.add_parser("list", help="certificates with their status")
    clist.add_argument("--org", metavar="SLUG", help="only the certificates of the people this organisation enrolled")
    clist.add_argument("--within", type=int, default=30, help="days counted as 'expiring'")
    add_json_option(clist)
    clist.set_defaults(func=cmd_cert_list)
    for action in ("suspend", "reinstate", "revoke"):
        act = cert.add_parser(action, help=f"{action} a certificate (recorded in the audit trail)")
        act.add_argument("certificate", help="the certificate's id")
        act.add_argument("--reason", required=True, help="why (recorded)")
        act.add_argument("--by", required=True, help="who does it (recorded)")
        act.set_defaults(func=cmd_cert_status, action=action)
    resit = cert.add_parser("allow-resit", help="let the holder of a suspended or revoked certificate sit its exam "
                                                "again (recorded in the audit trail)")
    resit.add_argument("certificate", help="the certificate's id")
    resit.add_argument("--reason", required=True, help="why (recorded)")
    resit.add_argument("--by", required=True, help="who allows it (recorded)")
    resit.set_defaults(func=cmd_cert_allow_resit)
    change = cert.add_parser("policy-change", help="require holders of older exam versions to recertify by a date")
    change.add_argument("--exam", required=True, help="the exam's id")
    change.add_argument("--min-version", type=int, required=True,
                        help="the oldest exam version whose certificates still count")
    change.add_argument("--deadline", required=True, help="ISO date")
    change.add_argument("--reason", default="", help="why (recorded)")
    change.add_argument("--by", required=True, help="who decides it (recorded)")
    change.set_defaults(func=cmd_cert_policy_change)


def register(sub: argparse._SubParsersAction) -> None:
    ver = sub.add_parser("verify", help="verify a certificate (JSON or PDF) offline; exit 0 only when valid")
    ver.add_argument("file", help="the certificate: its JSON or its PDF")
    ver.add_argument("--did-doc", action="append", help="the issuer's DID document (default: the local key store)")
    ver.add_argument("--status-list", action="append", help="a status list credential file (repeatable)")
    ver.add_argument("--skip-status", action="store_true",
                     help="accept without checking suspension and revocation (the verdict says so)")
    ver.add_argument("--require-status", action="store_true", help=argparse.SUPPRESS)  # the default now
    add_json_option(ver)
    ver.set_defaults(func=cmd_verify)

    _register_cert(sub)

    keys = sub.add_parser("keys", help="issuer signing keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("show", help="print the issuer's DID document").set_defaults(func=cmd_keys_show)
    rotate = keys.add_parser("rotate", help="new signing key; the old one verifies what it signed before")
    rotate.add_argument("--by", required=True, help="who rotates (audited)")
    rotate.set_defaults(func=cmd_keys_rotate)
    comp = keys.add_parser("compromise", help="withdraw a key: its credentials stop verifying (listed for re-issue)")
    comp.add_argument("kid", help="the key's id, e.g. k1 (after the '#' in `keys show`)")
    comp.add_argument("--reason", required=True, help="why (audited)")
    comp.add_argument("--by", required=True, help="who withdraws it (audited)")
    comp.add_argument("--since", help="ISO date: only proofs made from then on are withdrawn (default: all)")
    comp.set_defaults(func=cmd_keys_compromise)
