"""`certamen serve`: the web app, on the development server or on granian's workers."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cli.common import settings


def cmd_serve(args: argparse.Namespace) -> None:
    if args.production:
        # Stateless workers: every request reads the database, so any worker serves any learner.
        # granian parses HTTP and holds keep-alive connections in Rust, outside the workers' GIL; a worker
        # per core, and two threads each: one runs Python while the other waits for the database (more
        # threads only queue for the GIL: measured with bench/load.py: 2 x 2 did as well as 4 x 1, 3 x 1 worse).
        workers = str(args.workers or settings().workers or os.cpu_count() or 1)
        threads = str(settings().threads)
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
    app = create_app(settings=settings())
    print(f"Certamen is serving on http://{args.host}:{args.port}", flush=True)
    from werkzeug.serving import run_simple

    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="serve the web app")
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="the port to listen on (default 8000)")
    serve.add_argument("--production", action="store_true", help="several granian workers instead of the dev server")
    serve.add_argument("--workers", type=int, help="production workers (default $CERTAMEN_WORKERS or one per core)")
    serve.set_defaults(func=cmd_serve)
