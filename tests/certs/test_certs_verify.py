"""Our verifier: every verdict status, checked facts, and fuzzing — never a false "valid",
never an exception."""
from __future__ import annotations

import copy
import json
from datetime import UTC, timedelta

import pytest
from certs_testlib import HOST, NOW, REV_URL, STATUS_URL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certs.credential import build_credential
from certs.keys import SigningKey, TrustStore
from certs.signing import JCS, RDFC, sign
from certs.status_check import clear_status_list_cache
from certs.status_list import BitstringStatusList, new_list
from certs.verdict import Status
from certs.verify import verify

SUITES = [RDFC, JCS]


def check(issuer, cred, **kw):
    kw.setdefault("status_resolver", issuer.resolver)
    return verify(cred, trusted=issuer.trust(), **kw)


@pytest.mark.parametrize("suite", SUITES)
def test_valid_with_facts_and_summary(issuer, suite):
    v = check(issuer, issuer.issue(suite))
    assert v.status is Status.VALID and v.valid
    facts = "\n".join(v.facts)
    assert f"Signature valid ({suite}, key {issuer.did}#k1)" in facts
    assert "Valid until " in facts and "Not revoked or suspended" in facts
    s = v.summary
    assert s["learner_name"] == "Ada Łovelace"
    assert s["exam_name"].startswith("Social Media Risk")
    assert s["exam_version"] == "2.1" and s["scheme_name"] == "SMRC"
    assert s["score"] == "712" and s["theta"] == "0.842"
    assert "ada@example.com" not in json.dumps(v.to_dict())
    assert json.loads(json.dumps(v.to_dict()))["status"] == "valid"


def test_the_email_hash_cannot_be_reversed_by_guessing_but_the_issuer_can_confirm_it(issuer):
    """A work address is guessable from a name and an employer: with the salt published next to the
    hash, trying a few guesses would find it. The salt stays with the issuer."""
    from certs.credential import email_matches, identity_hash

    cred = issuer.issue()
    ident = cred["credentialSubject"]["identifier"][0]
    assert ident["type"] == "IdentityObject" and ident["hashed"] is True and "salt" not in ident
    assert ident["identityType"] == "emailAddress" and ident["identityHash"].startswith("sha256$")
    assert "ada@" not in json.dumps(cred)
    guesses = ["ada@example.com", "ada.lovelace@example.com", "alovelace@example.com"]
    # whatever the attacker uses as salt from the public credential, no guess matches
    public_strings = [v for v in json.dumps(cred).split('"') if v]
    assert not any(identity_hash(g, s) == ident["identityHash"] for g in guesses for s in ["", *public_strings])
    salt = issuer.facts().email_salt
    assert email_matches(cred, " ADA@example.com ", salt)
    assert not email_matches(cred, "eve@example.com", salt)
    assert not email_matches(cred, "ada@example.com", "0" * 32)


def test_the_issuers_identity_salt_is_secret_stable_and_per_credential(tmp_path):
    from certs.keys import KeyStore

    ks = KeyStore(tmp_path / "keys", host=HOST)
    a, b = ks.identity_salt("https://x/c/1"), ks.identity_salt("https://x/c/2")
    assert a != b and len(a) == 32
    assert KeyStore(tmp_path / "keys", host=HOST).identity_salt("https://x/c/1") == a
    assert (tmp_path / "keys" / "identity.secret").stat().st_mode & 0o077 == 0
    assert KeyStore(tmp_path / "other", host=HOST).identity_salt("https://x/c/1") != a


@pytest.mark.parametrize("suite", SUITES)
def test_dates(issuer, suite):
    cred = issuer.issue(suite)
    v = check(issuer, cred, now=NOW + timedelta(days=731))
    assert v.status is Status.EXPIRED and v.expired_at is not None
    assert "expired on" in v.reason and v.summary["learner_name"]
    assert check(issuer, cred, now=NOW - timedelta(days=3)).status is Status.NOT_YET_VALID


@pytest.mark.parametrize("suite", SUITES)
def test_revoked_suspended_and_precedence(issuer, suite):
    cred = issuer.issue(suite, n=3)
    issuer.set_bit("suspension", 103)
    assert check(issuer, cred).status is Status.SUSPENDED
    issuer.set_bit("revocation", 103)
    v = check(issuer, cred, revocation_date=lambda cid: NOW - timedelta(hours=1))
    assert v.status is Status.REVOKED and v.revoked_at is not None
    # revoked beats expired
    assert check(issuer, cred, now=NOW + timedelta(days=900)).status is Status.REVOKED
    issuer.set_bit("revocation", 103, False)
    issuer.set_bit("suspension", 103, False)
    assert check(issuer, cred).valid


