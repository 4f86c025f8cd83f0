"""`certamen calibrate` and `certamen calibration`: estimate item parameters, then publish or roll them back."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from sqlalchemy import select

from cli.common import CommandError, add_json_option, database_url, emit, session_factory
from storage.db import make_engine, make_session_factory, transaction


def cmd_calibrate(args: argparse.Namespace) -> None:
    from sqlalchemy import inspect

    from calibration import fit, read_responses
    from calibration.runs import calibrate, responses_from_database

    if bool(args.responses) == bool(args.exam):
        raise CommandError("give either --responses FILE or --exam ID")
    model = "GRM" if args.model == "graded" else args.model
    engine = make_engine(database_url())
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
        head = (f"{r.get('model', args.model)}: log-likelihood {r['log_likelihood']:.3f}, "
                f"{r['iterations']} iterations, "
                f"{'converged' if r['converged'] else 'NOT converged'}"
                + (f"; stored as calibration run {r['run_id']}" if r["run_id"]
                   else f"; not stored ({r.get('not_stored')})"))
        rows = [f"  {i['id']:<12} a={i['a']:.3f} (se {i.get('se_a') or float('nan'):.3f})  "
                f"b={i['b'] if isinstance(i['b'], list) else round(i['b'], 3)}"
                + (f"  c={i['c']:.3f}" if "c" in i else "")
                for i in r["items"]]
        warnings = [f"  warning: {w['message'] if isinstance(w, dict) else w}" for w in r.get("warnings", [])]
        return "\n".join([head, *rows, *warnings])

    emit(args, payload, text)


def cmd_calibration_list(args: argparse.Namespace) -> None:
    from storage import CalibrationRun

    with transaction(session_factory()) as db:
        runs = [{"id": r.id, "created_at": r.created_at, "source": r.source, "model": r.model,
                 "status": r.status, "persons": r.n_persons, "converged": r.result.get("converged"),
                 "parameter_set": r.parameter_set_id, "proposals": r.proposals}
                for r in db.execute(select(CalibrationRun).order_by(CalibrationRun.id)).scalars()]
        emit(args, runs, lambda rs: "\n".join(
            f"run {r['id']:>3}  {r['status']:<9} {r['model']:<4} {r['persons']:>7} persons  {r['source']}"
            for r in rs) or "no calibration runs")


def cmd_calibration_publish(args: argparse.Namespace) -> None:
    from calibration.runs import publish

    with transaction(session_factory()) as db:
        new = publish(db, args.run, actor=f"cli:{args.by}", promote=args.promote)
        print(f"parameter set {new.id} is now active ({new.label})")


def cmd_calibration_rollback(args: argparse.Namespace) -> None:
    from calibration.runs import rollback

    with transaction(session_factory()) as db:
        back = rollback(db, actor=f"cli:{args.by}")
        print(f"rolled back: parameter set {back.id} is active again ({back.label})")


def register(sub: argparse._SubParsersAction) -> None:
    cal = sub.add_parser("calibrate", help="estimate item parameters from responses (a file or the database)")
    cal.add_argument("--responses", help="wide CSV (header = item ids) or long CSV (person,item,score), or Parquet")
    cal.add_argument("--exam", help="use the completed sittings of this exam")
    cal.add_argument("--model", default="2PL", choices=["1PL", "Rasch", "2PL", "3PL", "graded"],
                     help="the IRT model to fit (default 2PL; graded fits are not stored)")
    cal.add_argument("--pretest", action="store_true",
                     help="hold published items fixed so pretest items land on the bank scale")
    cal.add_argument("--out", help="also write the JSON result here")
    add_json_option(cal)
    cal.set_defaults(func=cmd_calibrate)

    runs = sub.add_parser("calibration", help="calibration runs").add_subparsers(dest="calibration_command",
                                                                                 required=True)
    rl = runs.add_parser("list", help="stored runs")
    add_json_option(rl)
    rl.set_defaults(func=cmd_calibration_list)
    rp = runs.add_parser("publish", help="make a run's parameters the active version (atomically)")
    rp.add_argument("run", type=int, help="the run's id (see `calibration list`)")
    rp.add_argument("--promote", action="store_true", help="also make its proposed pretest items operational")
    rp.add_argument("--by", required=True, help="who publishes it (recorded)")
    rp.set_defaults(func=cmd_calibration_publish)
    rb = runs.add_parser("rollback", help="re-activate the previous parameter version")
    rb.add_argument("--by", required=True, help="who rolls back (recorded)")
    rb.set_defaults(func=cmd_calibration_rollback)
