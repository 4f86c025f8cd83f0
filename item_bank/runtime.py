"""The in-memory form of an item pool that the engine works on, built once per parameter version."""
from __future__ import annotations

import functools
import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Bank, CATConfig
from storage import Exam, Item, ItemParameter, Sitting


@dataclass(frozen=True)
class RuntimePool:
    """Arrays indexed by pool position; `item_ids` maps a position back to the stored item version."""

    database: str  # which database the pool came from: ids are only unique within one
    parameter_set_id: int
    item_ids: np.ndarray
    external_ids: tuple[str, ...]
    areas: tuple[str, ...]  # area slug of each position
    area_slugs: tuple[str, ...]  # area code -> slug
    area_codes: np.ndarray
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    enemy_groups: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_position", {int(i): n for n, i in enumerate(self.item_ids)})
        # One engine bank per pool, so the engine's per-bank tables are built once per process.
        object.__setattr__(self, "bank", Bank(self.a, self.b, self.c, self.d, area=self.area_codes))

    @functools.cached_property
    def parameters_digest(self) -> str:
        """SHA-256 over what scoring reads from the pool (items, areas, parameters), recorded when a sitting
        starts: a published parameter set never changes, so a different digest later means it was altered."""
        digest = hashlib.sha256()
        for values, dtype in ((self.item_ids, "<i8"), (self.area_codes, "<i8"), (self.a, "<f8"), (self.b, "<f8"),
                              (self.c, "<f8"), (self.d, "<f8")):
            digest.update(np.ascontiguousarray(values, dtype=dtype).tobytes())
        digest.update(json.dumps([self.area_slugs, self.enemy_groups]).encode())
        return digest.hexdigest()

    def position(self, item_id: int) -> int:
        return self._position[item_id]  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.item_ids)

    def engine_blueprint(self, blueprint: dict[str, Any]) -> dict[int, tuple[int, int]]:
        """Translate an exam's area-slug blueprint into the engine's area-code form."""
        code = {slug: n for n, slug in enumerate(self.area_slugs)}
        empty = [slug for slug, rule in blueprint.items() if slug not in code and int(rule.get("min", 0)) > 0]
        if empty:
            raise LookupError(f"the blueprint needs items from {', '.join(sorted(empty))} but the pool has none")
        return {code[slug]: (int(rule.get("min", 0)), int(rule.get("max", 10**6)))
                for slug, rule in blueprint.items() if slug in code}


_cache: dict[tuple[str, int, tuple[str, ...]], RuntimePool] = {}
_lock = threading.Lock()


def database_key(db: Session) -> str:
    """Which database `db` reads (caches are per database: tests run several in one process)."""
    return db.get_bind().engine.url.render_as_string(hide_password=True)


def pool_for(db: Session, parameter_set_id: int, areas: list[str] | tuple[str, ...]) -> RuntimePool:
    """Published parameter sets never change, so a pool can be cached for the life of the process."""
    database = database_key(db)
    key = (database, parameter_set_id, tuple(sorted(areas)))
    pool = _cache.get(key)
    if pool is None:
        pool = _build(db, database, parameter_set_id, key[2])
        with _lock:
            _cache[key] = pool
    return pool


@dataclass(frozen=True)
class ItemContent:
    """The parts of an item version delivery needs. A version's content never changes (a revision is a
    new row), so it is cached per process like the pools; status changes do not touch it."""

    id: int
    external_id: str
    version: int
    scenario: str
    question: str
    option_texts: tuple[str, ...]
    key_index: int
    shuffle: bool  # shown in a per-sitting order (item_bank.delivery.presentation)


_items: dict[tuple[str, int], ItemContent] = {}
MAX_CACHED_ITEMS = 50_000


def item_content(db: Session, item_id: int) -> ItemContent:
    key = (database_key(db), item_id)
    content = _items.get(key)
    if content is None:
        row = db.execute(select(Item.id, Item.external_id, Item.version, Item.scenario, Item.question,
                                Item.options, Item.key_index, Item.shuffle).where(Item.id == item_id)).one()
        content = ItemContent(row.id, row.external_id, row.version, row.scenario, row.question,
                              tuple(o["text"] for o in row.options), row.key_index, row.shuffle)
        _remember(_items, key, content, MAX_CACHED_ITEMS)
    return content


def _remember(cache: dict, key: Any, value: Any, limit: int) -> None:
    """Bounded by starting over when full: entries are cheap to rebuild and usually few."""
    with _lock:
        if len(cache) >= limit:
            cache.clear()
        cache[key] = value


def clear_cache() -> None:
    with _lock:
        _cache.clear()
        _items.clear()
        _sitting_configs.clear()
        _snapshots.clear()
        _shared_settings.clear()


