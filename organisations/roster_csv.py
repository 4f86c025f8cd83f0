"""Reading an employer's roster file: every row checked, every problem named by its line, all or nothing.

An HR export is messy (a BOM, spreadsheet-style headers, stray blank lines, Windows-1252 from an old
spreadsheet), so this accepts what is unambiguous and refuses the rest with a message a person can act on;
nothing is imported from a file with a problem in it.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from errors import CertamenError, Kind
from item_bank.accounts import AccountError, normalise_email

MAX_BYTES = 32 * 1024 * 1024  # ~250,000 rows of a typical export
MAX_ROWS = 200_000
MAX_PROBLEMS = 50  # listed; the rest are counted
REQUIRED = ("name", "email")
OPTIONAL = ("employee_id", "department", "site", "manager_email", "status")
STATUSES = {"active": True, "left": False, "": True}
_LIMITS = {"name": 200, "employee_id": 64, "department": 120, "site": 120}
_HEADER_ALIASES = {"e-mail": "email", "mail": "email", "employee id": "employee_id", "employee number": "employee_id",
                   "manager e-mail": "manager_email", "manager email": "manager_email", "full name": "name"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class RosterFileError(CertamenError):
    """A roster file with problems; `problems` are 'line N: message' strings, in file order."""

    kind = Kind.INVALID

    def __init__(self, problems: list[str], total: int | None = None):
        total = len(problems) if total is None else total
        shown = problems[:MAX_PROBLEMS]
        more = f"\n... and {total - len(shown)} more" if total > len(shown) else ""
        super().__init__(f"{total} problem(s) in the roster file; nothing was imported:\n" + "\n".join(shown) + more)
        self.problems = shown
        self.total = total


@dataclass(frozen=True)
class RosterRow:
    line: int
    name: str
    email: str
    employee_id: str | None
    department: str | None
    site: str | None
    manager_email: str | None
    active: bool


def _decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise RosterFileError([f"the file is {len(data) / 1e6:.1f} MB; the limit is {MAX_BYTES // 2**20} MB "
                               "(split it, or upload people who changed only)"])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RosterFileError(["the file is UTF-16; save it as 'CSV UTF-8' and upload again"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RosterFileError([f"line {line}: not UTF-8 text (byte {exc.start + 1}); save the file as 'CSV UTF-8' "
                               "and upload again"]) from None


def _header(fields: list[str]) -> list[str]:
    names = []
    for field in fields:
        key = " ".join(field.strip().lower().replace("_", " ").split())
        names.append(_HEADER_ALIASES.get(key, key.replace(" ", "_")))
    problems = []
    unknown = [f for f, n in zip(fields, names, strict=True) if n not in REQUIRED + OPTIONAL]
    if unknown:
        problems.append(f"line 1: unknown column(s) {', '.join(repr(u) for u in unknown)}; the columns are "
                        f"{', '.join(REQUIRED + OPTIONAL)} (name and email required)")
    missing = [r for r in REQUIRED if r not in names]
    if missing:
        problems.append(f"line 1: missing column(s) {', '.join(missing)} (the first line must name the columns)")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"line 1: column(s) {', '.join(repeated)} appear more than once")
    if problems:
        raise RosterFileError(problems)
    return names


def _email(value: str, what: str, line: int, problems: list[str]) -> str | None:
    try:
        return normalise_email(value)
    except AccountError:
        problems.append(f"line {line}: {what} {value[:80]!r} is not a valid e-mail address")
        return None


def parse_roster(data: bytes) -> list[RosterRow]:
    """The rows of a roster CSV, or RosterFileError listing every problem (none are imported then)."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems: list[str] = []
    rows: list[RosterRow] = []
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise RosterFileError(["the file is empty: the first line must name the columns "
                                   f"({', '.join(REQUIRED + OPTIONAL)})"])
        names = _header(header)
        by_email: dict[str, int] = {}
        by_employee_id: dict[str, int] = {}
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= MAX_ROWS:
                raise RosterFileError([f"line {line}: more than {MAX_ROWS:,} people in one file; split it"])
            if len(record) != len(names):
                problems.append(f"line {line}: {len(record)} values for {len(names)} columns")
                continue
            cells = {n: c.strip() for n, c in zip(names, record, strict=True)}
            if any(_CONTROL.search(c) for c in cells.values()):
                problems.append(f"line {line}: contains control characters")
                continue
            for column, limit in _LIMITS.items():
                if len(cells.get(column, "")) > limit:
                    problems.append(f"line {line}: {column} is longer than {limit} characters")
            if not cells["name"]:
                problems.append(f"line {line}: name is empty")
            email = _email(cells["email"], "email", line, problems)
            manager = cells.get("manager_email", "")
            manager_email = _email(manager, "manager_email", line, problems) if manager else None
            status = cells.get("status", "").lower()
            if status not in STATUSES:
                problems.append(f"line {line}: status {cells['status'][:40]!r} must be 'active' or 'left'")
            employee_id = cells.get("employee_id") or None
            if email is not None:
                if email in by_email:
                    problems.append(f"line {line}: {email} is also on line {by_email[email]}")
                by_email.setdefault(email, line)
            if employee_id is not None:
                if employee_id in by_employee_id:
                    problems.append(f"line {line}: employee_id {employee_id!r} is also on line "
                                    f"{by_employee_id[employee_id]}")
                by_employee_id.setdefault(employee_id, line)
            if email is not None and manager_email == email:
                problems.append(f"line {line}: a person cannot be their own manager")
            rows.append(RosterRow(line=line, name=cells["name"][:200], email=email or "", employee_id=employee_id,
                                  department=cells.get("department") or None, site=cells.get("site") or None,
                                  manager_email=manager_email, active=STATUSES.get(status, True)))
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: not valid CSV ({exc})")
    if problems:
        raise RosterFileError(problems)
    if not rows:
        raise RosterFileError(["the file names the columns but lists nobody"])
    return rows
