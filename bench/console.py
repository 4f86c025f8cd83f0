"""The employer console at scale: one organisation of 100,000 enrolled people and 1,000,000 sittings.

    python bench/console.py                                   # 100,000 employees, 1,000,000 sittings
    python bench/console.py --employees 100000 --sittings 300000
    python bench/console.py --quick                           # 3,000 employees, 30,000 sittings: a smoke run
    python bench/console.py --explain plans/                  # also write each query's plan (auto_explain)
    python bench/console.py --keep                            # leave the loaded cluster running, print its URL
    python bench/console.py --url URL --jit off               # measure it again, JIT off on the measuring connections
    python bench/console.py --json

Goals (the product issue): the dashboard p95 < 300 ms, a people-list page p95 < 150 ms, the full CSV export
streamed in constant memory at >= 50,000 rows/s, on PostgreSQL, with indexes and queries shaped for it
(nothing here caches a result between repetitions).

What it does, all on 127.0.0.1 and torn down at the end:

1. a throw-away PostgreSQL cluster (tests/helpers/pg_cluster.py; fsync off, which only speeds up the load),
   the migrations and the bundled bank, as `certamen init`;
2. two organisations (create_organisation, audited as in production), then, bulk-loaded with COPY in a
   child process (foreign-key triggers off during the load, every row consistent by construction):
   the candidates and employees (~20 departments, ~10 sites, 1 in 20 a manager with a staff account and
   the manager role, 3% who left), one standing assignment of ``social-media-frontline`` to everyone
   (its AssignedExam rows, due dates from each person's enrolment), and the sittings of the last 24
   months, written in time order as they would arrive: most people hold a certificate (one per passed
   sitting; three in four of the older ones renewed through the recertification exam, the first one
   superseded), some expire soon, some lapsed, some revoked or suspended, some failed, some in
   progress (at most one each), some not started, a few exempt; the remaining sittings are earlier
   failed and abandoned attempts. The second organisation (a tenth of the size, 1 in 20 of its people
   also enrolled by the first) checks that the tenant filter has work to do. Then VACUUM ANALYZE;
3. after a warm-up, each console query ~30 times in a fresh scoped session, as a request would:
   the dashboard (ExamClock.at + organisations.dashboard.dashboard), the people list's first page
   and a keyset page 60% deep (unfiltered, ``status=overdue``, a search string), a person's rows (a
   search for one e-mail address), and the full export (csv_stream, as the console's CSV route, into a
   sink that discards), with its peak RSS growth over a one-department export run first;
4. references in the same run: ``count(*)`` of the organisation's active employees (dashboard), the
   first 50 employees by name (pages), and the employees table streamed into the same CSV sink
   (export): each figure is printed as a ratio to its reference, and against its goal.

``--url`` measures a database loaded earlier (``--keep`` leaves the cluster running and prints its URL).
"""
from __future__ import annotations

import argparse
import base64
import csv
import datetime as dt
import json
import multiprocessing
import os
import platform
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select, text  # noqa: E402

from cli.database import initialise  # noqa: E402
from storage import Employee  # noqa: E402
from storage.db import make_engine, make_session_factory, transaction  # noqa: E402

EXAM = "social-media-frontline"
RECERT = "social-media-recert"
GOALS = {"dashboard_p95_ms": 300.0, "page_p95_ms": 150.0, "export_rows_per_s": 50_000.0}
DAY = 86_400.0
SCENARIOS = (  # a person's standing on the required exam, and how many people are in it
    ("passed", 0.62), ("expiring", 0.10), ("lapsed", 0.06), ("withdrawn", 0.02), ("failed", 0.12),
    ("in_progress", 0.03), ("not_started", 0.04), ("exempt", 0.01),
)
FIRST = ("Ada Adam Aisha Akira Alba Alex Ali Alice Amara Amir Ana Andrea Anna Aoife Arjun Astrid Ben Bianca Björn "
         "Bruno Carla Carlos Chen Chloe Chris Clara Dan Daniel David Diana Dmitri Elena Eli Ella Emeka Emil Emma "
         "Eric Eva Farah Fatima Felix Finn Freya Gabriel Grace Hana Hannah Hugo Ian Ines Ingrid Isaac Ivan Jack "
         "Jade James Jana Javier Jin João Jonas Jose Julia Kai Karim Kate Kenji Laila Lara Leo Liam Lina Lucas "
         "Lucy Luis Maja Marco Maria Mark Marta Mateo Maya Mei Mia Mohamed Nadia Nia Nina Noah Nora Olga Omar "
         "Oscar Paul Pedro Pia Priya Rafael Rosa Ruth Sam Sara Sofia Tariq Tom Uma Victor Wei Yara Yusuf Zoe").split()
