"""What the people list shows, as CSV or XLSX: the same columns for the console's exports and the integration
roster, streamed so that 100,000 people cost the memory of one batch."""
from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from sqlalchemy import and_, case, func, literal, literal_column, or_
from sqlalchemy.orm import Session

from organisations.status import ExamClock, PeopleFilter, requirement_rows, rows_of
from storage import AssignedExam, Employee
from storage.tenancy import as_scoped

# last_attempt and last_result: for people who failed or are overdue (their last sitting since the exam was
# required of them), with the date a retake is allowed.
COLUMNS = ("name", "email", "employee_id", "department", "site", "manager_email", "active", "exam", "status",
           "due", "certificate_id", "certified", "valid_until", "last_attempt", "last_result", "retake_from",
           "exempt_reason", "exempt_by")


def _day(value: Any) -> str | None:
    return value.date().isoformat() if isinstance(value, dt.datetime) else None


def export_values(row: dict[str, Any]) -> list[Any]:
    """A status row (organisations.status) as the values of `COLUMNS`: plain values, dates as YYYY-MM-DD."""
    return [row["name"], row["email"], row["employee_number"], row["department"], row["site"], row["manager_email"],
            bool(row["active"]), row["exam_id"], row["status"], _day(row["due_at"]), row["certificate_id"],
            _day(row["certified_at"]), _day(row["valid_until"]), _day(row["last_sitting_at"]), row["last_result"],
            _day(row["retake_from"]), row["exempt_reason"], row["exempt_by"]]


def export_row(row: dict[str, Any]) -> dict[str, Any]:
    return dict(zip(COLUMNS, export_values(row), strict=True))


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_chunks(rows: Iterable[dict[str, Any]], *, every: int = 1000) -> Iterator[str]:
    """The CSV text in chunks of `every` rows (a streamed response body). A text starting with =, +, - or @
    is a formula to a spreadsheet: it is quoted with a leading apostrophe, so it stays text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for n, row in enumerate(rows, 1):
        writer.writerow(["'" + v if isinstance(v, str) and v.startswith(_FORMULA_STARTS) else v
                         for v in export_values(row)])
        if n % every == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def csv_stream(db: Session, clock: ExamClock, people: PeopleFilter) -> Iterator[str]:
    """The export as CSV text in chunks. On PostgreSQL the database writes it (`COPY ... TO STDOUT`, the same
    query and scope, the same columns and values as `csv_chunks` writes from Python, which SQLite uses)."""
    if db.get_bind().dialect.name != "postgresql":
        yield from csv_chunks(rows_of(db, clock, people))
        return
    sql, params = _copy_statement(db, clock, people)
    cursor = db.connection().connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER)", params) as copy:
            for block in copy:
                yield bytes(block).decode()
    finally:
        cursor.close()


def _copy_statement(db: Session, clock: ExamClock, people: PeopleFilter) -> tuple[str, dict[str, Any]]:
    # The export's columns over the same joins and filters (formatted in place: a subquery would be compiled
    # without the organisation's scope).
    base = requirement_rows(clock, people)
    c = base.selected_columns

    def text(column: Any) -> Any:
        return case((func.substr(column, 1, 1).in_(_FORMULA_STARTS), literal("'") + column), else_=column)

    def day(column: Any) -> Any:
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")

    wait = case({exam: days for exam, days in clock.retake_wait_days.items() if days}, value=c.exam_id,
                else_=None) if any(clock.retake_wait_days.values()) else literal(None)
    retake = case((and_(c.status.in_(("failed", "overdue")), c.last_sitting_at.is_not(None),
                        or_(c.last_result.is_(None), c.last_result != "pass")),
                   day(c.last_sitting_at + literal_column("interval '1 day'") * wait)), else_=None)
    columns = [text(c.name), text(c.email), text(c.employee_number), text(c.department), text(c.site),
               text(c.manager_email), case((c.active, "True"), else_="False"), text(c.exam_id), c.status,
               day(c.due_at), text(c.certificate_id), day(c.certified_at), day(c.valid_until),
               day(c.last_sitting_at), c.last_result, retake, text(c.exempt_reason), text(c.exempt_by)]
    query = as_scoped(db, base.with_only_columns(
        *(column.label(name) for column, name in zip(columns, COLUMNS, strict=True)), maintain_column_froms=True)
        .order_by(Employee.name, Employee.id, AssignedExam.exam_id))
    compiled = query.compile(dialect=db.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    return str(compiled), dict(compiled.params)


def xlsx_file(rows: Iterable[dict[str, Any]], *, title: str) -> IO[bytes]:
    """The rows as an XLSX workbook in a temporary file (written row by row: constant memory), rewound."""
    import xlsxwriter

    sink = tempfile.TemporaryFile()
    book = xlsxwriter.Workbook(sink, {"constant_memory": True, "strings_to_formulas": False,
                                      "strings_to_urls": False, "in_memory": False})
    sheet = book.add_worksheet(title[:31] or "People")
    bold = book.add_format({"bold": True})
    for col, name in enumerate(COLUMNS):
        sheet.write_string(0, col, name, bold)
    for r, row in enumerate(rows, 1):
        for col, value in enumerate(export_values(row)):
            if value is None:
                continue
            if isinstance(value, bool):
                sheet.write_boolean(r, col, value)
            else:
                sheet.write_string(r, col, str(value))
    book.close()
    sink.seek(0)
    return sink
