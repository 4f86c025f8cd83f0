"""Load test: N concurrent learners each take a whole exam through the JSON API (loopback only).

    python bench/load.py --postgres            # 200 learners on a throw-away PostgreSQL cluster
    python bench/load.py                       # 200 learners on SQLite
    python bench/load.py --quick               # smoke run: 20 learners, SQLite, short time cap
    python bench/load.py --postgres --rate 500 # learners pace themselves to 500 answers/s in total
    python bench/load.py --postgres --rate 500 --ramp 3 --exams 4   # ... for ~25 s with all 200 active
    python bench/load.py --json                # machine-readable output only

What it does, all on 127.0.0.1 and all torn down at the end (also on errors and Ctrl-C):

1. a database: a throw-away PostgreSQL cluster (``--postgres``; Debian's ``initdb``/``pg_ctl``, run
   as the ``postgres`` user when we are root) or, if that is not asked for or cannot be started,
   a SQLite file in a temporary directory;
2. ``python -m cli.main init`` (migrations + the bundled bank), as ``certamen init``;
3. ``python -m cli.main serve --production --port P`` (granian, its default worker count unless
   ``--workers``), with ``CERTAMEN_KEY_DIR``/``CERTAMEN_INSTANCE`` in the temporary directory and
   a random ``CERTAMEN_SECRET_KEY``;
4. a few unmeasured warm-up learners (``--warmup``), so that the workers have loaded the bank;
5. N learner threads each register an account and sign in first (``POST /api/v1/learners``,
   ``POST /api/v1/signin``: argon2 hashing, not measured), then are released together (or evenly
   over ``--ramp`` seconds):
   ``POST /api/v1/sessions`` (exam ``social-media-frontline``) with the learner's bearer token, then
   ``POST /api/v1/sessions/<id>/answers`` with a random choice until the state is ``completed``,
   then ``GET`` the result. Each learner holds one keep-alive connection (HTTP/1.1 on a plain socket).
   With ``--exams K`` each learner thread sits K exams one after the other, each as a new account
   (all registered before the gate), so the stretch with all N learners active lasts longer.

Verdicts. The goal concerns N *concurrent* learners, so when all N were active for at least 5 s the
goal lines judge that stretch (``answers/s (all learners active)`` and the answer latency "while all
learners active"); otherwise they judge the whole run, ramp-up and ramp-down included. Each goal
line says which.

Load models. By default every learner answers as soon as it has the next item (closed loop, no
think time): this measures capacity, and by Little's law the mean latency is then about
N / throughput, whatever the server does. With ``--rate R`` each learner answers at exponentially
distributed intervals with mean N / R seconds, counted from its previous answer (it "reads" the item
for the rest of the interval once the item has arrived; if the item arrives after the answer was due,
it answers at once and does not catch up), so that N learners offer R answers/s in total whatever the
latency, as long as responses come back within the intervals; latency is then measured at that offered
load. Until 2026-11-30 the reading time followed the response, so N learners offered
N / (N / R + mean latency), a few % under R. (When the server has closed an idle keep-alive
connection, the client reconnects and resends once, which is safe because answers are idempotent per
seq. Those retries are counted, not errors, and their latency runs from the first attempt.)

Every request has a timeout (``--timeout``), the whole run a time cap (``--max-seconds``); a learner
stops at its first error. An error is a non-2xx status or an exception (timeout, refused, reset).
The server's log (granian's messages and Python tracebacks) and the non-2xx responses are kept and
summarised in the report (``--keep-logs DIR`` keeps the logs). The server's access log also records
the time each request spent in the app (granian's ``dt_ms``: from the moment a worker thread took it
up to the response), so that queueing can be told from handling; on PostgreSQL,
pg_stat_activity is sampled twice a second to show what the backends wait on.

The load generator runs on the same machine as the server and the database and shares its cores:
its own CPU use is reported next to the server's and the database's.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import http.client
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "helpers"))
from pg_cluster import PostgresCluster, free_port  # noqa: E402  (shared with the test suite)

EXAM_ID = "social-media-frontline"
GOALS = {"learners": 200, "answers_per_s_min": 500.0, "p99_ms_max": 50.0, "errors_max": 0}
MAX_ITEMS_PER_EXAM = 200  # the exam stops at 40; anything beyond this is a runaway learner
CLK_TCK = os.sysconf("SC_CLK_TCK")
# granian's access-log line: [time] address - "METHOD path protocol" status milliseconds-in-the-app
ACCESS_LINE = re.compile(r'^\[([^\]]+)\] \S+ - "(GET|POST|PUT|DELETE) ([^ ?"]+)[^"]*" (\d{3}) ([\d.]+)$', re.M)


class Interrupted(Exception):
    """SIGTERM/SIGINT: unwind so that the server and the cluster are stopped."""


# ---------------------------------------------------------------- process helpers


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGTERM the server if this load generator dies (even by SIGKILL)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            out += [int(p) for p in Path(path).read_text().split()]
        except OSError:
            pass
    return out


def tree_pids(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += _children(pid)
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes (children already reaped are not counted)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def machine_busy_seconds() -> float:
    """All CPUs' non-idle time since boot, from /proc/stat (everyone's work, not only ours)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