LAST = ("Abbott Adeyemi Ahmed Alvarez Andersen Bauer Becker Bianchi Brown Campbell Chen Costa Cruz Dubois Evans "
        "Fischer Fernandes Garcia Gomez Gonzalez Green Hall Hansen Hernandez Hoffmann Ibrahim Ito Jansen Jensen "
        "Johnson Jones Kaur Khan Kim Klein Kowalski Kumar Larsen Lee Lewis Li Lopez Martin Martinez Meyer Miller "
        "Moreau Müller Murphy Nakamura Nguyen Nielsen Novak O'Brien Okafor Olsen Park Patel Perez Petrov Popescu "
        "Ramos Reyes Ricci Rodriguez Rossi Russo Sanchez Santos Schmidt Schneider Silva Singh Smith Sousa Suzuki "
        "Tanaka Taylor Thomas Torres Walker Wang Weber Williams Wilson Wright Wu Yamamoto Yang Young Zhang Ziegler "
        "Åberg Ødegaard Øster Łukasik Ńowak Şahin Çelik Ölz").split()
DEPARTMENTS = ("Sales Support Marketing Finance Legal Operations Logistics Engineering Product Design Research "
               "Procurement Facilities Security Training Communications Customer-Success Partnerships Risk "
               "Compliance").split()
SITES = "Lisbon Madrid Paris Berlin Warsaw Dublin London Milan Vienna Prague".split()


# ---------------------------------------------------------------- the cluster and the data


def start_cluster():
    from tests.helpers.pg_cluster import PostgresCluster

    cluster = PostgresCluster(durable=False, prefix="certamen-console-bench-")
    cluster.start()
    return cluster