def test_status_unavailable(issuer):
    cred = issuer.issue()
    assert check(issuer, cred, status_resolver=lambda url: None).status is Status.STATUS_UNAVAILABLE

    def broken(url):
        raise ConnectionError("down")

    assert check(issuer, cred, status_resolver=broken).status is Status.STATUS_UNAVAILABLE
    v = check(issuer, cred, status_resolver=None, require_status=False)
    assert v.valid and any("NOT checked" in f for f in v.facts) and v.notes
    # a tampered list does not verify
    clear_status_list_cache()
    bad = copy.deepcopy(issuer.lists)
    other_bits = new_list("message")
    other_bits.set_value(101, 2, 2)
    bad[STATUS_URL]["credentialSubject"]["encodedList"] = other_bits.encode()
    assert check(issuer, cred, status_resolver=bad.get).status is Status.STATUS_UNAVAILABLE
    # a list from another issuer is not accepted
    other = SigningKey.generate()
    foreign = dict(issuer.lists[STATUS_URL])
    foreign.pop("proof")
    foreign["issuer"] = other.did
    forged = {**issuer.lists, STATUS_URL: sign(foreign, other)}
    assert check(issuer, cred, status_resolver=forged.get).status is Status.STATUS_UNAVAILABLE
    # the purpose must match
    swapped = {STATUS_URL: issuer.lists[REV_URL] | {"id": STATUS_URL}}
    assert check(issuer, cred, status_resolver=swapped.get).status is Status.STATUS_UNAVAILABLE


@pytest.mark.parametrize("suite", SUITES)
def test_one_status_entry_of_two_bits(issuer, suite):
    """Open Badges 3.0 allows one credentialStatus: revocation and suspension share one two-bit
    "message" entry whose statusMessage names each value."""
    cred = issuer.issue(suite, n=4)
    entry = cred["credentialStatus"]
    assert isinstance(entry, dict) and entry["statusPurpose"] == "message" and entry["statusSize"] == 2
    assert {m["message"] for m in entry["statusMessage"]} == {"valid", "suspended", "revoked"}
    issuer.set_bit("suspension", 103)  # a neighbour's state must not leak into this entry
    assert check(issuer, cred).valid
    issuer.set_bit("suspension", 104)
    assert check(issuer, cred).status is Status.SUSPENDED
    issuer.set_bit("revocation", 104)
    assert check(issuer, cred).status is Status.REVOKED
    issuer.set_bit("suspension", 104, False)
    assert check(issuer, cred).status is Status.REVOKED


@pytest.mark.parametrize("suite", SUITES)
def test_certificates_issued_with_two_status_entries_keep_verifying(issuer, suite):
    cred = issuer.issue_legacy(suite, n=5)
    assert [e["statusPurpose"] for e in cred["credentialStatus"]] == ["revocation", "suspension"]
    assert check(issuer, cred).valid
    issuer.set_bit("suspension", 105)
    assert check(issuer, cred).status is Status.SUSPENDED
    issuer.set_bit("revocation", 105)
    assert check(issuer, cred).status is Status.REVOKED


def test_a_status_value_with_no_known_meaning_is_not_valid(issuer):
    unsigned = build_credential(issuer.facts(6))
    unsigned["credentialStatus"]["statusMessage"][1]["message"] = "pending review"
    cred = sign(unsigned, issuer.keystore.active_key())
    assert check(issuer, cred).valid
    issuer.set_bit("suspension", 106)
    v = check(issuer, cred)
    assert v.status is Status.STATUS_UNAVAILABLE and any("pending review" in f for f in v.facts)


def test_a_status_list_signed_just_after_the_verification_moment_counts(issuer):
    """An issuer signs its list when asked, so the list can be stamped a second after the moment a
    verification runs at (the app's own /verify did this about once in a hundred runs)."""
    cred = issuer.issue()
    moment = NOW + timedelta(days=1, microseconds=999_999)
    clear_status_list_cache()
    issuer.publish_lists(valid_from=moment + timedelta(seconds=1))
    assert check(issuer, cred, now=moment).valid
    clear_status_list_cache()
    issuer.publish_lists(valid_from=moment + timedelta(hours=1))
    v = check(issuer, cred, now=moment)
    assert v.status is Status.STATUS_UNAVAILABLE and any("not yet valid" in f for f in v.facts)


def test_no_status_entries_is_valid_but_noted(issuer):
    v = check(issuer, issuer.issue(status=None))
    assert v.valid and any("cannot be revoked" in f for f in v.facts)


@pytest.mark.parametrize("suite", SUITES)
def test_retired_key_ok_but_noted_and_compromised_rejected(issuer, suite):
    old = issuer.issue(suite)
    issuer.keystore.rotate()
    v = check(issuer, old)
    assert v.valid and v.key_status == "retired" and "retired" in v.notes[0]
    issuer.keystore.mark_compromised("k1")
    v = check(issuer, old)
    assert v.status is Status.COMPROMISED_KEY and v.summary is None


