"""`certamen bank`: the item bank's sources, its stored items, and the items' life cycle."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cli.common import CommandError, add_json_option, emit, session_factory
from storage.db import transaction


def cmd_bank_load(args: argparse.Namespace) -> None:
    from calibration.pilot import pilot_parameters
    from item_bank.content import CONTENT_DIR, read_bank
    from item_bank.loader import store_bank

    bank = read_bank(Path(args.content) if args.content else CONTENT_DIR)
    with transaction(session_factory()) as db:
        report = store_bank(db, bank, provisional=pilot_parameters)
    emit(args, report.as_dict(), lambda r: (
        f"items: {r['items_added']} added, {r['items_revised']} revised, {r['items_unchanged']} unchanged; "
        f"exams: {r['exams_added']} added, {r['exams_revised']} revised; parameter set {r['parameter_set_id']}"
        + (" (new)" if r["parameter_set_created"] else "")))


def cmd_bank_validate(args: argparse.Namespace) -> None:
    from item_bank.content import CONTENT_DIR, read_bank

    bank = read_bank(Path(args.content) if args.content else CONTENT_DIR)
    print(f"ok: {len(bank.items)} items in {len({i.area for i in bank.items})} areas, "
          f"{len(bank.exams)} exams, {len(bank.guides)} study guides")


class UnreadableBank(CommandError):
    """The bank sources could not be read; `problems` are 'file:line: message' (exit status 2)."""

    def __init__(self, problems: list[str]):
        super().__init__("the bank sources cannot be read", code=2)
        self.problems = problems


def cmd_bank_lint(args: argparse.Namespace) -> None:
    """Cue statistics over the bank sources; exit 1 when a rule fails, 2 when the sources cannot be read."""
    from item_bank.content import CONTENT_DIR, ContentError, load_items
    from item_bank.lint import lint_items, render_text

    content = Path(args.content) if args.content else CONTENT_DIR
    try:
        items = load_items(content)
    except ContentError as exc:
        raise UnreadableBank(exc.problems) from None
    except OSError as exc:
        raise UnreadableBank([f"{exc.filename or content}: {exc.strerror or exc}"]) from None
    report = lint_items(items)
    emit(args, report.as_dict(), lambda _: render_text(report))
    if not report.passed:
        raise CommandError(f"bank lint failed: {len(report.failures)} problem(s)", code=1)


def _emit_read(args: argparse.Namespace, read: Callable[[Session], Any], text: Callable[[Any], str]) -> None:
    """A read-only command: ``read`` the database in one transaction, then emit what it returned."""
    with transaction(session_factory()) as db:
        payload = read(db)
    emit(args, payload, text)


def cmd_bank_list(args: argparse.Namespace) -> None:
    from storage import Item

    def read(db: Session) -> list[dict]:
        query = select(Item).where(Item.is_current.is_(True)).order_by(Item.external_id)
        if args.area:
            query = query.where(Item.area == args.area)
        if args.status:
            query = query.where(Item.status == args.status)
        return [{"id": i.external_id, "version": i.version, "area": i.area, "status": i.status,
                 "intended_difficulty": i.intended_difficulty, "question": i.question}
                for i in db.execute(query).scalars()]

    _emit_read(args, read, lambda items: "\n".join(
        f"{r['id']}  v{r['version']}  {r['status']:<11} {r['area']:<15} {r['question'][:60]}" for r in items)
        or "no items match")


def cmd_bank_stats(args: argparse.Namespace) -> None:
    from item_bank.authoring import bank_stats

    def text(s: dict) -> str:
        lines = [f"{s['total']} current items"]
        lines.append("by area:       " + ", ".join(f"{k} {v}" for k, v in s["by_area"].items()))
        lines.append("by status:     " + ", ".join(f"{k} {v}" for k, v in s["by_status"].items()))
        lines.append("by difficulty: " + ", ".join(f"{k} {v}" for k, v in s["by_difficulty"].items()))
        lines.append("key positions: " + ", ".join(f"{k} {v}" for k, v in s["key_positions"].items()))
        p = s["parameter_set"]
        if p:
            lines.append(f"parameters:    set {p['id']} ({p['items']} items)"
                         f"{' PROVISIONAL' if p['provisional'] else ''} - {p['label']}")
        return "\n".join(lines)

    _emit_read(args, bank_stats, text)


def cmd_bank_status(args: argparse.Namespace) -> None:
    from item_bank.authoring import set_status

    with transaction(session_factory()) as db:
        item = set_status(db, args.item, args.to, actor=f"cli:{args.by}")
        print(f"{item.external_id} v{item.version} is now {item.status} (by {args.by})")


def cmd_bank_import(args: argparse.Namespace) -> None:
    from item_bank.interchange import import_items as read_items
    from item_bank.loader import import_items

    items = read_items(args.file, area=args.area)
    with transaction(session_factory()) as db:
        outcome = import_items(db, items, actor=f"cli:import:{Path(args.file).name}")
    emit(args, outcome, lambda o: (
        f"imported {len(items)} item(s): {o['added']} added, {o['revised']} revised, {o['unchanged']} unchanged"
        + (f"; uncalibrated, set to pretest: {', '.join(o['set_to_pretest'])}" if o["set_to_pretest"] else "")))


def cmd_bank_export(args: argparse.Namespace) -> None:
    from item_bank.interchange import export_bank
    from item_bank.loader import stored_items

    with transaction(session_factory()) as db:
        items = stored_items(db, include_retired=args.include_retired)
    written = export_bank(items, args.format, Path(args.out))
    print(f"exported {len(items)} item(s) as {args.format} to {', '.join(str(p) for p in written) or args.out}")


def register(sub: argparse._SubParsersAction) -> None:
    bank = sub.add_parser("bank", help="the item bank").add_subparsers(dest="bank_command", required=True)
    load = bank.add_parser("load", help="load the bank sources into the database (idempotent)")
    load.add_argument("--content", help="content directory (default: the bundled bank)")
    add_json_option(load)
    load.set_defaults(func=cmd_bank_load)
    validate = bank.add_parser("validate", help="check the bank sources")
    validate.add_argument("--content", help="content directory (default: the bundled bank)")
    validate.set_defaults(func=cmd_bank_validate)
    lint = bank.add_parser("lint", help="find cues that give the key away (item-writing rules, reading grade)")
    lint.add_argument("--content", help="content directory (default: the bundled bank)")
    add_json_option(lint)
    lint.set_defaults(func=cmd_bank_lint)

    imp = bank.add_parser("import", help="import items (YAML file or folder, JSON, QTI 3.0 zip or item XML)")
    imp.add_argument("file", help="the file or folder to import")
    imp.add_argument("--area", help="content area for items that do not say (bare QTI items)")
    add_json_option(imp)
    imp.set_defaults(func=cmd_bank_import)
    exp = bank.add_parser("export", help="export the current items")
    exp.add_argument("--format", required=True, choices=["yaml", "json", "qti"], help="the file format")
    exp.add_argument("--out", required=True, help="a folder (yaml) or a file (json, qti zip)")
    exp.add_argument("--include-retired", action="store_true", help="also export retired items")
    exp.set_defaults(func=cmd_bank_export)
    listing = bank.add_parser("list", help="list current items")
    listing.add_argument("--area", help="only items of this content area")
    listing.add_argument("--status", help="only items in this status (draft, review, pretest, operational, retired)")
    add_json_option(listing)
    listing.set_defaults(func=cmd_bank_list)
    stats = bank.add_parser("stats", help="items per area, status and difficulty")
    add_json_option(stats)
    stats.set_defaults(func=cmd_bank_stats)
    status = bank.add_parser("status", help="move an item along draft > review > pretest > operational > retired")
    status.add_argument("item", help="the item's id")
    status.add_argument("--to", required=True, help="the new status")
    status.add_argument("--by", required=True, help="who makes the change (recorded)")
    status.set_defaults(func=cmd_bank_status)
