"""The fast JSON-LD → RDF → RDFC-1.0 path must equal plain pyld canonicalization, and refuse
what JSON-LD would silently drop (safe mode)."""
from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from certs_testlib import HOST, NOW, make_facts
from conformance_data import EXAMPLES_V2, vector_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyld import jsonld as pyld_jsonld

from certs import contexts, jsonld, jsonld_reference, nquads
from certs.credential import StatusRef, build_credential
from certs.jsonld_errors import JsonLdError, UnsafeJsonLd
from certs.signing import JCS, RDFC
from certs.status_list import BitstringStatusList, build_status_list_credential

DID = f"did:web:{HOST}"

# printable text without control characters (pyld 3 escapes those differently from RDFC-1.0)
# and within the BMP (pyld sorts N-Quads by code point, RDFC-1.0 as implemented in JavaScript
# by UTF-16 code unit; they can differ for characters above U+FFFF). Both cases are checked
# against the JavaScript implementation in test_certs_vcv.py.
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), min_codepoint=0x20,
                           max_codepoint=0xFFFF),
    min_size=1, max_size=40,
).filter(lambda s: s.strip())
iri_path = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~", min_size=1, max_size=12)


@st.composite
def facts(draw):
    n = draw(st.integers(0, 99999))
    overrides = dict(
        certificate_id=draw(st.sampled_from([f"https://{HOST}/c/", "urn:uuid:"])) + draw(iri_path),
        learner_name=draw(text),
        learner_email=draw(text).replace("@", "") + "@example.com",
        scheme_name=draw(text),
        scheme_version=draw(st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,2}", fullmatch=True)),
        scope=draw(text),
        valid_from=NOW - timedelta(days=draw(st.integers(0, 400)),
                                   seconds=draw(st.integers(0, 86399))),
        valid_until=draw(st.one_of(st.none(), st.just(NOW + timedelta(days=700)))),
        score=draw(st.one_of(st.none(), st.integers(0, 1000), st.floats(0, 100, allow_nan=False))),
        theta=draw(st.one_of(st.none(), st.floats(-4, 4, allow_nan=False))),
        previous_credential_id=draw(st.one_of(st.none(), st.just(f"https://{HOST}/c/old"))),
        scheme_url=draw(st.one_of(st.none(), st.just(f"https://{HOST}/schemes/x"))),
        status=draw(st.one_of(st.none(), st.builds(
            StatusRef, st.just(f"https://{HOST}/status/message/1"), st.integers(0, 131071)))),
        extra_tags=tuple(draw(st.lists(text, max_size=4))),
    )
    return make_facts(DID, n, **overrides)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts())
def test_fast_path_equals_pyld_on_varied_credentials(f):
    doc = build_credential(f)
    fast = jsonld.canonize(doc)
    assert fast == jsonld.pyld_canonize(doc)
    assert fast == jsonld.canonize(doc, fast=False)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["revocation", "suspension"]), st.lists(st.integers(0, 131071), max_size=20))
def test_fast_path_equals_pyld_on_status_lists(purpose, bits):
    sl = BitstringStatusList()
    for b in bits:
        sl.set(b)
    doc = build_status_list_credential(list_url=f"https://{HOST}/status/x", issuer=DID,
                                       purpose=purpose, status_list=sl)
    assert jsonld.canonize(doc) == jsonld.pyld_canonize(doc)


@pytest.mark.parametrize("suite", [RDFC, JCS])
def test_fast_path_equals_pyld_on_proof_configurations(suite):
    ctx = build_credential(make_facts(DID))["@context"]
    cfg = {"@context": ctx, "type": "DataIntegrityProof", "created": "2026-01-01T00:00:00Z",
           "verificationMethod": f"{DID}#k1", "cryptosuite": suite,
           "proofPurpose": "assertionMethod"}
    assert jsonld.canonize(cfg) == jsonld.pyld_canonize(cfg)
    assert "<https://w3id.org/security#assertionMethod>" in jsonld.canonize(cfg)


def test_symmetric_blank_nodes_need_n_degree_hashing():
    """Identical sibling blank nodes (same first-degree hash) exercise Hash N-Degree Quads."""
    doc = build_credential(make_facts(DID))
    subj = doc["credentialSubject"]
    ident = subj["identifier"][0]
    subj["identifier"] = [ident, copy.deepcopy(ident), copy.deepcopy(ident)]
    subj["result"] = [{"type": ["Result"], "value": "1"}, {"type": ["Result"], "value": "1"}]
    doc["credentialSubject"]["achievement"]["criteria"] = {"narrative": "x"}
    assert jsonld.canonize(doc) == jsonld.pyld_canonize(doc)
    # nested symmetric structure
    doc2 = build_credential(make_facts(DID))
    doc2["credentialSubject"]["achievement"]["alignment"] = [
        {"type": ["Alignment"], "targetName": "a", "targetUrl": "https://x.example/a"},
        {"type": ["Alignment"], "targetName": "a", "targetUrl": "https://x.example/a"},
    ]
    assert jsonld.canonize(doc2) == jsonld.pyld_canonize(doc2)


def test_duplicates_and_arrays_are_a_set():
    doc = build_credential(make_facts(DID))
    doc["credentialSubject"]["achievement"]["tag"] = ["a", "a", "b"]
    assert jsonld.canonize(doc) == jsonld.pyld_canonize(doc)


def test_numbers_and_booleans_like_json_ld():
    doc = build_credential(make_facts(DID))
    ach = doc["credentialSubject"]["achievement"]
    ach["creditsAvailable"] = 2.5
    doc["credentialSubject"]["creditsEarned"] = 3
    assert jsonld.canonize(doc) == jsonld.pyld_canonize(doc)
    assert '"2.5E0"^^<https://www.w3.org/2001/XMLSchema#float>' in jsonld.canonize(doc)


