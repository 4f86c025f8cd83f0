"""The `certamen` command: set-up, bank management, simulation, serving."""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select

from item_bank.db import database_url, make_engine, make_session_factory, transaction
from errors import CertamenError, Kind
from settings import Settings


class CommandError(CertamenError):
    """A failure of the command itself, reported as one clear line; `code` overrides the exit status."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


def exit_status(exc: CertamenError) -> int:
    """1: the command ran and refused or found a problem; 2: it could not run (keys, environment, input)."""
    if isinstance(exc, CommandError) and exc.code is not None:
        return exc.code
    return 2 if exc.kind is Kind.UNAVAILABLE else 1


_SETTINGS: Settings | None = None  # built from the environment once, by main()


def _settings() -> Settings:
    global _SETTINGS
    if _SETTINGS is None:
        _SETTINGS = Settings.from_env()
    return _SETTINGS


def _database_url() -> str:
    return database_url(_settings().database_url)


def _factory():
    return make_session_factory(make_engine(_database_url()))


def _emit(args: argparse.Namespace, payload: Any, text: Callable[[Any], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(text(payload))


# ---------------------------------------------------------------- set-up

def cmd_db_upgrade(args: argparse.Namespace) -> None:
    from migrations import upgrade

    upgrade(_database_url())
    print(f"database at {_redacted(_database_url())} is up to date")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_bank_load(args: argparse.Namespace) -> None:
    from item_bank.content import CONTENT_DIR, load_bank
    from item_bank.loader import load_bank as load_into_db

    from calibration.pilot import pilot_parameters

    bank = load_bank(Path(args.content) if args.content else CONTENT_DIR)
    with transaction(_factory()) as db:
        report = load_into_db(db, bank, provisional=pilot_parameters)
    _emit(args, report.as_dict(), lambda r: (
        f"items: {r['items_added']} added, {r['items_revised']} revised, {r['items_unchanged']} unchanged; "
        f"exams: {r['exams_added']} added, {r['exams_revised']} revised; parameter set {r['parameter_set_id']}"
        + (" (new)" if r["parameter_set_created"] else "")))


def cmd_bank_validate(args: argparse.Namespace) -> None:
    from item_bank.content import CONTENT_DIR, load_bank

    bank = load_bank(Path(args.content) if args.content else CONTENT_DIR)
    print(f"ok: {len(bank.items)} items in {len({i.area for i in bank.items})} areas, "
          f"{len(bank.exams)} exams, {len(bank.guides)} study guides")


def cmd_bank_list(args: argparse.Namespace) -> None:
    from item_bank.models import Item

    with transaction(_factory()) as db:
        query = select(Item).where(Item.is_current.is_(True)).order_by(Item.external_id)
        if args.area:
            query = query.where(Item.area == args.area)
        if args.status:
            query = query.where(Item.status == args.status)
        rows = [{"id": i.external_id, "version": i.version, "area": i.area, "status": i.status,
                 "intended_difficulty": i.intended_difficulty, "question": i.question}
                for i in db.execute(query).scalars()]
    _emit(args, rows, lambda items: "\n".join(
        f"{r['id']}  v{r['version']}  {r['status']:<11} {r['area']:<15} {r['question'][:60]}" for r in items)
        or "no items match")


def cmd_bank_stats(args: argparse.Namespace) -> None:
    from item_bank.authoring import bank_stats

    with transaction(_factory()) as db:
        stats = bank_stats(db)

    def text(s: dict) -> str:
        lines = [f"{s['total']} current items"]
        lines.append("by area:       " + ", ".join(f"{k} {v}" for k, v in s["by_area"].items()))
        lines.append("by status:     " + ", ".join(f"{k} {v}" for k, v in s["by_status"].items()))
        lines.append("by difficulty: " + ", ".join(f"{k} {v}" for k, v in s["by_difficulty"].items()))
        lines.append("key positions: " + ", ".join(f"{k} {v}" for k, v in s["key_positions"].items()))
        p = s["parameter_set"]
        if p:
            lines.append(f"parameters:    set {p['id']} ({p['items']} items){' PROVISIONAL' if p['provisional'] else ''}"
                         f" - {p['label']}")
        return "\n".join(lines)

    _emit(args, stats, text)


def cmd_bank_status(args: argparse.Namespace) -> None:
    from item_bank.authoring import set_status

    with transaction(_factory()) as db:
        item = set_status(db, args.item, args.to, actor=f"cli:{args.by}")
        print(f"{item.external_id} v{item.version} is now {item.status} (by {args.by})")


def cmd_bank_import(args: argparse.Namespace) -> None:
    from item_bank.interchange import import_items as read_items
    from item_bank.loader import import_items

    items = read_items(args.file, area=args.area)
    with transaction(_factory()) as db:
        outcome = import_items(db, items, actor=f"cli:import:{Path(args.file).name}")
    _emit(args, outcome, lambda o: (
        f"imported {len(items)} item(s): {o['added']} added, {o['revised']} revised, {o['unchanged']} unchanged"
        + (f"; uncalibrated, set to pretest: {', '.join(o['set_to_pretest'])}" if o["set_to_pretest"] else "")))


def cmd_bank_export(args: argparse.Namespace) -> None:
    from item_bank.interchange import export_bank
    from item_bank.loader import stored_items

    with transaction(_factory()) as db:
        items = stored_items(db, include_retired=args.include_retired)
    written = export_bank(items, args.format, Path(args.out))
    print(f"exported {len(items)} item(s) as {args.format} to {', '.join(str(p) for p in written) or args.out}")


def cmd_init(args: argparse.Namespace) -> None:
    cmd_db_upgrade(args)
    cmd_bank_load(argparse.Namespace(content=None, json=False))


# ---------------------------------------------------------------- exams and simulation

def cmd_exam_list(args: argparse.Namespace) -> None:
    from item_bank.models import Exam

    with transaction(_factory()) as db:
        exams = [{"id": e.id, "title": e.title, "kind": e.kind, "version": e.version, "cut_score": e.cut_score,
                  "areas": e.areas, "active": e.is_active}
                 for e in db.execute(select(Exam).order_by(Exam.id)).scalars()]
    _emit(args, exams, lambda rows: "\n".join(f"{e['id']:<28} v{e['version']}  {e['kind']:<16} {e['title']}"
                                             for e in rows) or "no exams (run `certamen bank load`)")


def cmd_simulate(args: argparse.Namespace) -> None:
    from item_bank.simulation import simulate_exam

    if args.n < 1 or args.n > 1_000_000:
        raise CommandError("--n must be between 1 and 1,000,000")
    with transaction(_factory()) as db:
        report = simulate_exam(db, args.exam, n=args.n, seed=args.seed)
    _emit(args, report, lambda r: "\n".join(f"{k:>24}: {v}" for k, v in r.items() if k != "exposure"))


# ---------------------------------------------------------------- operations

def cmd_token_create(args: argparse.Namespace) -> None:
    from item_bank import staff_tokens

    with transaction(_factory()) as db:
        token = staff_tokens.create(db, args.role, args.label or "", expires_days=args.expires_days,
                                    actor=f"cli:{args.by}" if args.by else "cli")
    print(token)  # the only time it is shown: stdout holds nothing else, for $(certamen token create ...)
    print(f"expires in {args.expires_days} days; `certamen token list` shows it, `certamen token revoke` ends it",
          file=sys.stderr)


def cmd_token_list(args: argparse.Namespace) -> None:
    from item_bank import staff_tokens

    with transaction(_factory()) as db:
        rows = staff_tokens.listing(db)

    def text(rows: list[dict]) -> str:
        head = f"{'id':>5}  {'role':<15} {'status':<8} {'created':<20} {'expires':<20} {'last used':<20} label"
        lines = [head]
        for r in rows:
            lines.append(f"{r['id']:>5}  {r['role']:<15} {r['status']:<8} {r['created'] or '-':<20} "
                         f"{r['expires'] or '-':<20} {r['last_used'] or 'never':<20} {r['label']}"
                         + (f"  [revoked {r['revoked']} by {r['revoked_by']}]" if r["revoked"] else ""))
        return "\n".join(lines)

    _emit(args, rows, text)


def cmd_token_revoke(args: argparse.Namespace) -> None:
    from item_bank import staff_tokens

    with transaction(_factory()) as db:
        done = staff_tokens.revoke(db, args.id, by=f"cli:{args.by}", reason=args.reason or "")
    print(f"token {args.id} revoked: it is refused from now on" if done else f"token {args.id} was already revoked")


def cmd_learner_link(args: argparse.Namespace) -> None:
    from item_bank.accounts import create_signin_link

    public_url = _settings().public_url
    with transaction(_factory()) as db:
        link = create_signin_link(db, args.email, actor="cli", minutes=args.minutes)
    print(link.url(public_url))  # the secret is the fragment (after '#'): never sent to a server, never logged
    print(f"valid once, for {args.minutes} minutes (until {link.expires_at.isoformat(timespec='minutes')})",
          file=sys.stderr)


def cmd_learner_grant_attempt(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from item_bank.integrity import grant_attempt
    from item_bank.models import Candidate, Exam

    with transaction(_factory()) as db:
        candidate = db.execute(select(Candidate).where(Candidate.email == args.email.strip().lower())).scalar()
        if candidate is None:
            raise CommandError(f"no learner account has the e-mail address {args.email!r}")
        if db.get(Exam, args.exam) is None:
            raise CommandError(f"no exam {args.exam!r}")
        grant_attempt(db, candidate_id=candidate.id, exam_id=args.exam, actor="cli", reason=args.reason)
    print(f"{args.email} may sit {args.exam} again now")


def cmd_audit_verify(args: argparse.Namespace) -> None:
    """The chains, the state tables against the events, and the checkpoints (recorded, and --checkpoint
    files kept elsewhere, which are what an insider with the database cannot rewrite)."""
    from certs.records import audit_report

    kept = [_read_json(path, "checkpoint") for path in args.checkpoint or []]
    with transaction(_factory()) as db:
        report = audit_report(db, _audit_trust(args), kept)
    payload = {"ok": report.ok, "checked": report.checked, "checkpoints": report.checkpoints,
               "tree_size": report.tree.size if report.tree else 0, "root": report.tree.root if report.tree else None,
               "problems": report.problems}
    _emit(args, payload, lambda r: f"audit trail {'intact' if r['ok'] else 'BROKEN'}: {r['checked']} events and "
                                   f"{r['checkpoints']} checkpoint(s) checked" + "".join(f"\n  {p}" for p in r["problems"]))
    if not report.ok:
        raise CommandError(f"audit trail verification failed: {len(report.problems)} problem(s)", code=1)


def cmd_audit_checkpoint(args: argparse.Namespace) -> None:
    """Sign the trail's head with the issuer key and record it; --out also writes it to a file to keep
    elsewhere (a checkpoint only helps where the database's owner cannot change it)."""
    from certs.checkpoints import create_checkpoint

    settings = _issuer_settings()
    with transaction(_factory()) as db:
        checkpoint = create_checkpoint(db, settings.keys, log_url=f"{settings.public_url}/audit",
                                       actor=f"cli:{args.by}")
    text = json.dumps(checkpoint, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"checkpoint of {checkpoint['treeSize']} events ({checkpoint['eventsCovered']} with the sittings "
              f"they seal) written to {args.out}")
    else:
        print(text)


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except ValueError as exc:
        raise CommandError(f"{path}: not a {what} (invalid JSON: {exc})") from None


def _audit_trust(args: argparse.Namespace):
    """Whose checkpoint signatures count: the issuer's DID document(s) given, else the local key store."""
    from certs.keys import TrustStore

    if not args.did_doc:
        return _issuer_settings().keys.trust_store()
    trusted = TrustStore()
    for path in args.did_doc:
        trusted.add_did_document(_read_json(path, "DID document"))
    return trusted


def cmd_calibrate(args: argparse.Namespace) -> None:
    from sqlalchemy import inspect

    from calibration import fit, read_responses
    from calibration.runs import calibrate, responses_from_database

    if bool(args.responses) == bool(args.exam):
        raise CommandError("give either --responses FILE or --exam ID")
    model = "GRM" if args.model == "graded" else args.model
    engine = make_engine(_database_url())
    database_ready = inspect(engine).has_table("calibration_runs")
    run_id = None
    if args.responses:
        responses = read_responses(args.responses)
        if database_ready and model != "GRM":  # the bank's exams are dichotomous: graded fits are not stored
            with transaction(make_session_factory(engine)) as db:
                run = calibrate(db, responses, model=model, source=f"file:{Path(args.responses).name}",
                                actor="cli:calibrate", pretest=args.pretest)
                run_id, payload = run.id, run.result
        else:
            payload = fit(responses, model=model).to_dict()
            payload["not_stored"] = ("graded fits are not stored: the bank's exams are dichotomous"
                                     if database_ready else "no initialised database")
    else:
        if not database_ready:
            raise CommandError("the database is not initialised (run `certamen init`)")
        with transaction(make_session_factory(engine)) as db:
            responses = responses_from_database(db, args.exam)
            run = calibrate(db, responses, model=model, source=f"exam:{args.exam}", actor="cli:calibrate",
                            exam_id=args.exam, pretest=args.pretest)
            run_id, payload = run.id, run.result
            payload = {**payload, "linking": run.linking, "proposals": run.proposals}
    payload = {"run_id": run_id, **payload}
    if args.out:
        Path(args.out).write_text(json.dumps(payload, indent=2))

    def text(r: dict) -> str:
        head = (f"{r.get('model', args.model)}: log-likelihood {r['log_likelihood']:.3f}, {r['iterations']} iterations, "
                f"{'converged' if r['converged'] else 'NOT converged'}"
                + (f"; stored as calibration run {r['run_id']}" if r["run_id"] else f"; not stored ({r.get('not_stored')})"))
        rows = [f"  {i['id']:<12} a={i['a']:.3f} (se {i.get('se_a') or float('nan'):.3f})  "
                f"b={i['b'] if isinstance(i['b'], list) else round(i['b'], 3)}" + (f"  c={i['c']:.3f}" if "c" in i else "")
                for i in r["items"]]
        warnings = [f"  warning: {w['message'] if isinstance(w, dict) else w}" for w in r.get("warnings", [])]
        return "\n".join([head, *rows, *warnings])

    _emit(args, payload, text)


def cmd_calibration(args: argparse.Namespace) -> None:
    from calibration.runs import CalibrationRun, publish, rollback

    with transaction(_factory()) as db:
        if args.calibration_command == "list":
            runs = [{"id": r.id, "created_at": r.created_at, "source": r.source, "model": r.model,
                     "status": r.status, "persons": r.n_persons, "converged": r.result.get("converged"),
                     "parameter_set": r.parameter_set_id, "proposals": r.proposals}
                    for r in db.execute(select(CalibrationRun).order_by(CalibrationRun.id)).scalars()]
            _emit(args, runs, lambda rs: "\n".join(
                f"run {r['id']:>3}  {r['status']:<9} {r['model']:<4} {r['persons']:>7} persons  {r['source']}"
                for r in rs) or "no calibration runs")
        elif args.calibration_command == "publish":
            new = publish(db, args.run, actor=f"cli:{args.by}", promote=args.promote)
            print(f"parameter set {new.id} is now active ({new.label})")
        else:
            back = rollback(db, actor=f"cli:{args.by}")
            print(f"rolled back: parameter set {back.id} is active again ({back.label})")


def _issuer_settings():
    """The issuer as the web app sees it (api.create_app builds the same from the same settings)."""
    from certs.keys import KeyStore
    from certs.service import IssuerSettings

    settings = _settings()
    keys = KeyStore(settings.key_dir, host=settings.public_url)
    return IssuerSettings(public_url=settings.public_url, name=settings.issuer_name, keys=keys)


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
        trusted = _issuer_settings().keys.trust_store()
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

    _emit(args, verdict, text)
    if verdict["status"] == "status_unavailable" and not lists:
        print("status not checked: pass the issuer's current status list with --status-list FILE "
              "(or --skip-status to accept without it)", file=sys.stderr)
    if verdict["status"] != "valid":
        raise CommandError("not valid", code=1)


def cmd_cert_list(args: argparse.Namespace) -> None:
    from certs.service import roster

    with transaction(_factory()) as db:
        rows = roster(db, args.organisation, within_days=args.within)
    _emit(args, rows, lambda rs: "\n".join(
        f"{r['certificate_id']}  {r['status']:<13} until {r['valid_until']}  {r['name']} <{r['email']}>  {r['exam']}"
        for r in rs) or "no certificates")


def cmd_cert_status(args: argparse.Namespace) -> None:
    from certs.service import change_status

    with transaction(_factory()) as db:
        cert = change_status(db, args.certificate, args.action, reason=args.reason, actor=f"cli:{args.by}")
        print(f"certificate {cert.id}: {args.action} recorded ({args.reason})")


def cmd_cert_allow_resit(args: argparse.Namespace) -> None:
    from certs.resits import allow_resit

    with transaction(_factory()) as db:
        allowance = allow_resit(db, args.certificate, reason=args.reason, actor=f"cli:{args.by}")
        print(f"certificate {allowance.certificate_id}: its holder may sit the exam again (allowance "
              f"{allowance.id}, by {args.by}: {args.reason})")


def _parse_when(text: str) -> datetime:
    """An ISO date or date-time from the command line (UTC unless it says otherwise)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not an ISO date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def cmd_cert_policy_change(args: argparse.Namespace) -> None:
    from certs.service import add_policy_change

    deadline = _parse_when(args.deadline)
    with transaction(_factory()) as db:
        add_policy_change(db, args.exam, args.min_version, deadline, args.reason, actor=f"cli:{args.by}")
    print(f"holders of {args.exam} certificates from exam versions below {args.min_version} "
          f"must recertify by {args.deadline}")


def cmd_keys(args: argparse.Namespace) -> None:
    from certs.key_lifecycle import rotate_key, withdraw_key

    keys = _issuer_settings().keys
    if args.keys_command == "rotate":
        with transaction(_factory()) as db:
            new = rotate_key(db, keys, actor=f"cli:{args.by}")
        print(f"new active key {new.verification_method}; the previous one is retired: it verifies what it "
              "signed before, and its private key has left the key directory")
    elif args.keys_command == "compromise":
        since = _parse_when(args.since) if args.since else None
        try:
            with transaction(_factory()) as db:
                affected = withdraw_key(db, keys, args.kid, actor=f"cli:{args.by}", reason=args.reason, since=since)
                rows = [(c.id, c.candidate.email, c.exam_id) for c in affected]
        except KeyError:
            raise CommandError(f"no key {args.kid!r} (certamen keys show lists them)") from None
        print(f"key {args.kid} withdrawn as compromised: the {len(rows)} certificate(s) it signed"
              f"{' from ' + args.since if since else ''} no longer verify; re-issue them:")
        for cert_id, email, exam in rows:
            print(f"  {cert_id}  {email}  {exam}")
    else:
        keys.active_key()
        print(json.dumps(keys.did_document(), indent=2))


def cmd_serve(args: argparse.Namespace) -> None:
    if args.production:
        # Stateless workers: every request reads the database, so any worker serves any learner.
        # granian parses HTTP and holds keep-alive connections in Rust, outside the workers' GIL; a worker
        # per core, and two threads each: one runs Python while the other waits for the database (more
        # threads only queue for the GIL: measured with bench/load.py: 2 x 2 did as well as 4 x 1, 3 x 1 worse).
        workers = str(args.workers or _settings().workers or os.cpu_count() or 1)
        threads = str(_settings().threads)
        granian = str(Path(sys.executable).with_name("granian"))
        command = [granian, "--interface", "wsgi", "--host", args.host, "--port", str(args.port),
                   "--workers", workers, "--blocking-threads", threads, "--http", "1", "--no-ws",
                   "--access-log", "--respawn-failed-workers", "--workers-kill-timeout", "10", "api.wsgi:app"]
        print(f"Certamen (production, {workers} workers x {threads} threads) on http://{args.host}:{args.port}",
              flush=True)
        os.execv(granian, command)
    from werkzeug.utils import import_string

    # By its entry point's name, as granian loads api.wsgi:app above: the CLI imports no code of api.
    create_app = import_string("api:create_app")
    app = create_app(settings=_settings())
    print(f"Certamen is serving on http://{args.host}:{args.port}", flush=True)
    from werkzeug.serving import run_simple

    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)


# ---------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="certamen", description="Adaptive certification engine")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="migrate the database and load the bank").set_defaults(func=cmd_init)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    bank = sub.add_parser("bank", help="the item bank").add_subparsers(dest="bank_command", required=True)
    load = bank.add_parser("load", help="load the bank sources into the database (idempotent)")
    load.add_argument("--content", help="content directory (default: the bundled bank)")
    load.add_argument("--json", action="store_true")
    load.set_defaults(func=cmd_bank_load)
    validate = bank.add_parser("validate", help="check the bank sources")
    validate.add_argument("--content", help="content directory (default: the bundled bank)")
    validate.set_defaults(func=cmd_bank_validate)

    imp = bank.add_parser("import", help="import items (YAML file or folder, JSON, QTI 3.0 zip or item XML)")
    imp.add_argument("file")
    imp.add_argument("--area", help="content area for items that do not say (bare QTI items)")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=cmd_bank_import)
    exp = bank.add_parser("export", help="export the current items")
    exp.add_argument("--format", required=True, choices=["yaml", "json", "qti"])
    exp.add_argument("--out", required=True, help="a folder (yaml) or a file (json, qti zip)")
    exp.add_argument("--include-retired", action="store_true")
    exp.set_defaults(func=cmd_bank_export)
    listing = bank.add_parser("list", help="list current items")
    listing.add_argument("--area")
    listing.add_argument("--status")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_bank_list)
    stats = bank.add_parser("stats", help="items per area, status and difficulty")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(func=cmd_bank_stats)
    status = bank.add_parser("status", help="move an item along draft > review > pretest > operational > retired")
    status.add_argument("item")
    status.add_argument("--to", required=True)
    status.add_argument("--by", required=True, help="who makes the change (recorded)")
    status.set_defaults(func=cmd_bank_status)

    exam = sub.add_parser("exam", help="exams").add_subparsers(dest="exam_command", required=True)
    listing = exam.add_parser("list", help="list stored exams")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_exam_list)

    sim = sub.add_parser("simulate", help="run simulated examinees through a stored exam")
    sim.add_argument("--exam", required=True)
    sim.add_argument("--n", type=int, default=1000)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--json", action="store_true")
    sim.set_defaults(func=cmd_simulate)

    learner = sub.add_parser("learner", help="learner accounts").add_subparsers(dest="learner_command", required=True)
    link = learner.add_parser("link", help="print a one-time sign-in link (valid 15 minutes) for a learner")
    link.add_argument("email")
    link.add_argument("--minutes", type=int, default=15, help="how long the link stays valid (1 to 60, default 15)")
    link.set_defaults(func=cmd_learner_link)
    grant = learner.add_parser("grant-attempt", help="let a learner past an exam's attempt limit / waiting period")
    grant.add_argument("email")
    grant.add_argument("--exam", required=True)
    grant.add_argument("--reason", required=True)
    grant.set_defaults(func=cmd_learner_grant_attempt)

    token = sub.add_parser("token", help="staff and integration API tokens").add_subparsers(dest="token_command",
                                                                                           required=True)
    create = token.add_parser("create", help="create a bearer token for a role (printed once)")
    create.add_argument("--role", required=True, choices=["hr", "psychometrician", "admin"])
    create.add_argument("--label", help="what or who it is for (shown by `token list`)")
    create.add_argument("--expires-days", type=int, default=90, help="days until it expires (1 to 730, default 90)")
    create.add_argument("--by", help="who creates it (audited)")
    create.set_defaults(func=cmd_token_create)
    tlist = token.add_parser("list", help="every token: id, role, label, created, expires, last used, revoked "
                                          "(never the secret)")
    tlist.add_argument("--json", action="store_true")
    tlist.set_defaults(func=cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("id", type=int)
    revoke.add_argument("--by", required=True, help="who revokes it (audited)")
    revoke.add_argument("--reason")
    revoke.set_defaults(func=cmd_token_revoke)

    audit = sub.add_parser("audit", help="audit trail").add_subparsers(dest="audit_command", required=True)
    verify = audit.add_parser("verify", help="check the hash chains, the records against them and the checkpoints")
    verify.add_argument("--checkpoint", action="append",
                        help="a checkpoint kept outside the database (repeatable): the trail must still match it")
    verify.add_argument("--did-doc", action="append",
                        help="the issuer's DID document, to check checkpoint signatures (default: the local key store)")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=cmd_audit_verify)
    checkpoint = audit.add_parser("checkpoint", help="sign and record the trail's head (keep a copy elsewhere)")
    checkpoint.add_argument("--out", help="also write it to this file")
    checkpoint.add_argument("--by", default="checkpoint", help="who takes it (recorded)")
    checkpoint.set_defaults(func=cmd_audit_checkpoint)

    cal = sub.add_parser("calibrate", help="estimate item parameters from responses (a file or the database)")
    cal.add_argument("--responses", help="wide CSV (header = item ids) or long CSV (person,item,score), or Parquet")
    cal.add_argument("--exam", help="use the completed sittings of this exam")
    cal.add_argument("--model", default="2PL", choices=["1PL", "Rasch", "2PL", "3PL", "graded"])
    cal.add_argument("--pretest", action="store_true",
                     help="hold published items fixed so pretest items land on the bank scale")
    cal.add_argument("--out", help="also write the JSON result here")
    cal.add_argument("--json", action="store_true")
    cal.set_defaults(func=cmd_calibrate)

    runs = sub.add_parser("calibration", help="calibration runs").add_subparsers(dest="calibration_command",
                                                                                 required=True)
    rl = runs.add_parser("list", help="stored runs")
    rl.add_argument("--json", action="store_true")
    rl.set_defaults(func=cmd_calibration)
    rp = runs.add_parser("publish", help="make a run's parameters the active version (atomically)")
    rp.add_argument("run", type=int)
    rp.add_argument("--promote", action="store_true", help="also make its proposed pretest items operational")
    rp.add_argument("--by", required=True)
    rp.set_defaults(func=cmd_calibration)
    rb = runs.add_parser("rollback", help="re-activate the previous parameter version")
    rb.add_argument("--by", required=True)
    rb.set_defaults(func=cmd_calibration)

    ver = sub.add_parser("verify", help="verify a certificate (JSON or PDF) offline; exit 0 only when valid")
    ver.add_argument("file")
    ver.add_argument("--did-doc", action="append", help="the issuer's DID document (default: the local key store)")
    ver.add_argument("--status-list", action="append", help="a status list credential file (repeatable)")
    ver.add_argument("--skip-status", action="store_true",
                     help="accept without checking suspension and revocation (the verdict says so)")
    ver.add_argument("--require-status", action="store_true", help=argparse.SUPPRESS)  # the default now
    ver.add_argument("--json", action="store_true")
    ver.set_defaults(func=cmd_verify)

    cert = sub.add_parser("cert", help="issued certificates").add_subparsers(dest="cert_command", required=True)
    clist = cert.add_parser("list", help="certificates with their status")
    clist.add_argument("--organisation")
    clist.add_argument("--within", type=int, default=30, help="days counted as 'expiring'")
    clist.add_argument("--json", action="store_true")
    clist.set_defaults(func=cmd_cert_list)
    for action in ("suspend", "reinstate", "revoke"):
        act = cert.add_parser(action, help=f"{action} a certificate (recorded in the audit trail)")
        act.add_argument("certificate")
        act.add_argument("--reason", required=True)
        act.add_argument("--by", required=True)
        act.set_defaults(func=cmd_cert_status, action=action)
    resit = cert.add_parser("allow-resit", help="let the holder of a suspended or revoked certificate sit its exam "
                                                "again (recorded in the audit trail)")
    resit.add_argument("certificate")
    resit.add_argument("--reason", required=True)
    resit.add_argument("--by", required=True)
    resit.set_defaults(func=cmd_cert_allow_resit)
    change = cert.add_parser("policy-change", help="require holders of older exam versions to recertify by a date")
    change.add_argument("--exam", required=True)
    change.add_argument("--min-version", type=int, required=True)
    change.add_argument("--deadline", required=True, help="ISO date")
    change.add_argument("--reason", default="")
    change.add_argument("--by", required=True)
    change.set_defaults(func=cmd_cert_policy_change)

    keys = sub.add_parser("keys", help="issuer signing keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("show", help="print the issuer's DID document").set_defaults(func=cmd_keys)
    rotate = keys.add_parser("rotate", help="new signing key; the old one verifies what it signed before")
    rotate.add_argument("--by", required=True, help="who rotates (audited)")
    rotate.set_defaults(func=cmd_keys)
    comp = keys.add_parser("compromise", help="withdraw a key: its credentials stop verifying (listed for re-issue)")
    comp.add_argument("kid")
    comp.add_argument("--reason", required=True)
    comp.add_argument("--by", required=True, help="who withdraws it (audited)")
    comp.add_argument("--since", help="ISO date: only proofs made from then on are withdrawn (default: all)")
    comp.set_defaults(func=cmd_keys)

    serve = sub.add_parser("serve", help="serve the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--production", action="store_true", help="several granian workers instead of the dev server")
    serve.add_argument("--workers", type=int, help="production workers (default $CERTAMEN_WORKERS or one per core)")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sqlalchemy.exc import OperationalError, ProgrammingError

    global _SETTINGS
    try:
        _SETTINGS = Settings.from_env()
        args.func(args)
    except CertamenError as exc:
        problems = getattr(exc, "problems", None)  # item_bank.content.ContentError, item_bank.qti.QTIError
        if problems:
            print("certamen: problems found:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        else:
            print(f"certamen: {exc.message}", file=sys.stderr)
        return exit_status(exc)
    except (OperationalError, ProgrammingError) as exc:
        print(f"certamen: the database is not ready ({exc.orig}); run `certamen init` or `certamen db upgrade`",
              file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except OSError as exc:
        print(f"certamen: {exc}", file=sys.stderr)
        return 2
    except (LookupError, ValueError) as exc:  # what the standard library raises on bad input
        print(f"certamen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
