"""The psychometrician's workflow on a real database: calibrate live sittings, publish, roll back,
seed pretest items, calibrate them onto the bank scale and promote them."""
from __future__ import annotations

import uuid

import numpy as np
import pytest
from learners import sign_in
from sqlalchemy import func, select

from calibration.runs import RunError, calibrate, publish, responses_from_database, rollback
from engine import AdaptiveTest
from item_bank.content import ItemSource
from item_bank.loader import active_parameter_set, import_items
from item_bank.runtime import engine_config, pool_for, session_config
from storage import Item, Response, Sitting
from storage.db import make_engine, make_session_factory, transaction


@pytest.fixture
def factory(sqlite_url):
    return make_session_factory(make_engine(sqlite_url))


def simulate_sittings(db, n: int, *, seed: int = 5, pretest: dict[int, tuple[float, float]] | None = None,
                      exam_id: str = "social-media-frontline", form_length: int | None = None,
                      guessing: bool = False) -> np.ndarray:
    """Completed sittings whose answers follow the published a and b (and c with `guessing`). Adaptive by
    default; with `form_length`, random linear forms of that length, as in a pilot.
    `pretest` maps item id -> (a, b): every sitting also answers those items, unscored."""
    from storage import Exam

    rng = np.random.default_rng(seed)
    exam = db.get(Exam, exam_id)
    params = active_parameter_set(db)
    pool = pool_for(db, params.id, exam.areas)
    config = engine_config(pool, session_config(exam) | {"exposure": "randomesque"})
    thetas = rng.normal(size=n)
    for person, theta in enumerate(thetas):
        sitting = Sitting(id=uuid.uuid4().hex, candidate_id=_candidate(db), exam_id=exam_id, exam_version=1,
                              parameter_set_id=params.id, state="completed", seed=person,
                              cat_config=session_config(exam), decision="pass")
        db.add(sitting)
        session = AdaptiveTest(pool.bank, config, seed=person)
        form = iter(rng.choice(len(pool), size=form_length, replace=False)) if form_length else None
        seq = 0
        while (index := (next(form, None) if form is not None else session.next_item())) is not None:
            c = pool.c[index] if guessing else 0.0
            p = c + (1 - c) / (1 + np.exp(-pool.a[index] * (theta - pool.b[index])))
            score = int(rng.random() < p)
            if form is None:
                session.record(index, score)
            seq += 1
            db.add(Response(session_id=sitting.id, seq=seq, item_id=int(pool.item_ids[index]), choice=0,
                            score=score, scored=True))
        for item_id, (a, b) in (pretest or {}).items():
            seq += 1
            score = int(rng.random() < 1 / (1 + np.exp(-a * (theta - b))))
            db.add(Response(session_id=sitting.id, seq=seq, item_id=item_id, choice=0, score=score, scored=False))
    db.flush()
    return thetas


def _candidate(db) -> int:
    from storage import Candidate

    existing = db.execute(select(Candidate.id).limit(1)).scalar()
    if existing:
        return existing
    candidate = Candidate(name="Sim", email="sim@example.com")
    db.add(candidate)
    db.flush()
    return candidate.id


def test_calibrate_publish_and_roll_back(factory):
    with transaction(factory) as db:
        simulate_sittings(db, 1000, form_length=50)  # a pilot: free calibration needs linear forms (~180 per item)
        before = active_parameter_set(db)
        truth = {p.item.external_id: p for p in before.parameters}
        run = calibrate(db, responses_from_database(db, "social-media-frontline"), model="2PL",
                        source="exam:social-media-frontline", actor="test")
        assert run.result["converged"] and run.linking["method"] == "stocking-lord"
        # Recovery: items seen often enough land close to the truth on the bank scale.
        counts = dict(zip(*np.unique(
            db.execute(select(Item.external_id).join(Response, Response.item_id == Item.id)).scalars().all(),
            return_counts=True), strict=True))
        well_seen = [iid for iid in run.parameters if counts.get(iid, 0) >= 150]
        assert len(well_seen) >= 100
        est = np.array([run.parameters[i]["b"] for i in well_seen])
        true = np.array([truth[i].b for i in well_seen])
        assert np.corrcoef(est, true)[0, 1] > 0.9 and np.sqrt(np.mean((est - true) ** 2)) < 0.5

    with transaction(factory) as db:
        new = publish(db, run.id, actor="test")
        assert new.is_active and new.calibration_run_id == run.id and not new.provisional
        assert new.previous_id == before.id
        with pytest.raises(RunError, match="already published"):
            publish(db, run.id, actor="test")
    with transaction(factory) as db:
        back = rollback(db, actor="test")
        assert back.id == before.id and active_parameter_set(db).id == before.id