def ts(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(sep=" ")


def nul(value: object) -> str:
    return "\\N" if value is None else str(value)


class Copier:
    """COPY FROM STDIN in the text format, a megabyte at a time (every value written here is free of tabs,
    newlines and backslashes)."""

    def __init__(self, cur, table: str, columns: str):
        self.cur, self.table, self.columns, self.lines, self.size, self.rows = cur, table, columns, [], 0, 0
        self.copy_cm = cur.copy(f"COPY {table} ({columns}) FROM STDIN")
        self.copy = self.copy_cm.__enter__()

    def row(self, *values: object) -> None:
        line = "\t".join(["\\N" if v is None else str(v) for v in values]) + "\n"
        self.lines.append(line)
        self.size += len(line)
        self.rows += 1
        if self.size > 1 << 20:
            self.copy.write("".join(self.lines))
            self.lines, self.size = [], 0

    def close(self) -> int:
        if self.lines:
            self.copy.write("".join(self.lines))
        self.copy_cm.__exit__(None, None, None)
        return self.rows


class Programme:
    """Generates one organisation's people and their last 24 months, in memory, then COPYs them."""

    def __init__(self, rng: random.Random, now: float, ids: dict[str, int]):
        self.rng, self.now, self.ids = rng, now, ids
        self.t0 = now - 730 * DAY

    def next_id(self, kind: str) -> int:
        self.ids[kind] += 1
        return self.ids[kind]

    def token(self) -> str:
        return base64.urlsafe_b64encode(self.rng.randbytes(18)).decode()

    def cert_code(self) -> str:
        n = self.next_id("certificate")
        return f"C-{(n * 2654435761 + 12345) % (1 << 40):010X}"  # a bijection on 40 bits: unique

    def build(self, org_id: int, slug: str, people: int, sittings: int, units: dict[str, list[int]],
              shared: list[tuple[int, str, str]] = ()) -> dict[str, list]:
        """`shared`: (candidate id, name, e-mail) of people another organisation enrolled too (no new history)."""
        rng, now, t0 = self.rng, self.now, self.t0
        out: dict[str, list] = {k: [] for k in ("candidates", "employees", "assigned", "sittings", "certificates",
                                                "staff")}
        roster = []
        for i in range(people):
            if i < len(shared):
                candidate_id, name, email = shared[i]
            else:
                first, last = rng.choice(FIRST), rng.choice(LAST)
                name = f"{first} {last}"
                candidate_id = self.next_id("candidate")
                email = f"{first}.{last}.{candidate_id}@{slug}.example".lower().replace("'", "")
                out["candidates"].append((candidate_id, name, email))
            # 80% were there before the window, the rest joined during it (6% in the last 45 days)
            u = rng.random()
            enrolled = (t0 - rng.uniform(30, 1500) * DAY if u < 0.80 else
                        now - rng.uniform(1, 45) * DAY if u < 0.86 else rng.uniform(t0, now - 45 * DAY))
            roster.append((enrolled, candidate_id, name, email, i < len(shared)))
        roster.sort()  # employee ids in enrolment order, not name order
        managers = [r[3] for r in roster[:: 20]]
        manager_set = set(managers)
        created = t0 - 30 * DAY  # the standing assignment
        self.assignment_id = self.next_id("assignment")
        out["assignment"] = (self.assignment_id, org_id, created)
        history_windows: list[tuple[float, float, int]] = []  # filler interval per person
        for n, (enrolled, candidate_id, name, email, is_shared) in enumerate(roster):
            employee_id = self.next_id("employee")
            dept = units["department"][n * 7 % len(units["department"])]
            dept = rng.choice(units["department"]) if rng.random() < 0.5 else dept
            site = rng.choice(units["site"])
            left = rng.random() < 0.03
            manager = managers[(n * 13) % len(managers)] if email not in manager_set else None
            out["employees"].append((employee_id, org_id, candidate_id, email, name, f"E{employee_id:07d}", dept,
                                     site, manager, not left, enrolled,
                                     rng.uniform(max(enrolled, t0), now) if left else None))
            if email in manager_set:
                out["staff"].append((email, name))
            assigned = max(enrolled, created)
            # people there when it was made: due dates spread over the first quarter; later: 30 days after joining
            due = created + rng.uniform(30, 120) * DAY if enrolled <= created else assigned + 30 * DAY
            scenario = self.pick()
            exempt = scenario == "exempt"
            out["assigned"].append((self.next_id("assigned"), org_id, self.assignment_id, employee_id, EXAM,
                                    assigned, due, "on long-term leave" if exempt else None,
                                    "hr@bench.example" if exempt else None, assigned + DAY if exempt else None))
            if is_shared:
                continue
            first_event = self.history(scenario, candidate_id, enrolled, assigned, out)
            start = max(t0, enrolled)
            if first_event is not None and first_event - start > 3600:
                history_windows.append((start, first_event, candidate_id))
        # earlier failed and abandoned attempts, up to the number of sittings asked for, spread over the
        # people with a history in proportion to its length
        fillers = max(0, sittings - len(out["sittings"]))
        if fillers and history_windows:
            import numpy as np

            lengths = np.array([b - a for a, b, _ in history_windows])
            counts = np.random.default_rng(rng.getrandbits(32)).multinomial(fillers, lengths / lengths.sum())
            for (a, b, candidate_id), k in zip(history_windows, counts.tolist(), strict=True):
                for _ in range(k):
                    started = rng.uniform(a, b - 3600)
                    if rng.random() < 0.35:
                        self.sitting(out, candidate_id, EXAM, started, state="abandoned", decision=None)
                    else:
                        self.sitting(out, candidate_id, EXAM, started, decision="fail")
        out["sittings"].sort(key=lambda s: s[10])  # by started_at: as they arrive
        out["certificates"].sort(key=lambda c: c[6])
        return out

    def pick(self) -> str:
        u, acc = self.rng.random(), 0.0
        for name, share in SCENARIOS:
            acc += share
            if u < acc:
                return name
        return SCENARIOS[-1][0]

    def history(self, scenario: str, candidate_id: int, enrolled: float, assigned: float,
                out: dict[str, list]) -> float | None:
        """The sittings and certificates that put a person in `scenario`; the time of the first of them."""
        rng, now, t0 = self.rng, self.now, self.t0
        earliest = max(t0, enrolled) + DAY
        ranges = {"passed": (now - 305 * DAY, now - 3600), "expiring": (now - 365 * DAY, now - 305 * DAY),
                  "lapsed": (t0 + DAY, now - 366 * DAY), "withdrawn": (now - 330 * DAY, now - 2 * DAY)}
        if scenario in ranges:
            lo, hi = ranges[scenario]
            lo = max(lo, earliest)
            if lo >= hi:
                scenario = "failed" if enrolled < now - 2 * DAY else "not_started"
            else:
                last = rng.uniform(lo, hi)
                prior = last - 365 * DAY + rng.uniform(1, 60) * DAY  # renewed inside the 60-day window
                if prior > earliest and rng.random() < 0.75:
                    first_code, last_code = self.cert_code(), self.cert_code()
                    self.certificate(out, first_code, candidate_id, EXAM, prior, superseded_by=last_code)
                    self.certificate(out, last_code, candidate_id, RECERT, last, previous=first_code,
                                     withdrawn=scenario == "withdrawn")
                    return prior - 3600
                self.certificate(out, self.cert_code(), candidate_id, EXAM, last, withdrawn=scenario == "withdrawn")
                return last - 3600
        if scenario == "failed":
            lo = max(assigned, earliest)
            if lo >= now - 3600:
                return None
            started = rng.uniform(lo, now - 3600)
            self.sitting(out, candidate_id, EXAM, started, decision="fail")
            return started
        if scenario == "in_progress":
            started = now - rng.uniform(60, 3 * 3600)
            self.sitting(out, candidate_id, EXAM, started, state="in_progress", decision=None)
            return started
        return None  # not_started, exempt

    def sitting(self, out, candidate_id: int, exam_id: str, started: float, *, state: str = "completed",
                decision: str | None) -> str:
        rng = self.rng
        sid = self.token()
        finished = None if state == "in_progress" else started + rng.uniform(8, 40) * 60
        theta = (None if decision is None else
                 rng.uniform(-0.3, 2.0) if decision == "pass" else rng.uniform(-2.5, -0.31))
        out["sittings"].append((sid, candidate_id, exam_id, 1, state, rng.getrandbits(31), decision,
                                "ci" if decision else None, theta, None if theta is None else rng.uniform(0.25, 0.4),
                                started, finished))
        return sid

    def certificate(self, out, code: str, candidate_id: int, sat: str, issued: float, *,
                    superseded_by: str | None = None, previous: str | None = None, withdrawn: bool = False) -> None:
        rng = self.rng
        sid = self.sitting(out, candidate_id, sat, issued - rng.uniform(8, 40) * 60, decision="pass")
        revoked = suspended = None
        if withdrawn:
            when = rng.uniform(issued + 3600, self.now - 3600)
            revoked, suspended = (when, None) if rng.random() < 0.67 else (None, when)
        out["certificates"].append((code, candidate_id, EXAM, 1, sid, "renewal" if previous else "initial", issued,
                                    issued, issued + 365 * DAY, self.next_id("status_index"), revoked, suspended,
                                    superseded_by, previous))
        # the sitting's finish is the issue time
        row = out["sittings"][-1]
        out["sittings"][-1] = (*row[:11], issued)


def load(url: str, employees: int, sittings: int, now: float, seed: int, queue) -> None:
    """In a child process, so the generator's memory is not the measuring process's."""
    import psycopg

    from organisations.organisations import create_organisation
    from storage import ParameterSet

    started = time.perf_counter()
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as db:
        orgs = [create_organisation(db, "acme", "Acme Holdings", actor="bench").id,
                create_organisation(db, "globex", "Globex Partners", actor="bench").id]
        parameter_set = db.execute(select(func.max(ParameterSet.id))).scalar_one()
    engine.dispose()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    rng = random.Random(seed)
    ids = {k: 0 for k in ("candidate", "employee", "assignment", "assigned", "certificate", "status_index", "unit")}
    ids["candidate"], ids["status_index"] = 1_000, 100_000
    figures: dict[str, Any] = {}
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # no FK triggers: rows are consistent by construction
        cur.execute("SET maintenance_work_mem = '512MB'")
        programme = Programme(rng, now, ids)
        plan = [(orgs[0], "acme", employees, sittings), (orgs[1], "globex", max(200, employees // 10),
                                                          max(1000, sittings // 20))]
        shared: list[tuple[int, str, str]] = []
        for org_id, slug, people, count in plan:
            t = time.perf_counter()
            units = {"department": [], "site": []}
            unit_rows = Copier(cur, "org_units", "id, organisation_id, kind, name")
            for kind, names in (("department", DEPARTMENTS), ("site", SITES)):
                for name in names:
                    ids["unit"] += 1
                    units[kind].append(ids["unit"])
                    unit_rows.row(ids["unit"], org_id, kind, name)
            unit_rows.close()
            data = programme.build(org_id, slug, people, count, units, shared)
            generated = time.perf_counter() - t
            if not shared:  # the second organisation enrols 1 in 20 of its people from the first
                shared = [(e[2], e[4], e[3]) for e in data["employees"][: max(10, people // 200)]]
            t = time.perf_counter()
            c = Copier(cur, "candidates", "id, name, email, created_at")
            for cid, name, email in data["candidates"]:
                c.row(cid, name, email, ts(now - 800 * DAY))
            c.close()
            c = Copier(cur, "employees", "id, organisation_id, candidate_id, email, name, employee_number, "
                       "department_id, site_id, manager_email, active, enrolled_at, left_at, updated_at")
            for e in data["employees"]:
                c.row(*e[:9], "t" if e[9] else "f", ts(e[10]), None if e[11] is None else ts(e[11]),
                      ts(e[11] or e[10]))
            c.close()
            aid, _, created = data["assignment"]
            cur.execute("INSERT INTO assignments (id, organisation_id, exam_id, scope, unit_id, due_at, due_days, "
                        "standing, note, created_at, created_by, ended_at) VALUES "
                        "(%s, %s, %s, 'all', NULL, NULL, 30, true, '', %s, 'hr@bench.example', NULL)",
                        (aid, org_id, EXAM, ts(created)))
            c = Copier(cur, "assigned_exams", "id, organisation_id, assignment_id, employee_id, exam_id, assigned_at, "
                       "due_at, exempt_reason, exempt_by, exempt_at")
            for a in data["assigned"]:
                c.row(*a[:5], ts(a[5]), ts(a[6]), a[7], a[8], None if a[9] is None else ts(a[9]))
            c.close()
            c = Copier(cur, "exam_sessions", "id, candidate_id, exam_id, exam_version, parameter_set_id, state, seed, "
                       "cat_config, decision, stop_reason, theta, se, started_at, finished_at")
            for s in data["sittings"]:
                c.row(s[0], s[1], s[2], s[3], parameter_set, s[4], s[5], "{}", s[6], s[7], s[8], s[9], ts(s[10]),
                      None if s[11] is None else ts(s[11]))
            n_sittings = c.close()
            c = Copier(cur, "certificates", "id, candidate_id, exam_id, exam_version, session_id, kind, issued_at, "
                       "valid_from, valid_until, status_index, revoked_at, suspended_at, superseded_by, previous_id, "
                       "is_current, cryptosuite, verification_method, credential")
            for r in data["certificates"]:
                c.row(*r[:6], ts(r[6]), ts(r[7]), ts(r[8]), r[9], None if r[10] is None else ts(r[10]),
                      None if r[11] is None else ts(r[11]), r[12], r[13], r[12] is None, "eddsa-rdfc-2022",
                      "did:web:bench.example#key-1", "{}")
            n_certs = c.close()
            for email, name in data["staff"]:
                cur.execute("INSERT INTO staff_accounts (email, name, active, created_at) VALUES (%s, %s, true, now()) "
                            "ON CONFLICT (email) DO NOTHING RETURNING id", (email, name))
                row = cur.fetchone()
                if row:
                    cur.execute("INSERT INTO staff_roles (staff_id, organisation_id, role, granted_at, granted_by) "
                                "VALUES (%s, %s, 'manager', now(), 'bench')", (row[0], org_id))
            figures[slug] = {"org_id": org_id, "employees": len(data["employees"]), "sittings": n_sittings,
                             "certificates": n_certs, "generate_s": round(generated, 1),
                             "copy_s": round(time.perf_counter() - t, 1)}
            del data
        cur.execute("INSERT INTO policy_changes (exam_id, min_exam_version, deadline, reason, created_at) "
                    "VALUES (%s, 1, %s, 'bench: applies to no certificate', now())", (EXAM, ts(now + 90 * DAY)))
        for table, column in (("candidates", "id"), ("employees", "id"), ("org_units", "id"), ("assignments", "id"),
                              ("assigned_exams", "id")):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                        f"(SELECT max({column}) FROM {table}))")
        conn.commit()
        t = time.perf_counter()
        conn.autocommit = True
        cur.execute("VACUUM (ANALYZE)")
        figures["vacuum_analyze_s"] = round(time.perf_counter() - t, 1)
    figures["setup_s"] = round(time.perf_counter() - started, 1)
    queue.put(figures)


# ---------------------------------------------------------------- measuring


class NullSink:
    def write(self, _s: str) -> int:
        return 0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def timed_runs(fn, reps: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": round(percentile(samples, 0.5), 2), "p95_ms": round(percentile(samples, 0.95), 2),
            "min_ms": round(min(samples), 2), "n": reps}


def rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Console:
    def __init__(self, url: str, org_id: int, now: dt.datetime):
        self.engine = make_engine(url)
        self.factory = make_session_factory(self.engine)
        self.org_id, self.now = org_id, now

    def session(self):
        from contextlib import ExitStack

        from storage.tenancy import scoped_to

        stack = ExitStack()
        db = stack.enter_context(self.factory())
        stack.enter_context(scoped_to(db, self.org_id))
        return stack, db

    def run(self, body):
        from organisations.status import ExamClock

        stack, db = self.session()
        with stack:
            return body(db, ExamClock.at(db, self.now))

    def dashboard(self):
        """What the console's dashboard page asks: every status and the expiring count in one pass, then the
        monthly trend of sittings."""
        from organisations.dashboard import dashboard
        from organisations.status import PeopleFilter

        return self.run(lambda db, clock: dashboard(db, clock, PeopleFilter(), expiring_days=30))

    def page(self, people, after=None):
        from organisations.status import page_of

        return self.run(lambda db, clock: page_of(db, clock, people, after=after, size=50))

    def export(self, people) -> tuple[int, float]:
        """The console's CSV export as its route streams it (organisations.exports.csv_stream: on PostgreSQL the
        database writes the CSV); rows counted from the text, minus the header."""
        from organisations.exports import csv_stream

        def body(db, clock):
            sink, lines = NullSink(), 0
            for chunk in csv_stream(db, clock, people):
                sink.write(chunk)
                lines += chunk.count("\n")
            return lines - 1

        t = time.perf_counter()
        n = self.run(body)
        return n, time.perf_counter() - t

    # references: the same org's plain employee rows, no status
    def ref_count(self):
        stack, db = self.session()
        with stack:
            return db.execute(select(func.count()).select_from(Employee).where(Employee.active.is_(True))).scalar_one()

    def ref_page(self):
        stack, db = self.session()
        with stack:
            return db.execute(select(*Employee.__table__.c)
                              .where(Employee.organisation_id == self.org_id, Employee.active.is_(True))
                              .order_by(Employee.name, Employee.id).limit(50)).all()

    def ref_stream(self) -> tuple[int, float]:
        t = time.perf_counter()
        stack, db = self.session()
        with stack:
            writer, n = csv.writer(NullSink()), 0
            cols = [c for c in Employee.__table__.columns]
            writer.writerow([c.name for c in cols])
            result = db.execute(select(*cols).where(Employee.organisation_id == self.org_id, Employee.active.is_(True))
                                .order_by(Employee.name, Employee.id)
                                .execution_options(yield_per=2000))
            for row in result:
                writer.writerow(list(row))
                n += 1
        return n, time.perf_counter() - t

    def explain(self, name: str, fn, directory: Path) -> list[dict[str, Any]]:
        """Run `fn` once with auto_explain on (ANALYZE, BUFFERS, JSON) and keep every statement's plan."""
        plans: list[str] = []
        with self.engine.connect() as probe:
            raw = probe.connection.dbapi_connection
            handler = lambda diag: plans.append(diag.message_primary or "")  # noqa: E731
            raw.add_notice_handler(handler)
            for setting in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                            "SET auto_explain.log_analyze = on", "SET auto_explain.log_buffers = on",
                            "SET auto_explain.log_format = 'json'", "SET auto_explain.log_level = 'notice'",
                            "SET client_min_messages = 'notice'"):
                probe.exec_driver_sql(setting)
            probe.commit()
            # hand this very connection to the session
            from sqlalchemy.orm import Session

            from organisations.status import ExamClock
            from storage.tenancy import scoped_to

            with Session(bind=probe) as db, scoped_to(db, self.org_id):
                fn(db, ExamClock.at(db, self.now))
            raw.remove_notice_handler(handler)
            for setting in ("SET auto_explain.log_min_duration = -1",):
                probe.exec_driver_sql(setting)
            probe.commit()
        directory.mkdir(parents=True, exist_ok=True)
        summaries = []
        for i, message in enumerate(plans):
            body = message[message.find("{"):] if "{" in message else ""
            if not body:
                continue
            try:
                doc = json.loads(body)
            except json.JSONDecodeError:
                continue
            (directory / f"{name}-{i}.json").write_text(json.dumps(doc, indent=1))
            summaries.append(summarise(doc))
        return summaries


def summarise(doc: dict[str, Any]) -> dict[str, Any]:
    """The statement's total time and the plan nodes with the most time of their own (total minus children)."""
    nodes: list[tuple[float, str]] = []

    def walk(node: dict[str, Any], path: str) -> float:
        loops = node.get("Actual Loops", 1) or 0
        total = (node.get("Actual Total Time", 0.0) or 0.0) * loops
        children = sum(walk(child, path + ">" + child.get("Node Type", "?")) for child in node.get("Plans", []))
        label = node.get("Node Type", "?")
        for key in ("Index Name", "Relation Name", "Subplan Name", "Parent Relationship"):
            if key in node:
                label += f" [{key.split()[0].lower()}={node[key]}]"
        label += f" loops={loops} rows={node.get('Actual Rows')}"
        hits = node.get("Shared Hit Blocks", 0)
        reads = node.get("Shared Read Blocks", 0)
        label += f" buffers hit={hits} read={reads}"
        nodes.append((total - children, label))
        return total

    plan = doc.get("Plan", {})
    total = walk(plan, plan.get("Node Type", "?"))
    nodes.sort(reverse=True)
    jit = (doc.get("JIT") or {}).get("Timing", {})
    return {"query": (doc.get("Query Text") or "")[:200], "total_ms": round(total, 1),
            "jit_ms": round(jit.get("Total", 0.0), 1), "jit_functions": (doc.get("JIT") or {}).get("Functions", 0),
            "plan_cost": plan.get("Total Cost"),
            "top_nodes": [{"self_ms": round(ms, 1), "node": label} for ms, label in nodes[:6]]}


def measure(url: str, org_id: int, now: dt.datetime, reps: int, warmup: int, explain_dir: Path | None) -> dict:
    from organisations.status import PeopleFilter

    console = Console(url, org_id, now)
    r: dict[str, Any] = {}
    with console.engine.connect() as conn:
        r["table_rows"] = dict(conn.execute(text(
            "SELECT (SELECT count(*) FROM employees WHERE organisation_id = :o) AS org_employees, "
            "(SELECT count(*) FROM exam_sessions) AS all_sittings, "
            "(SELECT count(*) FROM certificates) AS all_certificates"), {"o": org_id}).one()._mapping)
        deep = conn.execute(text("SELECT name, id FROM employees WHERE organisation_id = :o AND active "
                                 "ORDER BY name, id OFFSET (SELECT count(*) * 6 / 10 FROM employees "
                                 "WHERE organisation_id = :o AND active) LIMIT 1"), {"o": org_id}).one()
        one = conn.execute(text("SELECT email FROM employees WHERE organisation_id = :o AND active "
                                "ORDER BY id OFFSET 777 LIMIT 1"), {"o": org_id}).scalar_one()
    after = (deep.name, deep.id, EXAM)
    surname = "patel"
    cases = {
        "dashboard": console.dashboard,
        "page 1": lambda: console.page(PeopleFilter()),
        "page 60% deep": lambda: console.page(PeopleFilter(), after),
        "page 1, status=overdue": lambda: console.page(PeopleFilter(status="overdue")),
        "page 60% deep, status=overdue": lambda: console.page(PeopleFilter(status="overdue"), after),
        f"page 1, search '{surname}'": lambda: console.page(PeopleFilter(search=surname)),
        "person (search one e-mail)": lambda: console.page(PeopleFilter(search=one)),
    }
    refs = {"count(*) employees": console.ref_count, "50 employees by name": console.ref_page}
    r["reference"] = {name: timed_runs(fn, reps, warmup) for name, fn in refs.items()}
    board = console.dashboard()
    r["dashboard_counts"], r["dashboard_expiring_30d"] = board.counts, board.expiring_soon
    r["pages_rows"] = {name: len(fn()) for name, fn in cases.items() if name != "dashboard"}
    r["latency"] = {}
    for name, fn in cases.items():
        r["latency"][name] = timed_runs(fn, reps, warmup)
        print(f"  measured {name}: p95 {r['latency'][name]['p95_ms']:.1f} ms", file=sys.stderr, flush=True)
    # exports: a plain stream of the employees table (reference), then one department, then everyone
    ref = [console.ref_stream() for _ in range(3)]
    r["reference"]["stream employees"] = {"rows": ref[0][0], "rows_per_s": round(max(n / s for n, s in ref))}
    dept_id = select(Employee.department_id).where(Employee.organisation_id == org_id).limit(1)
    with console.engine.connect() as conn:
        dept = conn.execute(dept_id).scalar_one()
    base = rss_kb()
    n_small, s_small = console.export(PeopleFilter(department_id=dept))
    after_small = rss_kb()
    runs = []
    for _ in range(3):
        runs.append(console.export(PeopleFilter()))
        print(f"  export: {runs[-1][0]:,} rows in {runs[-1][1]:.2f} s", file=sys.stderr, flush=True)
    after_full = rss_kb()
    rates = sorted(n / s for n, s in runs)
    r["export"] = {"rows": runs[0][0], "rows_per_s_best": round(rates[-1]), "rows_per_s_median": round(rates[1]),
                   "seconds": [round(s, 2) for _, s in runs],
                   "one_department_rows": n_small, "one_department_s": round(s_small, 2),
                   "peak_rss_mb_before": round(base / 1024, 1),
                   "peak_rss_growth_mb_one_department": round((after_small - base) / 1024, 1),
                   "peak_rss_growth_mb_full_after_that": round((after_full - after_small) / 1024, 1)}
    if explain_dir is not None:
        from organisations.dashboard import dashboard
        from organisations.status import page_of, rows_of

        def drain(db, clock):
            for _ in rows_of(db, clock, PeopleFilter()):
                pass

        r["explain"] = {
            "dashboard": console.explain("dashboard", lambda db, c: dashboard(db, c,
                                                                              PeopleFilter()), explain_dir),
            "page 1": console.explain("page1", lambda db, c: page_of(db, c, PeopleFilter()), explain_dir),
            "page 60% deep": console.explain("page_deep", lambda db, c: page_of(db, c, PeopleFilter(), after=after),
                                             explain_dir),
            "page 1 overdue": console.explain("page1_overdue",
                                              lambda db, c: page_of(db, c, PeopleFilter(status="overdue")),
                                              explain_dir),
            "search": console.explain("search", lambda db, c: page_of(db, c, PeopleFilter(search=surname)),
                                      explain_dir),
            "export": console.explain("export", drain, explain_dir),
        }
    console.engine.dispose()
    return r


# ---------------------------------------------------------------- report


def report(r: dict[str, Any]) -> None:
    s = r["setup"]
    print(f"Certamen employer console bench — PostgreSQL {r.get('server_version', '?')} (jit={r.get('jit')}, "
          f"shared_buffers={r.get('shared_buffers')}), python {r['python']}, {r['machine']}")
    if s:
        a, g = s["acme"], s["globex"]
        print(f"Setup {s['setup_s']:.0f} s (generate {a['generate_s'] + g['generate_s']:.0f} s, COPY "
              f"{a['copy_s'] + g['copy_s']:.0f} s, VACUUM ANALYZE {s['vacuum_analyze_s']:.0f} s; migrations and "
              f"bank {r['prepare_s']:.0f} s)")
        print(f"  measured organisation: {a['employees']:,} employees, {a['sittings']:,} sittings, "
              f"{a['certificates']:,} certificates")
        print(f"  second organisation:   {g['employees']:,} employees, {g['sittings']:,} sittings, "
              f"{g['certificates']:,} certificates")
    t = r["table_rows"]
    print(f"  tables: {t['all_sittings']:,} sittings, {t['all_certificates']:,} certificates in all")
    print(f"  dashboard counts: {r['dashboard_counts']}; expiring within 30 days: {r['dashboard_expiring_30d']:,}")
    print()
    ref = r["reference"]
    print(f"{'latency (ms), fresh scoped session each':<44} {'p50':>9} {'p95':>9}   ratio to reference (p50)")
    for name, v in ref.items():
        if "p50_ms" in v:
            print(f"  ref: {name:<38} {v['p50_ms']:>9.2f} {v['p95_ms']:>9.2f}")
    for name, v in r["latency"].items():
        base = ref["count(*) employees"] if name == "dashboard" else ref["50 employees by name"]
        rows = f" ({r['pages_rows'][name]} rows)" if name in r["pages_rows"] else ""
        print(f"  {name + rows:<43} {v['p50_ms']:>9.1f} {v['p95_ms']:>9.1f}   {v['p50_ms'] / base['p50_ms']:>7.1f}×")
    e = r["export"]
    print()
    print(f"export: {e['rows']:,} rows, {e['rows_per_s_best']:,} rows/s best of 3 (median {e['rows_per_s_median']:,}), "
          f"{e['seconds']} s; {e['rows_per_s_best'] / ref['stream employees']['rows_per_s']:.2f}× the plain stream of "
          f"the employees table ({ref['stream employees']['rows_per_s']:,} rows/s)")
    print(f"  peak RSS {e['peak_rss_mb_before']} MB before; growth +{e['peak_rss_growth_mb_one_department']} MB over "
          f"one department ({e['one_department_rows']:,} rows), then +{e['peak_rss_growth_mb_full_after_that']} MB "
          f"over the full export")
    print()
    print("Goals")
    for line, ok in r["goals"]:
        print(f"  {line}: {'PASS' if ok else 'MISS'}")
    for name, plans in r.get("explain", {}).items():
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) — {name}")
        for p in plans:
            if p["total_ms"] < 1 and len(plans) > 1:
                continue
            print(f"  {p['total_ms']:.1f} ms in all, of which JIT compilation {p['jit_ms']:.1f} ms "
                  f"({p['jit_functions']} functions; plan cost {p['plan_cost']:,.0f}): {p['query'][:90]!r}")
            for node in p["top_nodes"]:
                print(f"    {node['self_ms']:>9.1f} ms self  {node['node']}")
    print(f"\ntotal bench time {r['total_s']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--sittings", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--quick", action="store_true", help="3,000 employees, 30,000 sittings, 10 repetitions")
    parser.add_argument("--explain", type=Path, default=None, metavar="DIR",
                        help="also run each query once under auto_explain and write its plans to DIR")
    parser.add_argument("--url", default=None, help="measure an existing database loaded by this bench")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running, print its URL")
    parser.add_argument("--jit", choices=("server", "off"), default="server",
                        help="'off': the measuring connections set jit=off (default: the server's setting)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.employees, args.sittings, args.reps = 3_000, 30_000, 10
    begun = time.perf_counter()
    cluster = None
    result: dict[str, Any] = {"python": platform.python_version(), "machine": f"{platform.machine()}, "
                              f"{os.cpu_count()} cpus", "setup": {}, "prepare_s": 0.0}
    try:
        if args.url:
            url = args.url
            with make_engine(url).connect() as conn:
                org_id = conn.execute(text("SELECT id FROM organisations WHERE slug = 'acme'")).scalar_one()
                stamp = conn.execute(text("SELECT created_at FROM organisations WHERE slug = 'acme'")).scalar_one()
            now = stamp
        else:
            cluster = start_cluster()
            url = cluster.create_database("console_bench")
            t = time.perf_counter()
            initialise(url)
            result["prepare_s"] = round(time.perf_counter() - t, 1)
            now = dt.datetime.now(dt.UTC)
            queue = multiprocessing.get_context("fork").Queue()
            child = multiprocessing.get_context("fork").Process(
                target=load, args=(url, args.employees, args.sittings, now.timestamp(), args.seed, queue))
            child.start()
            result["setup"] = queue.get()
            child.join()
            if child.exitcode:
                raise SystemExit(f"the load failed (exit code {child.exitcode})")
            result["setup"]["setup_s"] = round(result["setup"]["setup_s"] + result["prepare_s"], 1)
            org_id = result["setup"]["acme"]["org_id"]
            print(f"setup done in {result['setup']['setup_s']:.0f} s", file=sys.stderr, flush=True)
        if args.jit == "off":
            url += ("&" if "?" in url else "?") + "options=-c%20jit%3Doff"
        with make_engine(url).connect() as conn:
            result["server_version"] = conn.execute(text("SHOW server_version")).scalar_one().split()[0]
            result["jit"] = conn.execute(text("SHOW jit")).scalar_one()
            result["shared_buffers"] = conn.execute(text("SHOW shared_buffers")).scalar_one()
        result.update(measure(url, org_id, now, args.reps, args.warmup, args.explain))
        lat = result["latency"]
        pages = {k: v for k, v in lat.items() if k.startswith("page") or k.startswith("person")}
        worst = max(pages, key=lambda k: pages[k]["p95_ms"])
        result["goals"] = [
            (f"dashboard p95 {lat['dashboard']['p95_ms']:.0f} ms < {GOALS['dashboard_p95_ms']:.0f} ms",
             lat["dashboard"]["p95_ms"] < GOALS["dashboard_p95_ms"]),
            *[(f"{name} p95 {v['p95_ms']:.0f} ms < {GOALS['page_p95_ms']:.0f} ms", v["p95_ms"] < GOALS["page_p95_ms"])
              for name, v in pages.items()],
            (f"full export {result['export']['rows_per_s_best']:,} rows/s ≥ {GOALS['export_rows_per_s']:,.0f} rows/s",
             result["export"]["rows_per_s_best"] >= GOALS["export_rows_per_s"]),
        ]
        result["worst_page"] = worst
        result["total_s"] = round(time.perf_counter() - begun, 1)
        if args.json:
            print(json.dumps(result, indent=1, default=str))
        else:
            report(result)
        if args.keep and cluster is not None:
            print(f"\ncluster kept: {url}  (stop: pg_ctl -D {cluster.datadir} stop)")
            cluster.started = False  # so stop() below leaves it
            cluster.datadir = None
    finally:
        if cluster is not None:
            cluster.stop(immediate=True)


if __name__ == "__main__":
    main()
