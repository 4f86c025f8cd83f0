"""Roster files: every problem named by its line, nothing taken from a file that has one."""
from __future__ import annotations

import pytest

from errors import Kind
from organisations.roster_csv import MAX_BYTES, RosterFileError, parse_roster

GOOD = (b"name,email,employee_id,department,site,manager_email\r\n"
        b"Ana Lima,ana@acme.example,E1,Sales,Lisbon,boss@acme.example\r\n"
        b"Bo Chen,BO@Acme.Example , ,,,\r\n")


def problems(data: bytes) -> list[str]:
    with pytest.raises(RosterFileError) as refused:
        parse_roster(data)
    assert refused.value.kind is Kind.INVALID
    return refused.value.problems


def test_a_clean_export_reads_with_its_line_numbers():
    ana, bo = parse_roster(GOOD)
    assert (ana.line, ana.name, ana.email, ana.employee_id, ana.department, ana.site, ana.manager_email) == (
        2, "Ana Lima", "ana@acme.example", "E1", "Sales", "Lisbon", "boss@acme.example")
    assert (bo.line, bo.email, bo.employee_id, bo.department, bo.manager_email, bo.active) == (
        3, "bo@acme.example", None, None, None, True)


def test_spreadsheet_headers_a_bom_and_blank_lines_are_accepted():
    rows = parse_roster("\ufeffFull Name;E-mail\n".replace(";", ",").encode() + b"\n\nZoe,zoe@x.example\n,\n")
    assert [(r.line, r.name, r.email) for r in rows] == [(4, "Zoe", "zoe@x.example")]


def test_people_who_left_are_marked():
    rows = parse_roster(b"name,email,status\nA,a@x.example,left\nB,b@x.example,Active\n")
    assert [r.active for r in rows] == [False, True]


@pytest.mark.parametrize("data, expected", [
    (b"", "the file is empty"),
    (b"name,email\n", "lists nobody"),
    (b"name,mail_address\nA,a@x.example\n", "line 1: unknown column(s) 'mail_address'"),
    (b"name,email,email\nA,a@x.example,a@x.example\n", "line 1: column(s) email appear more than once"),
    (b"email\na@x.example\n", "line 1: missing column(s) name"),
    ("name,email\nJosé,jose@x.example\n".encode("cp1252"), "line 2: not UTF-8 text"),
    ("name,email\nA,a@x.example\n".encode("utf-16"), "UTF-16"),
    (b'name,email\n"A,a@x.example\n', "not valid CSV"),
])
def test_unreadable_files_say_why(data, expected):
    assert any(expected in p for p in problems(data)), problems(data)


def test_every_bad_row_is_named_and_nothing_is_taken():
    data = (b"name,email,employee_id,manager_email,status\n"
            b"A,a@x.example,E1,,\n"          # fine
            b",b@x.example,E2,,\n"           # 3: no name
            b"C,not-an-address,E3,,\n"       # 4: bad e-mail
            b"D,A@x.example,E4,,\n"          # 5: duplicate of line 2
            b"E,e@x.example,E1,,\n"          # 6: duplicate employee id
            b"F,f@x.example,E6,f@x.example,\n"  # 7: own manager
            b"G,g@x.example,E7,,retired\n"   # 8: unknown status
            b"H,h@x.example\n")              # 9: too few values
    found = problems(data)
    assert [p.split(":")[0] for p in found] == [f"line {n}" for n in (3, 4, 5, 6, 7, 8, 9)]
    assert "a@x.example is also on line 2" in found[2] and "'E1' is also on line 2" in found[3]


def test_a_huge_file_is_refused_before_it_is_read():
    assert "limit" in problems(b"name,email\n" + b"A,a@x.example\n" * (MAX_BYTES // 14 + 1))[0]


def test_the_message_lists_the_first_problems_and_counts_the_rest():
    data = b"name,email\n" + b"".join(b"X,bad%d\n" % i for i in range(120))
    with pytest.raises(RosterFileError) as refused:
        parse_roster(data)
    assert refused.value.total == 120 and len(refused.value.problems) == 50
    assert refused.value.message.startswith("120 problem(s)") and "and 70 more" in refused.value.message
