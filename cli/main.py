"""The `certamen` command: the parser, built from the command groups, and how failures become exit statuses."""
from __future__ import annotations

import argparse
import sys

from cli import accounts, audit, bank, calibration, certs, database, demo, exams, jobs, mail, organisations, server
from cli.common import CommandError, load_settings
from errors import CertamenError, Kind

# In the order `certamen --help` lists them.
GROUPS = (database, bank, exams, organisations, demo, accounts, audit, calibration, certs, mail, jobs, server)


def exit_status(exc: CertamenError) -> int:
    """1: the command ran and refused or found a problem; 2: it could not run (keys, environment, input)."""
    if isinstance(exc, CommandError) and exc.code is not None:
        return exc.code
    return 2 if exc.kind is Kind.UNAVAILABLE else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="certamen", description="Adaptive certification engine")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        load_settings()
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
