"""The `certamen` command as a user runs it: a real process, a real database file."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CERTAMEN = [sys.executable, "-m", "cli.main"]


def run(args, url, check=True):
    env = {**os.environ, "DATABASE_URL": url}
    proc = subprocess.run(CERTAMEN + args, capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def initialised(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'c.sqlite'}"
    run(["init"], url)
    return url


def test_init_is_idempotent(initialised):
    out = run(["init"], initialised).stdout
    assert "0 added" in out and "unchanged" in out


def test_exam_list_json(initialised):
    exams = json.loads(run(["exam", "list", "--json"], initialised).stdout)
    assert {e["id"] for e in exams} >= {"social-media-frontline", "social-media-recert", "social-media-manager"}


def test_simulate_json_reports_the_promised_fields(initialised):
    report = json.loads(run(["simulate", "--exam", "social-media-frontline", "--n", "200", "--seed", "1", "--json"],
                            initialised).stdout)
    for field in ("mean_length", "rmse", "bias", "classification_accuracy", "max_exposure", "blueprint_violations"):
        assert field in report
    assert report["n"] == 200 and report["blueprint_violations"] == 0
    assert 15 <= report["mean_length"] <= 40
    assert report["classification_accuracy"] > 0.8 and report["rmse"] < 0.6


def test_simulate_unknown_exam_is_a_clear_error(initialised):
    proc = run(["simulate", "--exam", "nope", "--n", "5"], initialised, check=False)
    assert proc.returncode == 1 and "no exam 'nope'" in proc.stderr and "Traceback" not in proc.stderr


def test_bank_validate_reports_problems_with_lines(tmp_path, initialised):
    import shutil

    from item_bank.content import CONTENT_DIR

    content = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, content)
    target = next((content / "items").glob("*.yaml"))
    text = target.read_text().replace("key: A", "key: Z", 1)
    target.write_text(text)
    proc = run(["bank", "validate", "--content", str(content)], initialised, check=False)
    assert proc.returncode == 1 and f"{target.name}:" in proc.stderr and "'key' must be one of" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert run(["bank", "validate"], initialised).stdout.startswith("ok:")


def test_audit_verify_and_token(initialised):
    assert "intact" in run(["audit", "verify"], initialised).stdout
    run(["org", "create", "acme", "--name", "Acme Ltd"], initialised)
    token = run(["token", "create", "--role", "hr", "--org", "acme"], initialised).stdout.strip()
    assert token.startswith("ctm_") and len(token) > 30


def test_learner_sign_in_link_and_attempt_grant(initialised):
    from item_bank import accounts
    from storage import ApiToken, AttemptGrant
    from storage.db import make_engine, make_session_factory, transaction

    engine = make_engine(initialised)
    try:
        with transaction(make_session_factory(engine)) as db:
            accounts.register(db, name="Cli Learner", email="cli@example.com", password="a long passphrase")
        link = run(["learner", "link", "CLI@example.com"], initialised).stdout.strip()
        assert link.startswith("http://127.0.0.1:8000/signin/link#lnk_")  # the secret: only in the fragment
        with transaction(make_session_factory(engine)) as db:
            assert accounts.redeem_signin_link(db, link.split("#", 1)[1]).email == "cli@example.com"
            assert db.query(ApiToken).filter_by(role="signin_link").one().revoked  # used up
        proc = run(["learner", "link", "nobody@example.com"], initialised, check=False)
        assert proc.returncode == 1 and "no learner account" in proc.stderr and "Traceback" not in proc.stderr

        out = run(["learner", "grant-attempt", "cli@example.com", "--exam", "social-media-frontline",
                   "--reason", "retrained"], initialised).stdout
        assert "may sit social-media-frontline again" in out
        with transaction(make_session_factory(engine)) as db:
            grant = db.query(AttemptGrant).one()
            assert (grant.exam_id, grant.reason, grant.granted_by) == ("social-media-frontline", "retrained", "cli")
        proc = run(["learner", "grant-attempt", "cli@example.com", "--exam", "nope", "--reason", "x"], initialised,
                   check=False)
        assert proc.returncode == 1 and "no exam 'nope'" in proc.stderr
    finally:
        engine.dispose()


def test_export_import_round_trip_and_bad_package(tmp_path, initialised):
    package = tmp_path / "bank.zip"
    assert "exported" in run(["bank", "export", "--format", "qti", "--out", str(package)], initialised).stdout
    out = run(["bank", "import", str(package)], initialised).stdout
    assert "0 added, 0 revised" in out and "unchanged" in out
    broken = tmp_path / "broken.zip"
    broken.write_bytes(package.read_bytes()[: package.stat().st_size // 2])
    proc = run(["bank", "import", str(broken)], initialised, check=False)
    assert proc.returncode == 1 and "broken.zip" in proc.stderr and "Traceback" not in proc.stderr


def test_import_of_a_new_uncalibrated_item_makes_it_pretest(tmp_path, initialised):
    import json as _json

    exported = tmp_path / "bank.json"
    run(["bank", "export", "--format", "json", "--out", str(exported)], initialised)
    document = _json.loads(exported.read_text())
    new = dict(document["items"][0], id=document["items"][0]["id"][:3] + "-901", enemies=[])
    new["scenario"] = "A brand-new scenario written after the pilot, about a colleague's post."
    single = tmp_path / "new.json"
    single.write_text(_json.dumps({**document, "items": [new]}))
    out = run(["bank", "import", str(single)], initialised).stdout
    assert "1 added" in out and f"set to pretest: {new['id']}" in out
    listed = _json.loads(run(["bank", "list", "--status", "pretest", "--json"], initialised).stdout)
    assert [i["id"] for i in listed] == [new["id"]]


@pytest.mark.parametrize("exam", ["social-media-frontline", "social-media-recert", "social-media-manager"])
def test_every_stored_exam_meets_its_exposure_and_blueprint_rules(initialised, exam):
    """Exam security: in 300 simulated sittings no item reaches 30% of examinees, blueprint always met."""
    report = json.loads(run(["simulate", "--exam", exam, "--n", "300", "--seed", "7", "--json"], initialised).stdout)
    assert report["max_exposure"] <= 0.30, report["most_exposed"][:3]
    assert report["blueprint_violations"] == 0 and report["enemy_violations"] == 0
    assert report["provisional_parameters"] is True