def busy_cores_between(trace: list[tuple[float, float]], start: float, end: float) -> float | None:
    """Cores the machine kept busy on average from `start` to `end`, from (time, machine_busy_seconds)
    samples: between the first sample at or after `start` and the last at or before `end`."""
    inside = [(t, busy) for t, busy in trace if start <= t <= end]
    if len(inside) < 2 or inside[-1][0] - inside[0][0] < 1.0:
        return None
    return round((inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]), 2)


# ---------------------------------------------------------------- PostgreSQL


def start_cluster(durable: bool) -> tuple[PostgresCluster, str]:
    """A throw-away cluster (tests/helpers/pg_cluster.py, as the test suite makes one) and the URL of
    its empty `certamen` database. RuntimeError if it cannot be had."""
    try:
        import psycopg
    except ImportError:
        raise RuntimeError("psycopg is not installed (pip install -e '.[postgres]')") from None
    cluster = PostgresCluster(durable=durable, max_connections=300, prefix="certamen-load-pg-")
    try:
        cluster.start()
        return cluster, cluster.create_database("certamen")
    except psycopg.Error as exc:
        cluster.stop()
        raise RuntimeError(f"creating the database: {exc}") from None
    except BaseException:
        cluster.stop()
        raise


def sample_waits(cluster: PostgresCluster, stop: threading.Event, out: dict, every: float = 0.5) -> None:
    """What the application's backends are doing, sampled from pg_stat_activity (for diagnosis)."""
    import psycopg

    try:
        with psycopg.connect(cluster.dsn("certamen"), autocommit=True, connect_timeout=5) as conn:
            while not stop.wait(every):
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type, 'CPU/none'), coalesce(wait_event, '-'), "
                    "coalesce(state, '?'), count(*) FROM pg_stat_activity "
                    "WHERE datname = 'certamen' AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                    "GROUP BY 1, 2, 3").fetchall()
                out["samples"] = out.get("samples", 0) + 1
                for wtype, wevent, state, count in rows:
                    key = f"{state}: {wtype}/{wevent}"
                    out[key] = out.get(key, 0) + count
    except Exception as exc:  # diagnosis only; never fails the run
        out["error"] = f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------- the application server


class AppServer:
    def __init__(self, workdir: Path, database_url: str, port: int, workers: int | None):
        self.workdir = workdir
        self.port = port
        self.workers = workers
        self.env = dict(os.environ)
        self.env.update({
            "DATABASE_URL": database_url,
            "CERTAMEN_KEY_DIR": str(workdir / "keys"),
            "CERTAMEN_INSTANCE": str(workdir / "instance"),
            "CERTAMEN_SECRET_KEY": secrets.token_hex(32),
            "CERTAMEN_PUBLIC_URL": f"http://127.0.0.1:{port}",
            # Every simulated learner comes from 127.0.0.1 and answers without pause: per-address and
            # per-learner limits would throttle the load generator, not measure the server.
            "CERTAMEN_RATELIMIT_REGISTER": "100000 per minute",
            "CERTAMEN_RATELIMIT_SIGNIN": "100000 per minute",
            "CERTAMEN_RATELIMIT_ANSWERS": "100000 per minute",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        })
        self.stdout_path = workdir / "server.stdout.log"  # granian's messages and access log
        self.stderr_path = workdir / "server.stderr.log"  # Python tracebacks
        self.proc: subprocess.Popen | None = None
        self.header = ""

    def init(self) -> str:
        done = subprocess.run([sys.executable, "-m", "cli.main", "init"], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"`certamen init` failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return done.stdout.strip()

    def start(self, ready_timeout: float = 90.0) -> None:
        command = [sys.executable, "-m", "cli.main", "serve", "--production", "--host", "127.0.0.1",
                   "--port", str(self.port)]
        if self.workers:
            command += ["--workers", str(self.workers)]
        self.proc = subprocess.Popen(command, cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=open(self.stdout_path, "wb"), stderr=open(self.stderr_path, "wb"),
                                     start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}: "
                                   + " | ".join(self.log_lines()[-10:]))
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/exams")
                response = conn.getresponse()
                body = response.read()
                conn.close()
                if response.status == 200:
                    exams = [e["id"] for e in json.loads(body)["exams"]]
                    if EXAM_ID not in exams:
                        raise RuntimeError(f"exam {EXAM_ID!r} is not served (exams: {exams})")
                    break
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.25)
        else:
            raise RuntimeError(f"the server did not answer within {ready_timeout:.0f} s")
        time.sleep(1.0)  # let every worker finish booting, not only the first to answer
        try:
            self.header = self.stdout_path.read_text(errors="replace").splitlines()[0]
        except (OSError, IndexError):
            self.header = ""

    def pids(self) -> list[int]:
        return tree_pids(self.proc.pid) if self.proc and self.proc.poll() is None else []

    def log_lines(self) -> list[str]:
        """What the server said besides its access log: granian's messages and Python tracebacks."""
        lines = []
        for path in (self.stdout_path, self.stderr_path):
            try:
                lines += [ln for ln in path.read_text(errors="replace").splitlines() if not ACCESS_LINE.match(ln)]
            except OSError:
                pass
        return lines

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # granian: graceful stop of all workers
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this script created for the server
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None


# ---------------------------------------------------------------- the learners


@dataclass
class Sample:
    kind: str  # start | answer | result
    t_end: float  # perf_counter at completion
    latency: float  # seconds
    status: int  # HTTP status, 0 for an exception
    final: bool = False  # the answer that completed the exam (scores it, may issue a certificate)


