"""Putting the bank sources into the database: idempotent, versioned, one transaction."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank import audit, exposure
from item_bank.content import BankSource, ContentError, ExamSource, ItemSource
from item_bank.integrity import IntegrityRules
from storage import Exam, Item, ItemParameter, ParameterSet, utcnow

# A provisional parameter source maps the items that lack parameters to (a, b, c) triples.
ProvisionalSource = Callable[[list[ItemSource]], dict[str, tuple[float, float, float]]]


def intended_difficulty_parameters(items: list[ItemSource]) -> dict[str, tuple[float, float, float]]:
    """Stand-in parameters from the authors' intended difficulty: a=1, b=intended, c=0.2 (4 options)."""
    return {item.external_id: (1.0, item.difficulty, 0.2) for item in items}


@dataclass
class LoadReport:
    items_added: int = 0
    items_revised: int = 0
    items_unchanged: int = 0
    exams_added: int = 0
    exams_revised: int = 0
    parameter_set_id: int | None = None
    parameter_set_created: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def upsert_item(db: Session, source: ItemSource, actor: str) -> tuple[Item, str]:
    """Insert a new item or a new version of it; the old version stays for the sessions that used it."""
    current = db.execute(
        select(Item).where(Item.external_id == source.external_id, Item.is_current.is_(True))
    ).scalar_one_or_none()
    digest = source.content_hash()
    if current is not None and current.content_hash == digest:
        if current.enemies != source.enemies:
            current.enemies = list(source.enemies)
        if current.teaches != source.teaches:
            current.teaches = source.teaches
        return current, "unchanged"
    version = 1
    if current is not None:
        current.is_current = False
        version = current.version + 1
    item = Item(
        external_id=source.external_id,
        version=version,
        area=source.area,
        scenario=source.scenario,
        question=source.question,
        options=source.options,
        key_index=source.key_index,
        shuffle=source.shuffle,
        teaches=source.teaches,
        intended_difficulty=source.difficulty,
        status=source.status,
        enemies=list(source.enemies),
        is_current=True,
        content_hash=digest,
        status_changed_by=actor,
        status_changed_at=utcnow(),
    )
    db.add(item)
    db.flush()
    audit.record(db, actor=actor, kind="item.version", subject=source.external_id, data={"version": version})
    return item, ("added" if current is None else "revised")


def stored_items(db: Session, *, include_retired: bool = True) -> list[ItemSource]:
    """The current version of every item, in the form the bank sources and exports use."""
    query = select(Item).where(Item.is_current.is_(True)).order_by(Item.external_id)
    if not include_retired:
        query = query.where(Item.status != "retired")
    return [
        ItemSource(external_id=i.external_id, area=i.area, scenario=i.scenario, question=i.question,
                   options=[dict(o) for o in i.options], key_index=i.key_index,
                   difficulty=i.intended_difficulty if i.intended_difficulty is not None else 0.0,
                   enemies=list(i.enemies or []), status=i.status, source=f"database:{i.external_id}v{i.version}",
                   teaches=i.teaches, shuffle=i.shuffle)
        for i in db.execute(query).scalars()
    ]


def import_items(db: Session, items: list[ItemSource], *, actor: str) -> dict[str, Any]:
    """Add or revise items in one transaction (the caller's); never half an import.

    An imported item that claims to be operational but has no parameters yet becomes 'pretest':
    it must be calibrated onto the bank scale before it can be scored.
    """
    active = active_parameter_set(db)
    calibrated = {p.item_id for p in active.parameters} if active else set()
    outcome = {"added": 0, "revised": 0, "unchanged": 0, "set_to_pretest": []}
    for source in items:
        item, result = upsert_item(db, source, actor)
        outcome[result] += 1
        if item.status == "operational" and item.id not in calibrated:
            item.status = "pretest"
            outcome["set_to_pretest"].append(item.external_id)
    return outcome


def exam_fields(source: ExamSource) -> dict:
    data = source.data
    cert = data.get("certificate", {}) or {}
    try:
        integrity = IntegrityRules.from_dict(data.get("integrity")).as_dict()
    except ValueError as exc:
        raise ContentError([f"{source.source}: {exc}"]) from None
    return dict(
        title=str(data["title"]),
        description=str(data.get("description", "")),
        kind=str(data.get("kind", "full")),
        areas=list(data["areas"]),
        blueprint=dict(data.get("blueprint", {})),
        cut_score=float(data["cut_score"]),
        cat_config=dict(data.get("cat", {})),
        validity_months=int(cert.get("validity_months", 12)),
        recert_window_days=int(cert.get("recert_window_days", 60)),
        grace_days=int(cert.get("grace_days", 30)),
        recert_exam_id=cert.get("recert_exam"),
        cryptosuite=str(cert.get("cryptosuite", "eddsa-rdfc-2022")),
        certificate_info={k: str(cert[k]) for k in ("scheme_name", "scheme_version", "scope", "criteria", "code")
                          if k in cert},
        integrity=integrity,
    )


