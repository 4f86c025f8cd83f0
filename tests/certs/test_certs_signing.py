"""Data Integrity proofs: round trips for both cryptosuites, tamper detection, and the eddsa-jcs
fast verification path against the rfc8785 package."""
from __future__ import annotations

import copy
import json
import random

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from certs import signing
from certs.keys import SigningKey
from certs.multibase import decode_base58btc

SUITES = [signing.RDFC, signing.JCS]


@pytest.mark.parametrize("suite", SUITES)
def test_round_trip(issuer, suite):
    cred = issuer.issue(suite)
    proof = cred["proof"]
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == suite
    assert proof["proofPurpose"] == "assertionMethod"
    assert proof["verificationMethod"] == f"{issuer.did}#k1"
    assert proof["proofValue"].startswith("z") and len(decode_base58btc(proof["proofValue"])) == 64
    assert ("@context" in proof) == (suite == signing.JCS)
    key = issuer.keystore.active_key()
    assert signing.verify_signature(cred, key.public_key)
    assert not signing.verify_signature(cred, SigningKey.generate().public_key)
    # JSON round trip
    assert signing.verify_signature(json.loads(json.dumps(cred)), key.public_key)


@pytest.mark.parametrize("suite", SUITES)
def test_any_change_breaks_the_signature(issuer, suite):
    cred = issuer.issue(suite)
    pub = issuer.keystore.active_key().public_key
    for path, value in [(("credentialSubject", "name"), "Eve"),
                        (("validUntil",), "2099-01-01T00:00:00Z"),
                        (("proof", "created"), "2020-01-01T00:00:00Z"),
                        (("credentialStatus",), [])]:
        bad = copy.deepcopy(cred)
        target = bad
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
        assert not signing.verify_signature(bad, pub), path


def test_jcs_verifies_whatever_the_member_order(issuer):
    """Stored in a JSONB column (keys reordered) the credential must still verify."""
    cred = issuer.issue(signing.JCS)
    pub = issuer.keystore.active_key().public_key

    def shuffle(v, rng):
        if isinstance(v, dict):
            items = list(v.items())
            rng.shuffle(items)
            return {k: shuffle(x, rng) for k, x in items}
        if isinstance(v, list):
            return [shuffle(x, rng) for x in v]
        return v

    for seed in range(5):
        assert signing.verify_signature(shuffle(cred, random.Random(seed)), pub)


def test_jcs_issued_in_canonical_order(issuer):
    cred = issuer.issue(signing.JCS)
    assert json.dumps(cred, ensure_ascii=False, separators=(",", ":")).encode() == \
        rfc8785.dumps(cred)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6),
                                                                        children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_jcs_candidates_end_with_the_exact_rfc8785_form(value):
    doc = {"@context": ["https://www.w3.org/ns/credentials/v2"], "x": value}
    parts = signing.ProofParts(
        proof={"type": "DataIntegrityProof", "cryptosuite": signing.JCS, "proofValue": "z1",
               "@context": doc["@context"]},
        unsecured=doc, cryptosuite=signing.JCS, verification_method="did:x#k",
        proof_purpose="assertionMethod", created=None, signature=b"")
    candidates = list(parts.verify_data_candidates())
    exact = signing.hash_data(doc, {k: v for k, v in parts.proof.items() if k != "proofValue"},
                              signing.JCS)
    assert candidates[-1] == exact
    assert len(candidates) == len(set(candidates))


def test_sort_keys_jcs_uses_utf16_order():
    d = {"\ue000": 1, "\U0001f600": 2, "a": 3}
    assert list(signing.sort_keys_jcs(d)) == ["a", "\U0001f600", "\ue000"]
    assert json.dumps(signing.sort_keys_jcs(d), ensure_ascii=False,
                      separators=(",", ":")).encode() == rfc8785.dumps(d)


def test_unsupported_suite_and_malformed_proofs():
    key = SigningKey.generate()
    with pytest.raises(signing.UnsupportedCryptosuite):
        signing.sign({"@context": []}, key, cryptosuite="ecdsa-rdfc-2019")
    doc = {"@context": ["https://www.w3.org/ns/credentials/v2"]}
    for proof, exc in [(None, signing.ProofError), ("x", signing.ProofError),
                       ({"type": "Ed25519Signature2020"}, signing.UnsupportedCryptosuite),
                       ({"type": "DataIntegrityProof", "cryptosuite": "bbs-2023"},
                        signing.UnsupportedCryptosuite),
                       ({"type": "DataIntegrityProof", "cryptosuite": signing.RDFC,
                         "verificationMethod": "did:x#k", "proofPurpose": "assertionMethod",
                         "proofValue": "zzz0OIl"}, signing.ProofError),
                       ([], signing.ProofError)]:
        with pytest.raises(exc):
            signing.extract_proof({**doc, "proof": proof} if proof is not None else doc)


def test_parse_datetime():
    p = signing.parse_datetime
    assert p("2026-01-15T10:00:00Z").isoformat() == "2026-01-15T10:00:00+00:00"
    assert p("2026-01-15T10:00:00.5+02:00").utcoffset().total_seconds() == 7200
    assert p("2026-01-15T10:00:00").tzinfo is not None
    for bad in ("2026-02-30T00:00:00Z", "2026-01-15", "2026-01-15T25:00:00Z", " 2026-01-15T10:00:00Z",
                "2026-01-15T10:00:00+15:00", 20260115, None, "٢٠٢٦-01-15T10:00:00Z"):
        assert p(bad) is None, bad