def test_compromised_from_a_date(issuer):
    cred = issuer.issue()  # proof created now
    issuer.keystore.mark_compromised("k1", since=NOW + timedelta(days=1))
    v = check(issuer, cred)
    assert v.valid and "compromised" in v.notes[0]
    issuer.keystore.mark_compromised("k1", since=NOW - timedelta(days=1))
    assert check(issuer, cred).status is Status.COMPROMISED_KEY


@pytest.mark.parametrize("suite", SUITES)
def test_unknown_issuers(issuer, suite):
    cred = issuer.issue(suite)
    v = verify(cred, trusted=TrustStore(), status_resolver=issuer.resolver)
    assert v.status is Status.UNKNOWN_ISSUER and v.summary is None
    assert verify(cred, trusted=None).status is Status.UNKNOWN_ISSUER
    # self-made did:key credential: signature fine, issuer unknown
    key = SigningKey.generate()
    doc = {k: v for k, v in cred.items() if k not in ("proof", "credentialStatus")}
    doc["issuer"] = {**doc["issuer"], "id": key.did}
    self_made = sign(doc, key, cryptosuite=suite)
    v = check(issuer, self_made)
    assert v.status is Status.UNKNOWN_ISSUER
    assert any(c.code == "signature" and c.ok for c in v.checks)
    # ... and a broken one is a signature problem
    self_made["credentialSubject"]["name"] = "X"
    assert check(issuer, self_made).status is Status.SIGNATURE_INVALID


def test_key_of_another_controller_or_unknown_kid(issuer):
    cred = issuer.issue()
    bad = copy.deepcopy(cred)
    bad["proof"]["verificationMethod"] = f"{issuer.did}#k7"
    v = check(issuer, bad)
    assert v.status is Status.SIGNATURE_INVALID and "not a known key" in v.reason
    bad["proof"]["verificationMethod"] = "did:web:elsewhere.example#k1"
    assert check(issuer, bad).status is Status.SIGNATURE_INVALID
    bad = copy.deepcopy(cred)
    bad["proof"]["proofPurpose"] = "authentication"
    assert check(issuer, bad).status is Status.SIGNATURE_INVALID


@pytest.mark.parametrize("value,status", [
    (None, Status.NOT_A_CREDENTIAL), (42, Status.NOT_A_CREDENTIAL), ("", Status.NOT_A_CREDENTIAL),
    (b"\xff\xfe", Status.NOT_A_CREDENTIAL), ("[1,2]", Status.NOT_A_CREDENTIAL),
    ('{"a": NaN}', Status.NOT_A_CREDENTIAL), ("[" * 100000, Status.NOT_A_CREDENTIAL),
])
def test_garbage_is_not_a_credential(issuer, value, status):
    assert verify(value, trusted=issuer.trust()).status is status


def test_structural_problems(issuer):
    cred = issuer.issue()
    cases = {
        "no proof": lambda c: c.pop("proof"),
        "vc 1.1": lambda c: c.__setitem__("@context", ["https://www.w3.org/2018/credentials/v1"]),
        "types": lambda c: c.__setitem__("type", ["OpenBadgeCredential"]),
        "issuer": lambda c: c.__setitem__("issuer", {"name": "x"}),
        "subject": lambda c: c.__setitem__("credentialSubject", []),
        "date": lambda c: c.__setitem__("validUntil", "next tuesday"),
        "status": lambda c: c.__setitem__("credentialStatus", [{"id": "x"}]),
        "proofValue": lambda c: c["proof"].__setitem__("proofValue", "not base58!"),
        "two proofs": lambda c: c.__setitem__("proof", [c["proof"], c["proof"]]),
    }
    for name, mutate in cases.items():
        bad = copy.deepcopy(cred)
        mutate(bad)
        assert check(issuer, bad).status is Status.NOT_A_CREDENTIAL, name
    bad = copy.deepcopy(cred)
    bad["proof"]["cryptosuite"] = "ecdsa-rdfc-2019"
    assert check(issuer, bad).status is Status.UNSUPPORTED_CRYPTOSUITE
    bad["proof"]["type"] = "Ed25519Signature2020"
    assert check(issuer, bad).status is Status.UNSUPPORTED_CRYPTOSUITE


def test_json_text_and_bytes_input(issuer):
    cred = issuer.issue(JCS)
    text = json.dumps(cred)
    assert verify(text, trusted=issuer.trust(), status_resolver=issuer.resolver).valid
    assert verify(text.encode(), trusted=issuer.trust(), status_resolver=issuer.resolver).valid