def _build(db: Session, database: str, parameter_set_id: int, areas: tuple[str, ...]) -> RuntimePool:
    rows = db.execute(
        select(Item.id, Item.external_id, Item.area, Item.enemies, ItemParameter.a, ItemParameter.b,
               ItemParameter.c, ItemParameter.d)
        .join(ItemParameter, ItemParameter.item_id == Item.id)
        .where(ItemParameter.parameter_set_id == parameter_set_id, Item.area.in_(areas))
        .order_by(Item.id)
    ).all()
    if not rows:
        raise LookupError(f"parameter set {parameter_set_id} has no items in areas {', '.join(areas)}")
    area_slugs = tuple(sorted({r.area for r in rows}))
    code = {slug: n for n, slug in enumerate(area_slugs)}
    position = {r.external_id: n for n, r in enumerate(rows)}
    groups: set[tuple[int, ...]] = set()
    for n, r in enumerate(rows):
        for enemy in r.enemies or []:
            if enemy in position:
                groups.add(tuple(sorted((n, position[enemy]))))
    return RuntimePool(
        database=database,
        parameter_set_id=parameter_set_id,
        item_ids=np.array([r.id for r in rows], dtype=np.int64),
        external_ids=tuple(r.external_id for r in rows),
        areas=tuple(r.area for r in rows),
        area_slugs=area_slugs,
        area_codes=np.array([code[r.area] for r in rows], dtype=np.int64),
        a=np.array([r.a for r in rows], dtype=float),
        b=np.array([r.b for r in rows], dtype=float),
        c=np.array([r.c for r in rows], dtype=float),
        d=np.array([r.d for r in rows], dtype=float),
        enemy_groups=tuple(sorted(groups)),
    )


# Exam settings that are not engine parameters (they drive how engine parameters are derived).
EXAM_ONLY_SETTINGS = ("exposure_target",)
# Parts of a session snapshot that delivery uses but the engine does not.
SESSION_ONLY_SETTINGS = ("blueprint", "areas", "pretest_rate", "pretest_max", "pretest_plan")


def session_config(exam: Exam) -> dict[str, Any]:
    """The snapshot a session pins: the exam's adaptive rules plus its scoring standard."""
    rules = {k: v for k, v in exam.cat_config.items() if k not in EXAM_ONLY_SETTINGS}
    return {**rules, "cut_score": exam.cut_score, "blueprint": exam.blueprint, "areas": exam.areas}


def snapshot_digest(snapshot: dict[str, Any]) -> str:
    """SHA-256 of a sitting's settings snapshot (cut score, stopping rules, pretest plan...) as stored."""
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


_snapshots: dict[tuple[str, str], dict[str, Any]] = {}
_shared_settings: dict[str, dict[str, Any]] = {}
MAX_CACHED_SNAPSHOTS = 10_000


def sitting_snapshot(db: Session, sitting_id: str) -> dict[str, Any]:
    """A sitting's settings snapshot (exam_sessions.cat_config), read from the database once per process:
    it is fixed when the sitting starts, and it is ~4.5 kB of JSON that every answer would otherwise
    fetch and decode. Sittings of one exam differ only in their pretest plan, so they share the values
    of everything else here (a cached snapshot costs a dict of references, not a copy)."""
    snapshot = _snapshots.get((database_key(db), sitting_id))
    if snapshot is None:
        stored = db.execute(select(Sitting.cat_config).where(Sitting.id == sitting_id)).scalar_one()
        snapshot = remember_snapshot(db, sitting_id, stored)
    return snapshot


def remember_snapshot(db: Session, sitting_id: str, stored: dict[str, Any]) -> dict[str, Any]:
    """Cache the snapshot a sitting was started with, as sitting_snapshot would read it back."""
    common = {k: v for k, v in stored.items() if k != "pretest_plan"}
    shared = _shared_settings.get(text := json.dumps(common, sort_keys=True))
    if shared is None:
        shared = common
        _remember(_shared_settings, text, shared, MAX_CACHED_SNAPSHOTS)
    snapshot = {**shared, **{k: v for k, v in stored.items() if k == "pretest_plan"}}
    _remember(_snapshots, (database_key(db), sitting_id), snapshot, MAX_CACHED_SNAPSHOTS)
    return snapshot


_configs: dict[str, CATConfig] = {}
_sitting_configs: dict[tuple[str, int, str], CATConfig] = {}
MAX_CACHED_SITTINGS = 50_000


def engine_config(pool: RuntimePool, snapshot: dict[str, Any], *, sitting: str | None = None) -> CATConfig:
    """The engine's config for a session snapshot, cached: many sessions share one snapshot.

    The content key leaves out the sitting's own pretest plan, which the engine never sees, so
    sittings with pretest items share a config instead of each adding one to the cache.
    With `sitting` (the sitting's id) the config is also remembered per sitting: a sitting's snapshot
    never changes after its start, so its later answers skip serialising it for the content key.
    """
    by_sitting = None if sitting is None else (pool.database, pool.parameter_set_id, sitting)
    config = _sitting_configs.get(by_sitting) if by_sitting else None
    if config is not None:
        return config
    engine_part = {k: v for k, v in snapshot.items() if k != "pretest_plan"}
    cache_key = f"{pool.database}:{pool.parameter_set_id}:{json.dumps(engine_part, sort_keys=True)}"
    config = _configs.get(cache_key)
    if config is None:
        settings = {k: v for k, v in snapshot.items() if k not in SESSION_ONLY_SETTINGS}
        settings["blueprint"] = pool.engine_blueprint(snapshot.get("blueprint", {}))
        settings["enemies"] = [list(g) for g in pool.enemy_groups]
        config = _configs[cache_key] = CATConfig.from_dict(settings)
    if by_sitting:
        _remember(_sitting_configs, by_sitting, config, MAX_CACHED_SITTINGS)
    return config
