"""Retired and withdrawn keys, and offline verification that cannot skip status in silence.

Attacks: an insider who copied a key file before `keys rotate` signs new certificates with it; a
verifier holding an outdated DID document or an old status list is shown a certificate revoked
since; `certamen verify revoked.json --did-doc did.json` with no status list said VALID.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from certs_testlib import HOST, STATUS_URL, IssuerEnv
from cryptography.hazmat.primitives import serialization

from certs.keys import KeyStore, SigningKey, TrustStore, utcnow
from certs.signing import JCS, RDFC, sign
from certs.status_check import clear_status_list_cache
from certs.status_list import build_status_list_credential
from certs.verdict import Status
from certs.verify import verify

SUITES = [RDFC, JCS]


@pytest.fixture
def issuer(tmp_path) -> IssuerEnv:
    env = IssuerEnv(KeyStore(tmp_path / "keys", host=HOST))
    env.publish_lists()
    clear_status_list_cache()
    return env


def fresh_did_document_trust(issuer: IssuerEnv) -> TrustStore:
    """What an offline verifier builds from a DID document fetched now."""
    trust = TrustStore()
    trust.add_did_document(json.loads(json.dumps(issuer.keystore.did_document())))
    return trust


def stolen_key(issuer: IssuerEnv, kid: str = "k1") -> SigningKey:
    """A copy of a private key file taken while the key was active."""
    pem = (issuer.keystore.key_dir / f"{kid}.key").read_bytes()
    return SigningKey(kid, issuer.did, serialization.load_pem_private_key(pem, password=None))


def both_verdicts(issuer: IssuerEnv, cred: dict) -> list[Status]:
    return [verify(cred, trusted=trust, status_resolver=issuer.resolver).status
            for trust in (issuer.trust(), fresh_did_document_trust(issuer))]


@pytest.mark.parametrize("suite", SUITES)
def test_a_key_signs_nothing_after_its_retirement(issuer, suite):
    issuer.keystore.active_key()
    copy_of_k1 = stolen_key(issuer)
    before = issuer.issue(suite, n=1)
    issuer.keystore.rotate()
    issuer.publish_lists()
    assert not (issuer.keystore.key_dir / "k1.key").exists(), "the retired private key left the directory"
    assert both_verdicts(issuer, before) == [Status.VALID, Status.VALID]

    unsigned = {k: v for k, v in issuer.issue(suite, n=2).items() if k != "proof"}
    forged = sign(unsigned, copy_of_k1, cryptosuite=suite, created=utcnow() + timedelta(seconds=2))
    assert both_verdicts(issuer, forged) == [Status.SIGNATURE_INVALID] * 2
    # a proof that does not say when it was made could have been made after the retirement
    assert issuer.trust().key(copy_of_k1.verification_method).retired_before(None)


@pytest.mark.parametrize("suite", SUITES)
def test_a_withdrawn_key_is_named_as_such_also_offline(issuer, suite):
    """Withdrawn keys stay in the DID document, marked revoked: a verifier with a fresh copy says
    "withdrawn key", not "unknown key"; a backdated proof made with a stolen copy is withdrawn too."""
    issuer.keystore.active_key()
    copy_of_k1 = stolen_key(issuer)
    old = issuer.issue(suite, n=1)
    backdated = sign({k: v for k, v in old.items() if k != "proof"}, copy_of_k1, cryptosuite=suite,
                     created=utcnow() - timedelta(days=30))
    issuer.keystore.mark_compromised("k1")
    issuer.publish_lists()
    assert not (issuer.keystore.key_dir / "k1.key").exists()
    for cred in (old, backdated):
        assert both_verdicts(issuer, cred) == [Status.COMPROMISED_KEY] * 2
    assert both_verdicts(issuer, issuer.issue(suite, n=3)) == [Status.VALID] * 2


def test_withdrawing_a_retired_key_replaces_the_active_one_too(issuer):
    """So that every status list signed afterwards needs the current DID document."""
    issuer.keystore.active_key()
    issuer.keystore.rotate()                      # k1 retired, k2 active
    issuer.keystore.mark_compromised("k1")        # -> k3 active, k2 retired
    assert [(k.kid, k.status.value) for k in issuer.keystore.keys()] == [
        ("k1", "compromised"), ("k2", "retired"), ("k3", "active")]
    assert sorted(p.name for p in issuer.keystore.key_dir.glob("*.key")) == ["k3.key"]


def test_an_outdated_did_document_cannot_vouch_for_status(issuer):
    cred = issuer.issue(n=1)
    outdated = fresh_did_document_trust(issuer)
    issuer.keystore.mark_compromised("k1")
    issuer.set_bit("revocation", 101)             # lists are now signed by k2
    clear_status_list_cache()
    v = verify(cred, trusted=outdated, status_resolver=issuer.resolver)
    assert v.status is not Status.VALID
    assert any("outdated DID document" in f for f in v.facts), v.facts


def test_a_stale_status_list_is_refused(issuer):
    cred = issuer.issue(n=1)
    now = utcnow()
    stale = build_status_list_credential(list_url=STATUS_URL, issuer=issuer.did, purpose="message",
                                         status_list=issuer.bits("message"),
                                         valid_from=now - timedelta(days=3), valid_until=now - timedelta(days=2))
    lists = {STATUS_URL: sign(stale, issuer.keystore.active_key())}
    v = verify(cred, trusted=issuer.trust(), status_resolver=lists.get)
    assert v.status is Status.STATUS_UNAVAILABLE and any("stale" in f for f in v.facts)


def test_the_app_signs_status_lists_that_expire(app, client):
    status_list = client.get("/status/message").get_json()
    from certs.signing import parse_datetime

    valid_from, valid_until = (parse_datetime(status_list[k]) for k in ("validFrom", "validUntil"))
    assert timedelta(hours=1) <= valid_until - valid_from <= timedelta(days=7)


# ---------------------------------------------------------------- `certamen verify`, offline


def certamen_verify(tmp_path: Path, cred: dict, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(cred))
    env = {k: v for k, v in os.environ.items() if k != "CERTAMEN_KEY_DIR"}
    return subprocess.run([sys.executable, "-m", "cli.main", "verify", str(path), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def write(tmp_path: Path, name: str, doc: dict) -> str:
    (tmp_path / name).write_text(json.dumps(doc))
    return str(tmp_path / name)


def test_offline_verification_does_not_skip_status_in_silence(issuer, tmp_path):
    cred = issuer.issue(n=1)
    issuer.set_bit("revocation", 101)
    did_doc = write(tmp_path, "did.json", issuer.keystore.did_document())

    no_list = certamen_verify(tmp_path, cred, "--did-doc", did_doc)
    assert no_list.returncode == 1, no_list.stdout
    assert "VALID:" not in no_list.stdout and "status not checked" in no_list.stderr

    skipped = certamen_verify(tmp_path, cred, "--did-doc", did_doc, "--skip-status")
    assert skipped.returncode == 0 and "NOT checked" in skipped.stdout

    status_list = write(tmp_path, "status.json", issuer.lists[STATUS_URL])
    checked = certamen_verify(tmp_path, cred, "--did-doc", did_doc, "--status-list", status_list)
    assert checked.returncode == 1 and checked.stdout.startswith("REVOKED")


def test_offline_verification_names_a_withdrawn_key(issuer, tmp_path):
    cred = issuer.issue(n=1)
    issuer.keystore.mark_compromised("k1")
    issuer.publish_lists()
    did_doc = write(tmp_path, "did.json", issuer.keystore.did_document())
    status_list = write(tmp_path, "status.json", issuer.lists[STATUS_URL])
    out = certamen_verify(tmp_path, copy.deepcopy(cred), "--did-doc", did_doc, "--status-list", status_list)
    assert out.returncode == 1 and out.stdout.startswith("COMPROMISED_KEY"), out.stdout


def test_a_did_document_with_an_unreadable_retirement_date_trusts_that_key_not_at_all(issuer):
    """A retired key's `expires` is what stops it verifying later proofs: unreadable, the key is left out
    (its credentials fail) rather than trusted without limit or crashing the verifier."""
    cred = issuer.issue(n=1)
    issuer.keystore.rotate()
    doc = json.loads(json.dumps(issuer.keystore.did_document()))
    for vm in doc["verificationMethod"]:
        if vm["id"].endswith("#k1"):
            vm["expires"] = "not a date"
    trust = TrustStore()
    trust.add_did_document(doc)
    assert trust.key(f"{issuer.did}#k1") is None and trust.key(f"{issuer.did}#k2") is not None
    assert verify(cred, trusted=trust, status_resolver=issuer.resolver).status is Status.SIGNATURE_INVALID