def test_running_sessions_keep_the_version_they_started_with(client, app, factory):
    sign_in(client, "a@example.com", name="A")
    view = client.post("/api/v1/sessions", json={"exam_id": "social-media-frontline"}).get_json()
    with transaction(factory) as db:
        pinned = db.get(Sitting, view["session_id"]).parameter_set_id
        simulate_sittings(db, 300, seed=9, form_length=40)
        run = calibrate(db, responses_from_database(db), model="2PL", source="db", actor="test")
        publish(db, run.id, actor="test")
    item = view["item"]
    r = client.post(f"/api/v1/sessions/{view['session_id']}/answers",
                    json={"seq": item["seq"], "item_id": item["item_id"], "choice": 0})
    assert r.status_code == 201
    with transaction(factory) as db:
        assert db.get(Sitting, view["session_id"]).parameter_set_id == pinned
        assert active_parameter_set(db).id != pinned


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


def _new_pretest_item(db, external_id="PRI-901") -> Item:
    source = ItemSource(external_id=external_id, area="privacy",
                        scenario="A colleague posts a group photo from the staff party with everyone tagged.",
                        question="What is the safest thing to do?",
                        options=[{"text": t, "rationale": "r"} for t in (
                            "Ask before tagging people", "Tag everyone, it is fun", "Post it to the public page",
                            "Share it in the customer group")],
                        key_index=0, difficulty=0.0, status="operational")
    outcome = import_items(db, [source], actor="test")
    assert outcome["set_to_pretest"] == [external_id]
    return db.execute(select(Item).where(Item.external_id == external_id)).scalar_one()


def test_pretest_items_are_seeded_unscored_and_do_not_change_scoring(client, app, factory):
    with transaction(factory) as db:
        pretest_id = _new_pretest_item(db).id
    seeded = 0
    for n in range(12):
        sign_in(client, f"p{n}@example.com", name="P")
        view = client.post("/api/v1/sessions", json={"exam_id": "social-media-frontline"}).get_json()
        while view["state"] == "in_progress":
            item = view["item"]
            view = client.post(f"/api/v1/sessions/{view['session_id']}/answers",
                               json={"seq": item["seq"], "item_id": item["item_id"], "choice": 1}).get_json()
        with transaction(factory) as db:
            rows = db.execute(select(Response).where(Response.session_id == view["session_id"])).scalars().all()
            unscored = [r for r in rows if not r.scored]
            assert all(r.item_id == pretest_id for r in unscored)
            assert all(r.seq <= 15 for r in unscored), "seeded before the exam could stop"
            seeded += bool(unscored)
    assert 1 <= seeded <= 11  # pretest_rate 0.5 of the sittings


def test_pretest_item_calibrated_onto_the_scale_and_promoted(factory):
    with transaction(factory) as db:
        item = _new_pretest_item(db)
        simulate_sittings(db, 300, seed=11, pretest={item.id: (1.4, 0.8)}, guessing=True)
        run = calibrate(db, responses_from_database(db), model="3PL", source="db", actor="test", pretest=True)
        assert run.linking["method"] == "fixed-parameter"
        estimate = run.parameters["PRI-901"]
        assert abs(estimate["b"] - 0.8) < 0.35 and 0.8 < estimate["a"] < 2.2
        assert run.proposals == ["PRI-901"]
        new = publish(db, run.id, actor="test", promote=True)
        assert item.id in {p.item_id for p in new.parameters}
        assert db.get(Item, item.id).status == "operational"
        # Operational items were held fixed: their published values are unchanged.
        before = {p.item_id: (p.a, p.b) for p in db.get(type(new), new.previous_id).parameters}
        after = {p.item_id: (p.a, p.b) for p in new.parameters if p.item_id != item.id}
        assert all(np.allclose(after[k], before[k]) for k in before)


def test_errors(factory):
    with transaction(factory) as db:
        with pytest.raises(RunError, match="no completed sittings"):
            responses_from_database(db)
        with pytest.raises(RunError, match="no calibration run"):
            publish(db, 999, actor="test")
        assert db.execute(select(func.count()).select_from(Response)).scalar() == 0


def test_psychometrician_routes(client, app, factory, role_token):
    with transaction(factory) as db:
        simulate_sittings(db, 300, seed=3, form_length=40)
    auth = {"Authorization": f"Bearer {role_token('psychometrician')}"}
    assert client.post("/api/v1/psychometrics/runs", json={"model": "2PL"}).status_code == 401
    r = client.post("/api/v1/psychometrics/runs", json={"model": "2PL", "exam_id": "social-media-frontline"},
                    headers=auth)
    assert r.status_code == 201, r.get_json()
    run = r.get_json()
    page = client.get(run["report_url"], headers=auth)
    assert page.status_code == 200 and b"calib-report" in page.data and b"data:image/png" in page.data
    pdf = client.get(run["report_pdf_url"], headers=auth)
    assert pdf.data.startswith(b"%PDF")
    published = client.post(f"/api/v1/psychometrics/runs/{run['id']}/publish", json={}, headers=auth)
    assert published.status_code == 200
    again = client.post(f"/api/v1/psychometrics/runs/{run['id']}/publish", json={}, headers=auth)
    assert again.status_code == 409
    back = client.post("/api/v1/psychometrics/rollback", headers=auth)
    assert back.status_code == 200 and back.get_json()["parameter_set_id"] != published.get_json()["parameter_set_id"]
    assert client.get("/api/v1/psychometrics/runs/999", headers=auth).status_code == 404