# ---------------------------------------------------------------------------------- fuzzing

def _canon(text):
    try:
        return json.dumps(json.loads(text), sort_keys=True)
    except ValueError:
        return None


def _same_signed_content(suite, mutated: dict, original: dict) -> bool:
    """What the proof covers: the exact JSON (jcs) or the RDF dataset (rdfc — e.g. ``true`` and
    ``[true]`` are the same statement in JSON-LD, and both are accepted by every verifier)."""
    if suite == JCS:
        return json.dumps(mutated, sort_keys=True) == json.dumps(original, sort_keys=True)
    from certs import jsonld

    strip = lambda d: {k: v for k, v in d.items() if k != "proof"}  # noqa: E731
    try:
        return jsonld.canonize(strip(mutated)) == jsonld.canonize(strip(original)) and \
            mutated.get("proof") == original.get("proof")
    except Exception:
        return False


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory):
    from certs_testlib import HOST, IssuerEnv

    from certs.keys import KeyStore

    env = IssuerEnv(KeyStore(tmp_path_factory.mktemp("fuzzkeys") / "k", host=HOST))
    env.publish_lists()
    texts = {s: json.dumps(env.issue(s), ensure_ascii=False, separators=(",", ":"))
             for s in SUITES}
    return env, texts


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(suite=st.sampled_from(SUITES), data=st.data())
def test_fuzz_byte_flips_never_valid(fuzz_env, suite, data):
    env, texts = fuzz_env
    raw = bytearray(texts[suite].encode("utf-8"))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        old = raw[i]
        raw[i] = data.draw(st.integers(0, 255).filter(lambda b, old=old: b != old))
    v = verify(bytes(raw), trusted=env.trust(), status_resolver=env.resolver)
    assert isinstance(v.status, Status)
    if v.valid:
        # only acceptable if the change left the signed content as it was
        assert _same_signed_content(suite, json.loads(bytes(raw)), json.loads(texts[suite]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(suite=st.sampled_from(SUITES), cut=st.integers(0, 10_000))
def test_fuzz_truncation(fuzz_env, suite, cut):
    env, texts = fuzz_env
    text = texts[suite]
    v = verify(text[: cut % len(text)], trusted=env.trust(), status_resolver=env.resolver)
    assert not v.valid


_junk = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                         max_size=3),
                     max_leaves=8)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(suite=st.sampled_from(SUITES), data=st.data())
def test_fuzz_wrong_types_anywhere(fuzz_env, suite, data):
    """Replace any value in the credential (including the proof and the status entries) by
    arbitrary JSON: no exception escapes, and the verdict is valid only if what the proof covers
    is unchanged."""
    env, texts = fuzz_env
    cred = json.loads(texts[suite])
    paths = []

    def walk(v, path):
        paths.append(path)
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, path + (k,))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, path + (i,))

    walk(cred, ())
    path = data.draw(st.sampled_from(paths[1:]))
    new = data.draw(_junk)
    target = cred
    for p in path[:-1]:
        target = target[p]
    old = target[path[-1]]
    if json.dumps(old, sort_keys=True) == json.dumps(new, sort_keys=True):
        return
    target[path[-1]] = new
    v = verify(cred, trusted=env.trust(), status_resolver=env.resolver)
    if v.valid:
        assert _same_signed_content(suite, cred, json.loads(texts[suite])), (path, new)
    # dropping a member entirely
    cred2 = json.loads(texts[suite])
    target = cred2
    for p in path[:-1]:
        target = target[p]
    if isinstance(target, dict):
        del target[path[-1]]
        if verify(cred2, trusted=env.trust(), status_resolver=env.resolver).valid:
            assert _same_signed_content(suite, cred2, json.loads(texts[suite])), path


def test_a_cached_status_list_is_not_trusted_for_a_different_key_with_the_same_id(tmp_path):
    """Two issuers whose keys share an id (e.g. `#k1`) must not share a verified status list."""
    from datetime import datetime

    from certs.keys import KeyStore
    from certs.signing import sign
    from certs.status_check import _verify_status_list
    from certs.status_list import StatusListError, build_status_list_credential

    first = KeyStore(tmp_path / "a", host="same.example")
    second = KeyStore(tmp_path / "b", host="same.example")
    url = "https://same.example/status/revocation"
    signed = sign(build_status_list_credential(list_url=url, issuer=first.did, purpose="revocation",
                                               status_list=BitstringStatusList()), first.active_key(),
                  cryptosuite="eddsa-rdfc-2022")
    now = datetime.now(UTC)
    _verify_status_list(url, signed, first.did, first.trust_store(), now)  # verified, and cached
    second.active_key()
    with pytest.raises(StatusListError):
        _verify_status_list(url, signed, second.did, second.trust_store(), now)
