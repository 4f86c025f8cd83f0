"""The issuer's form (certs/form.py): the one JSON spelling the verifier reads facts from. Issued
credentials are in it; each way out of it is refused; and within the bundled contexts each fact the
verifier reads has one term, so reading the JSON in this form is reading the signed graph."""
from __future__ import annotations

import copy
import json
from collections import Counter

import pytest

from certs import jsonld
from certs.credential import CREDENTIAL_CONTEXT
from certs.form import FormError, check_form, loads_strict
from certs.signing import JCS, RDFC
from certs.verdict import Status
from certs.verify import verify

CRED = "https://www.w3.org/2018/credentials#"
STATUS = "https://www.w3.org/ns/credentials/status#"


@pytest.mark.parametrize("suite", [RDFC, JCS])
def test_issued_credentials_and_status_lists_are_in_the_form(issuer, suite):
    check_form(issuer.issue(suite))
    check_form(issuer.issue_legacy(suite))
    for status_list in issuer.lists.values():
        check_form(status_list)


def _nested(cred):
    cred["credentialSubject"]["achievement"][f"{CRED}name"] = cred["credentialSubject"]["achievement"].pop("name")


OUT_OF_FORM = {
    "inline context": lambda c: c["@context"].append({"cred": CRED}),
    "unknown context URL": lambda c: c["@context"].append("https://example.org/ctx.jsonld"),
    "context named twice": lambda c: c["@context"].append(c["@context"][-1]),
    "VC 2.0 context not first": lambda c: c["@context"].reverse(),
    "full IRI key": lambda c: c.__setitem__(f"{CRED}validUntil", c.pop("validUntil")),
    "compact IRI key": lambda c: c.__setitem__("cred:validUntil", c.pop("validUntil")),
    "nested full IRI key": _nested,
    "@graph wrapper": lambda c: c.__setitem__("@graph", [c.pop("credentialSubject")]),
    "@included": lambda c: c.__setitem__("@included", []),
    "value object": lambda c: c["credentialSubject"].__setitem__("name", {"@value": "Ada"}),
    "unexpected top-level property": lambda c: c.__setitem__("termsOfUse", {"type": "x"}),
}


@pytest.mark.parametrize("name", OUT_OF_FORM)
def test_each_way_out_of_the_form_is_refused(issuer, name):
    cred = copy.deepcopy(issuer.issue(RDFC))
    OUT_OF_FORM[name](cred)
    with pytest.raises(FormError):
        check_form(cred)
    verdict = verify(cred, trusted=issuer.trust(), status_resolver=issuer.resolver)
    assert verdict.status is Status.NOT_A_CREDENTIAL
    assert verdict.reason.startswith("not a certificate in the expected form"), verdict.reason


def test_a_jcs_proof_context_must_equal_the_credentials(issuer):
    cred = copy.deepcopy(issuer.issue(JCS))
    cred["@context"].append("https://w3id.org/security/data-integrity/v2")
    with pytest.raises(FormError, match="proof's @context"):
        check_form(cred)
    # the JCS proof covers its own @context, not the document's extra ones: refused, not valid
    assert verify(cred, trusted=issuer.trust(), status_resolver=issuer.resolver).status is Status.NOT_A_CREDENTIAL


def test_repeated_keys_in_json_text_are_refused(issuer):
    cred = issuer.issue(RDFC)
    text = json.dumps(cred)
    until = json.dumps(cred["validUntil"])
    doubled = text.replace(f'"validUntil": {until}', f'"validUntil": {until}, "validUntil": {until}', 1)
    assert doubled != text
    with pytest.raises(FormError, match="twice"):
        loads_strict(doubled)
    verdict = verify(doubled, trusted=issuer.trust(), status_resolver=issuer.resolver)
    assert verdict.status is Status.NOT_A_CREDENTIAL and "twice" in verdict.reason
    assert loads_strict(text) == cred


def _terms_by_iri(ctx) -> Counter:
    return Counter(m["@id"] for m in ctx.active["mappings"].values() if isinstance(m, dict) and m.get("@id"))


def test_each_fact_the_verifier_reads_has_one_term_in_the_bundled_contexts(issuer):
    """With no inline context allowed, a fact could still hide behind a second term for its IRI if
    a bundled context defined one: none does, for the properties the verdict depends on."""
    cred = issuer.issue(RDFC)
    top = jsonld._root_ctx(CREDENTIAL_CONTEXT).with_types((tuple(cred["type"]),))[0]
    counts = _terms_by_iri(top)
    for prop in ("validFrom", "validUntil", "credentialStatus", "issuer", "credentialSubject", "evidence"):
        assert counts[CRED + prop] == 1, prop
    entry = top.child_of(top.term("credentialStatus")).with_types((("BitstringStatusListEntry",),))[0]
    counts = _terms_by_iri(entry)
    for prop in ("statusPurpose", "statusListIndex", "statusListCredential", "statusSize", "statusMessage"):
        assert counts[STATUS + prop] == 1, prop
