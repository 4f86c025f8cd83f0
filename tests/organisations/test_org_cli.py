"""`certamen org` as an administrator scripts it: a real process, a real database file."""
from __future__ import annotations

import json
import os
import subprocess
import sys

CERTAMEN = [sys.executable, "-m", "cli.main"]


def run(args, url, check=True):
    proc = subprocess.run(CERTAMEN + args, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "DATABASE_URL": url})
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_create_enrol_assign_and_enrol_again(sqlite_url, tmp_path):
    roster = tmp_path / "people.csv"
    roster.write_text("name,email,employee_id,department\nAna,ana@acme.example,E1,Sales\nBo,bo@acme.example,E2,Ops\n")
    run(["org", "create", "acme", "--name", "Acme Ltd"], sqlite_url)
    first = json.loads(run(["org", "enrol", "acme", "--csv", str(roster), "--json"], sqlite_url).stdout)
    assert (first["added"], first["new_accounts"]) == (2, 2)
    assigned = json.loads(run(["org", "assign", "acme", "--exam", "social-media-frontline", "--due", "2027-03-01",
                               "--department", "Sales", "--json"], sqlite_url).stdout)
    assert (assigned["people"], assigned["scope"], assigned["standing"]) == (1, "department", True)
    again = json.loads(run(["org", "enrol", "acme", "--csv", str(roster), "--json"], sqlite_url).stdout)
    assert (again["added"], again["unchanged"]) == (0, 2)


def test_a_broken_roster_is_refused_line_by_line(sqlite_url, tmp_path):
    roster = tmp_path / "people.csv"
    roster.write_text("name,email\nAna,ana@acme.example\nBo,not-an-address\n,cy@acme.example\n")
    run(["org", "create", "acme", "--name", "Acme Ltd"], sqlite_url)
    proc = run(["org", "enrol", "acme", "--csv", str(roster)], sqlite_url, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "line 3: email 'not-an-address'" in proc.stderr and "line 4: name is empty" in proc.stderr
    no_file = run(["org", "enrol", "acme", "--csv", str(tmp_path / "none.csv")], sqlite_url, check=False)
    assert no_file.returncode == 2 and "none.csv" in no_file.stderr and "Traceback" not in no_file.stderr


def test_unknown_organisation_and_duplicate_slug_are_clear(sqlite_url):
    run(["org", "create", "acme", "--name", "Acme Ltd"], sqlite_url)
    twice = run(["org", "create", "acme", "--name", "Acme again"], sqlite_url, check=False)
    assert twice.returncode == 1 and "exists already" in twice.stderr
    missing = run(["org", "assign", "globex", "--exam", "social-media-frontline", "--due", "2027-03-01"], sqlite_url,
                  check=False)
    assert missing.returncode == 1 and "no organisation 'globex'" in missing.stderr