@dataclass
class Learner:
    index: int
    samples: list[Sample] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    stale_retries: int = 0
    duplicates: int = 0
    answered: int = 0
    exams_completed: int = 0
    decisions: list[str] = field(default_factory=list)
    completed: bool = False  # every exam it was to sit
    started_at: float | None = None
    finished_at: float | None = None


class ConnectionLost(Exception):
    """The server closed the connection before a whole response arrived."""


class Client:
    """One keep-alive connection per learner, as a browser or an integration would hold.

    HTTP/1.1 is spoken over a plain socket: http.client cost ~0.27 ms of CPU per request here (header
    parsing through the email package), this ~0.13 ms, and the load generator shares the server's cores.
    """

    def __init__(self, port: int, timeout: float):
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.used = False
        self.auth: dict[str, str] = {}

    def request(self, learner: Learner, method: str, path: str, body: dict | None, kind: str):
        headers = {"Host": f"127.0.0.1:{self.port}", "Accept": "application/json", **self.auth}
        payload = b""
        if body is not None:
            payload = json.dumps(body).encode()
            headers.update({"Content-Type": "application/json", "Content-Length": str(len(payload))})
        message = (f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                   + "\r\n").encode() + payload
        t_first = time.perf_counter()  # a retried request counts from its first attempt
        for attempt in (0, 1):
            if self.sock is None:
                try:
                    self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
                except OSError as exc:
                    return self._failure(learner, kind, t_first, path, exc)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.buffer, self.used = b"", False
            reused = self.used
            try:
                self.sock.sendall(message)
                status, will_close, data = self._response(method)
            except (ConnectionLost, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if reused and attempt == 0:
                    # The server closed an idle keep-alive connection; answers are idempotent per
                    # seq, so a client retries once on a fresh connection. Counted, not an error.
                    learner.stale_retries += 1
                    continue
                return self._failure(learner, kind, t_first, path, exc)
            except (OSError, ValueError) as exc:
                self.close()
                return self._failure(learner, kind, t_first, path, exc)
            t1 = time.perf_counter()
            self.used = True
            if will_close:
                self.close()
            sample = Sample(kind, t1, t1 - t_first, status)
            learner.samples.append(sample)
            if not 200 <= status < 300:
                learner.errors.append({"kind": kind, "method": method, "path": path, "status": status,
                                       "body": data[:300].decode(errors="replace"), "at": t1})
                return None, sample
            try:
                return json.loads(data), sample
            except ValueError:
                learner.errors.append({"kind": kind, "method": method, "path": path, "status": status,
                                       "body": "not JSON: " + data[:200].decode(errors="replace"), "at": t1})
                return None, sample
        raise AssertionError("unreachable")

    def _receive(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionLost("the server closed the connection")
        self.buffer += chunk

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._receive()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            self._receive()
        line, self.buffer = self.buffer[:end], self.buffer[end + 2:]
        return line

    def _response(self, method: str) -> tuple[int, bool, bytes]:
        """Status, whether the server will close the connection, and the body (Content-Length or chunked)."""
        version, status, *_ = self._line().split(b" ", 2)
        headers = {}
        while line := self._line():
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        will_close = headers.get(b"connection") == b"close" or version == b"HTTP/1.0"
        if method == "HEAD" or int(status) in (204, 304):
            return int(status), will_close, b""
        if b"content-length" in headers:
            return int(status), will_close, self._take(int(headers[b"content-length"]))
        if headers.get(b"transfer-encoding") == b"chunked":
            parts = []
            while size := int(self._line().split(b";")[0], 16):
                parts.append(self._take(size))
                self._line()
            while self._line():  # trailers
                pass
            return int(status), will_close, b"".join(parts)
        raise ValueError("a response without Content-Length or chunked encoding")

    def _failure(self, learner: Learner, kind: str, t0: float, path: str, exc: BaseException):
        t1 = time.perf_counter()
        sample = Sample(kind, t1, t1 - t0, 0)
        learner.samples.append(sample)
        learner.errors.append({"kind": kind, "path": path, "status": 0,
                               "body": f"{type(exc).__name__}: {exc}", "at": t1})
        return None, sample

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


def run_learner(learner: Learner, port: int, timeout: float, think_mean: float, run_id: str,
                start_gate: threading.Barrier, stop: threading.Event, seed: int, delay: float = 0.0,
                exams: int = 1) -> None:
    """One simulated learner seat: sits `exams` exams one after the other, each as a new learner (an
    account of its own, registered before the gate), so that the seat stays busy for longer."""
    rng = random.Random(seed * 1_000_003 + learner.index)
    client = Client(port, timeout)
    pace = Pace(rng, think_mean) if think_mean > 0 else None
    try:
        # Setup, before the gate: 200 argon2 hashes take many CPU-seconds, hence its own long timeout.
        setup = Client(port, timeout=max(timeout, 300.0))
        tokens = []
        for k in range(exams):
            # a random passphrase: the password rules refuse one built from the name or e-mail
            account = {"name": f"Load Learner {learner.index}", "password": secrets.token_urlsafe(18),
                       "email": f"load-{run_id}-{learner.index}{f'-{k}' if k else ''}@example.test"}
            registered, _ = setup.request(learner, "POST", "/api/v1/learners", account, "register")
            if registered is None:
                break
            signed_in, _ = setup.request(learner, "POST", "/api/v1/signin",
                                         {"email": account["email"], "password": account["password"]}, "signin")
            if signed_in is None:
                break
            tokens.append(signed_in["token"])
        setup.close()
        start_gate.wait()
        if len(tokens) < exams:
            return
        if delay > 0 and stop.wait(delay):
            return
        learner.started_at = time.perf_counter()
        for token in tokens:
            client.auth = {"Authorization": f"Bearer {token}"}
            if not sit_exam(learner, client, rng, pace, stop):
                return
        learner.completed = True
    except Exception as exc:  # a bug in this script must not hang the run
        learner.errors.append({"kind": "client", "path": "(client)", "status": 0,
                               "body": f"{type(exc).__name__}: {exc}", "at": time.perf_counter()})
    finally:
        learner.finished_at = time.perf_counter()
        client.close()


class Pace:
    """When a paced learner sends its next answer: `mean` seconds on average (exponentially distributed)
    after its previous answer was sent or due, never before the item is there and never to catch up."""

    def __init__(self, rng: random.Random, mean: float):
        self.rng, self.mean = rng, mean
        self.last: float | None = None  # when the previous answer was sent, or due if later

    def wait_turn(self, stop: threading.Event) -> bool:
        """Wait until the next answer is due; False if the run was stopped meanwhile."""
        now = time.perf_counter()
        due = (now if self.last is None else self.last) + self.rng.expovariate(1.0 / self.mean)
        self.last = max(due, now)
        return due <= now or not stop.wait(due - now)


def sit_exam(learner: Learner, client: Client, rng: random.Random, pace: Pace | None,
             stop: threading.Event) -> bool:
    """Start, answer until the end, read the result; False if the seat should stop (error or time cap)."""
    view, _ = client.request(learner, "POST", "/api/v1/sessions", {"exam_id": EXAM_ID}, "start")
    answered = 0
    while view is not None and not stop.is_set():
        if view.get("state") == "completed":
            result, _ = client.request(learner, "GET", view["result_url"], None, "result")
            if result is None:
                return False
            learner.exams_completed += 1
            learner.decisions.append(result.get("decision"))
            return True
        item = view.get("item")
        if view.get("state") != "in_progress" or not item:
            learner.errors.append({"kind": "answer", "path": "(client)", "status": 0,
                                   "body": f"unexpected session view: state={view.get('state')!r}, item={item!r}",
                                   "at": time.perf_counter()})
            return False
        if answered >= MAX_ITEMS_PER_EXAM:
            learner.errors.append({"kind": "answer", "path": "(client)", "status": 0,
                                   "body": f"no end after {MAX_ITEMS_PER_EXAM} answers", "at": time.perf_counter()})
            return False
        if pace is not None and not pace.wait_turn(stop):
            return False
        choice = rng.randrange(len(item["options"]))
        view, sample = client.request(learner, "POST", f"/api/v1/sessions/{view['session_id']}/answers",
                                      {"seq": item["seq"], "item_id": item["item_id"], "choice": choice},
                                      "answer")
        if view is not None:
            answered += 1
            learner.answered += 1
            learner.duplicates += bool(view.get("duplicate"))
            sample.final = view.get("state") == "completed"
    return False


# ---------------------------------------------------------------- statistics and report


STEADY_SECONDS = 5.0  # a stretch with all learners active at least this long is judged on its own


def latency_stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ms = np.asarray(values) * 1000.0
    return {"n": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p90_ms": round(float(np.percentile(ms, 90)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms.max()), 2), "mean_ms": round(float(ms.mean()), 2)}


def summarise_server_errors(lines: list[str], limit: int = 40) -> dict:
    """The server's log lines: worker failures and Python tracebacks, with the exception lines."""
    interesting = [ln for ln in lines if re.search(r"\[(ERROR|CRITICAL|WARNING)\]|Traceback|Error|Exception|"
                                                  r"SIGKILL|killed", ln)]
    exceptions: dict[str, int] = {}
    for ln in lines:
        m = re.match(r"^([A-Za-z_][\w.]*(?:Error|Exception|Timeout|Conflict|Invalid)[\w]*): ?(.*)$", ln.strip())
        if m:
            key = f"{m.group(1)}: {m.group(2)[:160]}"
            exceptions[key] = exceptions.get(key, 0) + 1
    return {"lines": len(lines), "flagged_lines": len(interesting), "exceptions": exceptions,
            "excerpt": interesting[:limit]}


def summarise_access_log(path: Path, since: float) -> dict:
    """Status codes and in-worker time per endpoint from granian's access log (the server's own view).

    Only lines logged at or after `since` (epoch seconds, whole-second resolution) count, so the
    warm-up learners are left out."""
    counts: dict[str, int] = {}
    times: dict[str, list[float]] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {"status_codes": counts}
    for m in ACCESS_LINE.finditer(text):
        try:
            at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S %z").timestamp()
        except ValueError:
            at = since
        endpoint = re.sub(r"/sessions/[^/]+", "/sessions/<id>", m.group(3))
        if not ("/result" in endpoint or "/answers" in endpoint or endpoint.endswith("/sessions")):
            continue
        if at < int(since):
            continue
        key = f"{m.group(2)} {endpoint}"
        counts[f"{key} {m.group(4)}"] = counts.get(f"{key} {m.group(4)}", 0) + 1
        times.setdefault(key, []).append(float(m.group(5)) / 1e3)
    return {"status_codes": dict(sorted(counts.items())),
            "in_worker_latency": {k: latency_stats(v) for k, v in sorted(times.items())}}


def build_report(args, learners: list[Learner], t_start: float, t_end: float, db_info: dict, server: AppServer,
                 cpu: dict, think_mean: float, capped: bool, access: dict, pg_log: list[str],
                 busy_trace: list[tuple[float, float]]) -> dict:
    samples = [s for lr in learners for s in lr.samples]
    answers = [s for s in samples if s.kind == "answer"]
    ok_answers = [s for s in answers if 200 <= s.status < 300]
    errors = [e for lr in learners for e in lr.errors]
    wall = max(t_end - t_start, 1e-9)
    # Full concurrency: from the last learner's start until the first one stops, all N are active.
    last_start = max((lr.started_at for lr in learners if lr.started_at), default=t_start)
    first_done = min((lr.finished_at for lr in learners if lr.finished_at), default=t_end)
    full_window = first_done - last_start
    in_full = [s for s in ok_answers if last_start <= s.t_end <= first_done]
    full_rate = round(len(in_full) / full_window, 1) if full_window > 0.5 else None
    cpu = {**cpu, "machine_all_active": busy_cores_between(busy_trace, last_start, first_done)}
    exams_done = sum(lr.exams_completed for lr in learners)
    by_kind: dict[str, dict] = {}
    for kind in ("start", "answer", "result"):
        by_kind[kind] = latency_stats([s.latency for s in samples if s.kind == kind and 200 <= s.status < 300])
    non_final = latency_stats([s.latency for s in ok_answers if not s.final])
    final = latency_stats([s.latency for s in ok_answers if s.final])
    error_kinds: dict[str, int] = {}
    for e in errors:
        key = f"{e['kind']} {e.get('method', '')} {re.sub(r'/sessions/[^/]+', '/sessions/<id>', e['path'])} " \
              f"-> {e['status'] or e['body'].split(':')[0]}"
        error_kinds[key] = error_kinds.get(key, 0) + 1
    answer_stats = latency_stats([s.latency for s in ok_answers])
    answers_per_s = len(ok_answers) / wall
    offered = (len(learners) / think_mean) if think_mean > 0 else None
    result = {
        "benchmark": "load",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(args.started_wall)),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "database": db_info,
        "server": {"command": "python -m cli.main serve --production", "banner": server.header},
        "load": {"learners": len(learners), "exam": EXAM_ID,
                 "model": "closed loop, no think time" if think_mean <= 0 else
                          f"answers every exp(mean {think_mean:.3f} s) per learner, offered ~{offered:.0f} answers/s",
                 "ramp_s": args.ramp, "request_timeout_s": args.timeout, "max_seconds": args.max_seconds,
                 "time_capped": capped},
        "wall_s": round(wall, 2),
        "exams_per_learner": args.exams,
        "exams_completed": exams_done,
        "learners_completed": sum(lr.completed for lr in learners),
        "learners_failed": sum(bool(lr.errors) for lr in learners),
        "learners_unfinished": sum(not lr.completed and not lr.errors for lr in learners),
        "answers": len(ok_answers),
        "answers_per_s": round(answers_per_s, 1),
        "answers_per_s_full_concurrency": full_rate,
        "full_concurrency_window_s": round(max(full_window, 0.0), 2),
        "mean_items_per_exam": round(sum(lr.answered for lr in learners if lr.completed)
                                     / sum(lr.exams_completed for lr in learners if lr.completed), 1)
        if any(lr.completed for lr in learners) else None,
        "decisions": {d: sum(lr.decisions.count(d) for lr in learners) for d in
                      sorted({d for lr in learners for d in lr.decisions if d})},
        "latency": {"answer": answer_stats, "answer_all_active": latency_stats([s.latency for s in in_full]),
                    "answer_not_final": non_final, "answer_final": final,
                    "start": by_kind["start"], "result": by_kind["result"]},
        "requests": len(samples),
        "errors": len(errors),
        "error_kinds": error_kinds,
        "error_examples": [{k: v for k, v in e.items() if k != "at"} for e in errors[:10]],
        "stale_connection_retries": sum(lr.stale_retries for lr in learners),
        "duplicate_answers": sum(lr.duplicates for lr in learners),
        "cpu_cores_used": cpu,
        "server_access_log": access,
        "server_error_log": summarise_server_errors(server.log_lines()),
    }
    if pg_log:
        result["postgres_log_tail"] = [ln for ln in pg_log if re.search(r"ERROR|FATAL|PANIC|WARNING", ln)][-20:]
    meets_scale = len(learners) >= GOALS["learners"] and db_info["backend"] == "postgresql"
    # The goal is about N concurrent learners: judged on the stretch when all are active if it lasted
    # STEADY_SECONDS (use --exams), else on the whole run, ramps included (stricter); the report says which.
    steady = full_rate is not None and full_window >= STEADY_SECONDS
    rate, p99 = (full_rate, result["latency"]["answer_all_active"].get("p99_ms", 1e9)) if steady \
        else (answers_per_s, answer_stats.get("p99_ms", 1e9))
    basis = f"all learners active, {full_window:.0f} s" if steady else "whole run"
    result["goals"] = {
        "setup (>= 200 learners on PostgreSQL)": "yes" if meets_scale else "no (not the goal's setup)",
        f"answers/s >= 500 ({basis})": "met" if rate >= GOALS["answers_per_s_min"] else "not met",
        f"answer p99 < 50 ms ({basis})": "met" if p99 < GOALS["p99_ms_max"] else "not met",
        "0 errors": "met" if not errors and not capped else "not met",
    }
    return result


def print_report(r: dict) -> None:
    def row(label: str, value) -> None:
        print(f"  {label:<44} {value}")

    load = r["load"]
    print(f"\nCertamen load test — {load['learners']} learners, exam {load['exam']}, {r['database']['backend']}")
    print(f"  python {r['python']}, {r['cores']} cores, load started {r['date']}")
    print(f"  server: {r['server']['banner'] or r['server']['command']}")
    print(f"  database: {r['database']['detail']}")
    print(f"  load: {load['model']}; ramp-up {load['ramp_s']} s; request timeout {load['request_timeout_s']} s, "
          f"cap {load['max_seconds']} s{' (HIT)' if load['time_capped'] else ''}")
    print("\nThroughput")
    row("wall time", f"{r['wall_s']} s")
    row("learners completed / failed / unfinished",
        f"{r['learners_completed']} / {r['learners_failed']} / {r['learners_unfinished']}")
    row("exams completed", f"{r['exams_completed']} ({r['exams_per_learner']} per learner)")
    row("answers accepted", r["answers"])
    row("answers/s (whole run)", r["answers_per_s"])
    row("answers/s (all learners active)",
        f"{r['answers_per_s_full_concurrency']}  (window of {r['full_concurrency_window_s']} s)")
    row("mean items per completed exam", r["mean_items_per_exam"])
    row("decisions", json.dumps(r["decisions"]))
    print("\nLatency, ms (successful requests)")
    print(f"  {'':<30}{'n':>7}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}{'mean':>9}")
    names = {"answer": "POST answers (all)", "answer_all_active": "  while all learners active",
             "answer_not_final": "  of which not the last",
             "answer_final": "  of which the last (scoring)", "start": "POST sessions", "result": "GET result"}
    for key, label in names.items():
        s = r["latency"][key]
        if s.get("n"):
            print(f"  {label:<30}{s['n']:>7}{s['p50_ms']:>9.1f}{s['p90_ms']:>9.1f}{s['p99_ms']:>9.1f}"
                  f"{s['max_ms']:>9.1f}{s['mean_ms']:>9.1f}")
    inw = (r.get("server_access_log") or {}).get("in_worker_latency") or {}
    for key, s in inw.items():
        if s.get("n"):
            short = "answers" if "/answers" in key else "result" if "/result" in key else "sessions"
            label = f"  {key.split()[0]} {short}, in worker"
            print(f"  {label:<30}{s['n']:>7}{s['p50_ms']:>9.1f}{s['p90_ms']:>9.1f}{s['p99_ms']:>9.1f}"
                  f"{s['max_ms']:>9.1f}{s['mean_ms']:>9.1f}")
    print("  (client-side figures include time queued before a worker thread picks the request up;")
    print("   'in worker' is granian's own request time from its access log: handling, waits for locks")
    print("   and the database, and the GIL shared with the worker's other threads)")
    print("\nErrors (non-2xx or exception)")
    row("errors", r["errors"])
    for key, n in r["error_kinds"].items():
        row(f"  {key}", n)
    for e in r["error_examples"][:3]:
        print(f"    e.g. {e['path']} -> {e['status']}: {e['body'][:160]}")
    codes = (r.get("server_access_log") or {}).get("status_codes") or {}
    row("server access log, status codes", ", ".join(f"{k}: {v}" for k, v in codes.items()))
    row("stale keep-alive retries (not errors)", r["stale_connection_retries"])
    row("duplicate answers", r["duplicate_answers"])
    log = r["server_error_log"]
    row("server log: lines / flagged", f"{log['lines']} / {log['flagged_lines']}")
    for key, n in list(log["exceptions"].items())[:8]:
        print(f"    {n} x {key}")
    if r.get("postgres_log_tail"):
        row("postgres log errors (last)", len(r["postgres_log_tail"]))
        for ln in r["postgres_log_tail"][-3:]:
            print(f"    {ln[:160]}")
    if r.get("postgres_backends"):
        b = r["postgres_backends"]
        print(f"\nPostgreSQL backends, mean count by state and wait event ({b['samples']} samples of pg_stat_activity)")
        for key, v in list(b["mean_backends_by_state_and_wait"].items())[:8]:
            row(f"  {key}", v)
        if b.get("error"):
            row("  sampler error", b["error"])
    c = r["cpu_cores_used"]
    print("\nCPU during the run (cores busy on average; the machine is shared)")
    row("load generator (this process)", c.get("load_generator"))
    row("app server (granian main + workers)", c.get("app_server"))
    if c.get("database") is not None:
        row("PostgreSQL", c.get("database"))
    row("everything else on the machine", c.get("others"))
    row("whole machine (everyone)", f"{c.get('machine')} of {r['cores']}")
    if c.get("machine_all_active") is not None:
        row("whole machine while all learners active", f"{c['machine_all_active']} of {r['cores']}")
    w = r.get("warmup") or {}
    if w.get("learners"):
        print(f"  (before the run: {w['learners']} warm-up learners, not measured: {w['completed']} completed, "
              f"{w['errors']} errors)")
    print("\nGoals (issue: 200 learners on PostgreSQL, >= 500 answers/s, p99 < 50 ms, 0 errors, 2 cores)")
    for key, verdict in r["goals"].items():
        row(key, verdict)
    print()


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, help="concurrent learners (default 200, quick 20)")
    parser.add_argument("--postgres", action="store_true", help="use a throw-away PostgreSQL cluster if one starts")
    parser.add_argument("--pg-fsync-off", action="store_true",
                        help="PostgreSQL without fsync/synchronous_commit (as the tests run it; not durable)")
    parser.add_argument("--workers", type=int, help="granian workers (default: the server's own, one per core)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="offered answers/s in total (each learner paces its answers); 0 = as fast as possible")
    parser.add_argument("--ramp", type=float, default=0.0,
                        help="start the learners evenly over this many seconds (default 0: all at once)")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, s (default 10)")
    parser.add_argument("--max-seconds", type=float, help="cap on the load phase, s (default 600, quick 120)")
    parser.add_argument("--warmup", type=int, help="unmeasured learners run first to warm the workers "
                        "(default 10, quick 5; 0 for a cold start)")
    parser.add_argument("--exams", type=int, default=1,
                        help="exams each learner sits one after the other, each as a new account (default 1); "
                             "more gives a longer stretch with all learners active")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 learners, SQLite")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the server's logs into DIR")
    parser.add_argument("--json", action="store_true", help="print one JSON document only")
    args = parser.parse_args(argv)
    n = args.learners or (20 if args.quick else 200)
    if not 1 <= args.exams <= 20:
        parser.error("--exams must be between 1 and 20")
    if not 1 <= n <= 2000:
        parser.error("--learners must be between 1 and 2000")
    if args.quick and args.postgres:
        parser.error("--quick runs on SQLite; drop --postgres")
    args.max_seconds = args.max_seconds or (120.0 if args.quick else 600.0)
    args.warmup = (5 if args.quick else 10) if args.warmup is None else args.warmup
    if not 0 <= args.warmup <= 100:
        parser.error("--warmup must be between 0 and 100")
    if not 0 < args.timeout <= 120 or not 0 < args.max_seconds <= 3600 or args.rate < 0 \
            or not 0 <= args.ramp < args.max_seconds:
        parser.error("--timeout must be in (0, 120], --max-seconds in (0, 3600], --rate >= 0, "
                     "--ramp in [0, --max-seconds)")
    think_mean = n / args.rate if args.rate > 0 else 0.0
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))

    def interrupted(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)

    previous = {s: signal.signal(s, interrupted) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    workdir = Path(tempfile.mkdtemp(prefix="certamen-load-"))
    cluster: PostgresCluster | None = None
    server: AppServer | None = None
    stop = threading.Event()
    try:
        db_info: dict = {"backend": "sqlite", "detail": ""}
        url = None
        if args.postgres:
            try:
                say("starting a throw-away PostgreSQL cluster ...")
                cluster, url = start_cluster(durable=not args.pg_fsync_off)
                db_info = {"backend": "postgresql",
                           "detail": f"PostgreSQL {cluster.bindir.parent.name} on 127.0.0.1:{cluster.port}, "
                                     f"max_connections=300, "
                                     + ("fsync off (not durable)" if args.pg_fsync_off else "fsync on (defaults)")}
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                say(f"PostgreSQL could not be started ({exc}); falling back to SQLite")
                db_info["detail"] = f"PostgreSQL unavailable: {exc}; "
        if url is None:
            url = f"sqlite:///{workdir / 'certamen.sqlite'}"
            db_info["detail"] += "SQLite file (WAL) in a temporary directory"
        port = free_port()
        server = AppServer(workdir, url, port, args.workers)
        say("certamen init ...")
        server.init()
        say(f"starting the server on 127.0.0.1:{port} ...")
        server.start()
        say(f"  {server.header}")

        run_id = uuid.uuid4().hex[:8]
        warm = [Learner(-1 - i) for i in range(args.warmup)]
        if warm:
            # Cold workers load the bank and fill caches on their first requests; a deployed server
            # would be warm. These learners are not measured (their errors are reported apart).
            say(f"warm-up: {len(warm)} learners, not measured ...")
            wgate = threading.Barrier(len(warm) + 1)
            wthreads = [threading.Thread(target=run_learner, daemon=True,
                                         args=(lr, port, args.timeout, 0.0, run_id, wgate, stop, args.seed))
                        for lr in warm]
            for t in wthreads:
                t.start()
            wgate.wait(timeout=60)
            wdeadline = time.monotonic() + 120
            for t in wthreads:
                t.join(timeout=max(0.1, wdeadline - time.monotonic()))
            if any(t.is_alive() for t in wthreads):
                raise RuntimeError("the warm-up learners did not finish within 120 s")
            time.sleep(1.1)  # the access log has whole seconds: keep warm-up lines out of the run's
        warmup_info = {"learners": len(warm), "completed": sum(lr.completed for lr in warm),
                       "errors": sum(len(lr.errors) for lr in warm),
                       "error_examples": [e["body"][:200] for lr in warm for e in lr.errors][:3]}
        learners = [Learner(i) for i in range(n)]
        gate = threading.Barrier(n + 1)
        threading.stack_size(512 * 1024)
        threads = [threading.Thread(target=run_learner, name=f"learner-{lr.index}", daemon=True,
                                    args=(lr, port, args.timeout, think_mean, run_id, gate, stop, args.seed,
                                          args.ramp * lr.index / n, args.exams))
                   for lr in learners]
        for t in threads:
            t.start()
        say(f"{n} learners taking {EXAM_ID} ...")
        pg_pid = cluster.postmaster_pid() if cluster else None
        server_pids = server.pids()
        pg_pids = tree_pids(pg_pid) if pg_pid else []
        waits: dict = {}
        sampler_stop = threading.Event()
        gate.wait(timeout=600)  # the learners register first (argon2: CPU-heavy, not measured)
        cpu0 = (cpu_seconds([os.getpid()]), cpu_seconds(server_pids), cpu_seconds(pg_pids), machine_busy_seconds())
        if cluster is not None:
            threading.Thread(target=sample_waits, args=(cluster, sampler_stop, waits), daemon=True).start()
        t_start = time.perf_counter()
        wall_start = args.started_wall = time.time()
        deadline = t_start + args.max_seconds
        last_note = t_start
        busy_trace = [(t_start, machine_busy_seconds())]
        while any(t.is_alive() for t in threads) and time.perf_counter() < deadline:
            time.sleep(0.2)
            busy_trace.append((time.perf_counter(), machine_busy_seconds()))
            # processes come and go (granian may restart a worker, PostgreSQL forks per connection)
            server_pids = sorted(set(server_pids) | set(server.pids()))
            if pg_pid:
                pg_pids = sorted(set(pg_pids) | set(tree_pids(pg_pid)))
            if time.perf_counter() - last_note > 10:
                last_note = time.perf_counter()
                done = sum(lr.answered for lr in learners)
                say(f"  {last_note - t_start:5.0f} s: {done} answers, "
                    f"{sum(lr.exams_completed for lr in learners)} exams completed, "
                    f"{sum(bool(lr.errors) for lr in learners)} learners with errors")
        capped = any(t.is_alive() for t in threads)
        stop.set()
        sampler_stop.set()
        t_end = time.perf_counter()
        for t in threads:
            t.join(timeout=args.timeout + 5)
        server_pids = sorted(set(server_pids) | set(server.pids()))
        if pg_pid:
            pg_pids = sorted(set(pg_pids) | set(tree_pids(pg_pid)))
        cpu1 = (cpu_seconds([os.getpid()]), cpu_seconds(server_pids), cpu_seconds(pg_pids), machine_busy_seconds())
        elapsed = max(time.perf_counter() - t_start, 1e-9)
        cpu = {"load_generator": round((cpu1[0] - cpu0[0]) / elapsed, 2),
               "app_server": round((cpu1[1] - cpu0[1]) / elapsed, 2),
               "database": round((cpu1[2] - cpu0[2]) / elapsed, 2) if cluster else None,
               "machine": round((cpu1[3] - cpu0[3]) / elapsed, 2),
               "others": round(((cpu1[3] - cpu0[3]) - sum(b - a for a, b in zip(cpu0[:3], cpu1[:3], strict=True)))
                               / elapsed, 2),
               "note": "PostgreSQL backends that exited during the run are not counted" if cluster else ""}
        time.sleep(0.5)  # let the server flush its access log
        access = summarise_access_log(server.stdout_path, since=wall_start)
        pg_log = cluster.log_tail(200) if cluster else []
        report = build_report(args, learners, t_start, t_end, db_info, server, cpu, think_mean, capped, access,
                              pg_log, busy_trace)
        report["warmup"] = warmup_info
        if cluster is not None:
            n_samples = max(waits.pop("samples", 0), 1)
            err = waits.pop("error", None)
            report["postgres_backends"] = {
                "samples": n_samples, "error": err,
                "mean_backends_by_state_and_wait": {k: round(v / n_samples, 2) for k, v in
                                                    sorted(waits.items(), key=lambda kv: -kv[1])}}
        if args.keep_logs:
            dest = Path(args.keep_logs)
            dest.mkdir(parents=True, exist_ok=True)
            for p in (server.stdout_path, server.stderr_path):
                shutil.copy(p, dest / p.name)
            if cluster and cluster.datadir:
                shutil.copy(cluster.datadir / "server.log", dest / "postgres.log")
            report["logs"] = str(dest.resolve())
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print_report(report)
        return 0 if report["errors"] == 0 and not capped else 1
    except Interrupted as exc:
        print(f"load: interrupted ({exc}); stopping the server and the database", file=sys.stderr)
        return 130
    except (RuntimeError, subprocess.TimeoutExpired, threading.BrokenBarrierError) as exc:
        print(f"load: {exc}", file=sys.stderr)
        if server is not None:
            for ln in server.log_lines()[-20:]:
                print(f"  server: {ln}", file=sys.stderr)
        return 2
    finally:
        stop.set()
        for s in previous:
            signal.signal(s, signal.SIG_IGN)  # no second interruption half-way through the clean-up
        try:
            if server is not None:
                server.stop()
        finally:
            if cluster is not None:
                cluster.stop()
            shutil.rmtree(workdir, ignore_errors=True)
            for s, handler in previous.items():
                signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())