def upsert_exam(db: Session, source: ExamSource, actor: str) -> str:
    fields = exam_fields(source)
    exam = db.get(Exam, source.id)
    if exam is None:
        db.add(Exam(id=source.id, version=int(source.data.get("version", 1)), **fields))
        audit.record(db, actor=actor, kind="exam.create", subject=source.id)
        return "added"
    if all(getattr(exam, k) == v for k, v in fields.items()):
        return "unchanged"
    for k, v in fields.items():
        setattr(exam, k, v)
    exam.version += 1
    exam.updated_at = utcnow()
    audit.record(db, actor=actor, kind="exam.revise", subject=source.id, data={"version": exam.version})
    return "revised"


def active_parameter_set(db: Session) -> ParameterSet | None:
    return db.execute(select(ParameterSet).where(ParameterSet.is_active.is_(True))).scalar_one_or_none()


def publish_parameter_set(
    db: Session,
    rows: dict[int, dict],
    *,
    label: str,
    source: str,
    provisional: bool,
    actor: str,
    calibration_run_id: int | None = None,
) -> ParameterSet:
    """Make a new parameter version active; running sessions keep the version they pinned."""
    previous = active_parameter_set(db)
    new = ParameterSet(
        label=label,
        source=source,
        provisional=provisional,
        calibration_run_id=calibration_run_id,
        is_active=True,
        previous_id=previous.id if previous else None,
        published_at=utcnow(),
    )
    if previous is not None:
        previous.is_active = False
        db.flush()  # release the single-active slot before claiming it
    db.add(new)
    db.flush()
    for item_id, p in rows.items():
        db.add(ItemParameter(parameter_set_id=new.id, item_id=item_id, **p))
    db.flush()
    audit.record(db, actor=actor, kind="parameters.publish", subject=f"parameter_set:{new.id}",
                 data={"label": label, "items": len(rows), "previous": new.previous_id})
    exposure.ensure_all(db, new.id)
    return new


def store_bank(
    db: Session,
    bank: BankSource,
    *,
    actor: str = "cli:bank-load",
    provisional: ProvisionalSource = intended_difficulty_parameters,
) -> LoadReport:
    """Load items, exams and (when items lack them) provisional parameters. Safe to run again."""
    report = LoadReport()
    current_items: dict[str, Item] = {}
    for source in bank.items:
        item, outcome = upsert_item(db, source, actor)
        current_items[source.external_id] = item
        setattr(report, f"items_{outcome}", getattr(report, f"items_{outcome}") + 1)
    for exam in bank.exams:
        outcome = upsert_exam(db, exam, actor)
        if outcome == "added":
            report.exams_added += 1
        elif outcome == "revised":
            report.exams_revised += 1

    active = active_parameter_set(db)
    existing: dict[int, ItemParameter] = {}
    if active is not None:
        existing = {p.item_id: p for p in active.parameters}
    operational = {ext: it for ext, it in current_items.items() if it.status == "operational"}
    missing = [s for s in bank.items if s.external_id in operational and operational[s.external_id].id not in existing]
    pool_changed = missing or any(
        p.item_id not in {it.id for it in operational.values()} for p in existing.values()
    )
    if active is None or pool_changed:
        fresh = provisional(missing)
        rows: dict[int, dict] = {}
        for ext, item in operational.items():
            if item.id in existing:
                p = existing[item.id]
                rows[item.id] = dict(model=p.model, a=p.a, b=p.b, c=p.c, d=p.d, se_a=p.se_a, se_b=p.se_b, se_c=p.se_c)
            else:
                a, b, c = fresh[ext]
                rows[item.id] = dict(model="3PL", a=a, b=b, c=c, d=1.0)
        active = publish_parameter_set(
            db,
            rows,
            label="Provisional parameters (not field data)",
            source="provisional: " + (provisional.__doc__ or provisional.__name__).strip().splitlines()[0],
            provisional=True,
            actor=actor,
        )
        report.parameter_set_created = True
        report.notes.append(f"{len(missing)} item(s) received provisional parameters")
    report.parameter_set_id = active.id
    exposure.ensure_all(db, active.id)  # exams revised on an unchanged parameter set
    return report