@pytest.mark.parametrize("mutate,fragment", [
    (lambda d: d["credentialSubject"].__setitem__("favouriteColour", "blue"), "not defined"),
    (lambda d: d.__setitem__("foo", "bar"), "not defined"),
    (lambda d: d["credentialSubject"]["achievement"].__setitem__("id", "relative/path"),
     "relative"),
    (lambda d: d["credentialSubject"].__setitem__("name", None), "null"),
    (lambda d: d["credentialSubject"]["achievement"].__setitem__("criteria", {}), "empty"),
    (lambda d: d["credentialSubject"]["achievement"]["criteria"].__setitem__("type", "NoSuchType"),
     "type"),
    (lambda d: d["credentialSubject"].__setitem__("type", ["NoSuchType"]), "not defined"),
])
def test_safe_mode_refuses_what_json_ld_would_drop(mutate, fragment):
    doc = build_credential(make_facts(DID))
    mutate(doc)
    with pytest.raises(UnsafeJsonLd, match=fragment):
        jsonld.canonize(doc)


def test_reference_path_is_also_safe():
    doc = build_credential(make_facts(DID))
    doc["credentialSubject"]["favouriteColour"] = "blue"
    with pytest.raises(UnsafeJsonLd):
        jsonld.canonize(doc, fast=False)
    # constructs the fast path does not handle go through pyld (and are still checked)
    doc = build_credential(make_facts(DID))
    doc["credentialSubject"]["name"] = {"@value": "Ada", "@language": "en"}
    out = jsonld.canonize(doc)
    assert '"Ada"@en' in out
    assert out == jsonld.pyld_canonize(doc)


def test_loader_is_offline_only():
    assert contexts.document_loader(contexts.CREDENTIALS_V2)["document"]["@context"]
    with pytest.raises(pyld_jsonld.JsonLdError, match="only bundled contexts"):
        contexts.document_loader("https://example.com/evil-context.jsonld")
    doc = build_credential(make_facts(DID))
    doc["@context"] = doc["@context"] + ["https://example.com/evil-context.jsonld"]
    with pytest.raises(JsonLdError):
        jsonld.canonize(doc)


def test_rdfc_escaping():
    assert nquads.escape_literal('a"b\\c\n\r\t\b\f\x01\x7f') == \
        'a\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u007F'


# a credential whose subject property is defined only by the examples context's @vocab (the
# W3C vc-di-eddsa "alumni" vector)
ALUMNI = {
    "@context": [contexts.CREDENTIALS_V2, EXAMPLES_V2],
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "AlumniCredential"],
    "issuer": "https://vc.example/issuers/5678",
    "validFrom": "2023-01-01T00:00:00Z",
    "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
}


@pytest.fixture
def examples_context():
    """The examples context (not bundled: it is test material in ../shared) is loadable."""
    with vector_contexts():
        yield


@pytest.fixture
def reference_calls(monkeypatch):
    """Records the documents the reference (pyld) path is asked to convert."""
    calls = []
    reference = jsonld_reference.reference_quads

    def spy(doc):
        calls.append(doc)
        return reference(doc)

    monkeypatch.setattr(jsonld_reference, "reference_quads", spy)
    return calls


def test_property_defined_by_vocab_is_canonicalized_like_pyld(examples_context):
    """Regression: the fast path refused a term it did not find in the context mappings as
    undefined, although @vocab defines it, so the W3C alumni vector failed to verify."""
    out = jsonld.canonize(ALUMNI)
    assert out == jsonld.pyld_canonize(ALUMNI)
    assert '<https://www.w3.org/ns/credentials/examples#alumniOf> "The School of Examples"' in out


def test_undefined_property_is_refused_by_the_reference_path(reference_calls):
    # without the examples context (and its @vocab) alumniOf is not defined
    doc = {**ALUMNI, "@context": [contexts.CREDENTIALS_V2], "type": ["VerifiableCredential"]}
    with pytest.raises(UnsafeJsonLd, match="alumniOf"):
        jsonld.canonize(doc)
    assert reference_calls == [doc]  # the fast path declined instead of deciding


@pytest.mark.parametrize("doc", [
    {**ALUMNI, "@context": contexts.CREDENTIALS_V2, "type": ["VerifiableCredential", "_:t"],
     "credentialSubject": {"id": "did:example:abcdefgh"}},
    {"@context": contexts.CREDENTIALS_V2, "type": "DataIntegrityProof",
     "cryptosuite": "eddsa-rdfc-2022", "proofPurpose": "_:purpose"},
], ids=["blank-node-type", "blank-node-vocab-value"])
def test_blank_node_iris_fall_back_to_the_reference_path(doc, reference_calls):
    """The fast path does not handle blank node identifiers; it must not refuse them either."""
    assert jsonld.canonize(doc) == jsonld.pyld_canonize(doc)
    assert reference_calls == [doc]


def test_vector_contexts_stay_test_material():
    """The examples context is not bundled, and nothing cached while a test could load it
    outlives the test."""
    doc = {**ALUMNI, "credentialSubject": {"id": "did:example:abcdefgh"}}  # fast path only
    with vector_contexts():
        jsonld.canonize(doc)
    assert EXAMPLES_V2 not in contexts.known_context_urls()
    for fast in (True, False):
        with pytest.raises(JsonLdError, match="examples/v2"):
            jsonld.canonize(doc, fast=fast)
