"""A re-spelled certificate never gets a better verdict than the one its issuer signed.

An eddsa-rdfc-2022 proof covers the RDF graph, so the holder of a revoked or expired certificate
can write the same graph with other JSON (``https://www.w3.org/2018/credentials#validUntil`` for
``validUntil``, a new prefix or alias term, ``@nest``/``@included``...) and the proof still verifies.
If the verifier then reads the JSON keys, it finds no expiry and no status entry and answers
``valid``. The rule checked here: a re-spelled certificate gets the status of the original or a
rejection (``not_a_credential``, ``signature_invalid``, ``unsupported_cryptosuite``), whatever the
spelling: the named tricks in ``respelling.py`` and random compositions of graph-preserving
rewrites (hypothesis), on certificates that are valid, expired, suspended, revoked, revoked and
expired, in both cryptosuites, in the issuer's current form and (when the test helpers can issue
it) the earlier two-entry status form. For rdfc the tests also check that each rewrite keeps the
canonical graph and the signature: the rewritten document is one a holder can really produce.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from certs_testlib import HOST, NOW, IssuerEnv
from hypothesis import given, settings
from hypothesis import strategies as st
from respelling import (
    TRICKS,
    TRICKS_BY_NAME,
    Plan,
    Spellings,
    dict_paths,
    dumps_repeating,
    parsed,
    render,
    unsecured,
)

from certs.jsonld import canonize
from certs.keys import KeyStore
from certs.signing import verify_signature
from certs.verify import verify

RDFC, JCS = "eddsa-rdfc-2022", "eddsa-jcs-2022"
SUITES = (RDFC, JCS)
REJECTIONS = {"not_a_credential", "signature_invalid", "unsupported_cryptosuite"}

# the issuer's form: one two-bit "message" status entry; certificates issued before it carry two
# entries (revocation, suspension) and must still verify
FORMS = ("current", "legacy") if hasattr(IssuerEnv, "issue_legacy") else ("current",)
# state -> (number of the certificate (status index 100 + n), its verdict as issued)
STATES = {
    "valid": (1, "valid"),
    "expired": (2, "expired"),
    "suspended": (3, "suspended"),
    "revoked": (5, "revoked"),
    "revoked_and_expired": (4, "revoked"),
}
FACTS = ("validUntil", "credentialStatus")  # what a better verdict needs to hide
PAST = {"valid_from": NOW - timedelta(days=400), "valid_until": NOW - timedelta(days=30)}


@dataclass
class Signed:
    credential: dict
    status: str
    canonical: str        # RDFC-1.0 N-Quads of the unsecured credential
    spellings: Spellings

    def __repr__(self) -> str:
        return f"<{self.credential['proof']['cryptosuite']} certificate, {self.status}>"


class World:
    """The issuer and its certificates (a plain class: hypothesis prints it by its repr)."""

    def __init__(self, env: IssuerEnv, certs: dict):
        self.env = env
        self.certs = certs  # (form, suite, state) -> Signed

    def __repr__(self) -> str:
        return f"<issuer {self.env.did} with {len(self.certs)} certificates>"

    def verify(self, doc):
        return verify(doc, trusted=self.env.keystore.trust_store(), status_resolver=self.env.resolver)

    def verdict(self, doc) -> str:
        return self.verify(doc).status.value

    @property
    def public_key(self) -> bytes:
        return self.env.keystore.active_key().public_key


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    env = IssuerEnv(KeyStore(tmp_path_factory.mktemp("security") / "keys", host=HOST))
    env.publish_lists()
    issued = {}
    for form in FORMS:
        issue = env.issue if form == "current" else env.issue_legacy
        for suite in SUITES:
            for state, (n, _) in STATES.items():
                dates = PAST if state in ("expired", "revoked_and_expired") else {}
                issued[form, suite, state] = issue(suite, n=n, **dates)
    env.set_bit("suspension", 100 + STATES["suspended"][0])
    env.set_bit("revocation", 100 + STATES["revoked"][0])
    env.set_bit("revocation", 100 + STATES["revoked_and_expired"][0])
    certs = {key: Signed(cred, STATES[key[2]][1], canonize(unsecured(cred)), Spellings(cred))
             for key, cred in issued.items()}
    return World(env, certs)


def assert_never_better(world: World, signed: Signed, rewritten, what: str) -> None:
    verdict = world.verify(rewritten)
    status = verdict.status.value
    assert status == signed.status or status in REJECTIONS, (
        f"{what}: the certificate as issued is {signed.status}, re-spelled it is {status} "
        f"({verdict.reason})")


def assert_same_graph(world: World, signed: Signed, rewritten, what: str) -> None:
    doc = parsed(rewritten)
    assert canonize(unsecured(doc)) == signed.canonical, f"{what} changed the RDF graph"
    assert verify_signature(doc, world.public_key), f"{what}: the proof no longer verifies"


# ---------------------------------------------------------------- the certificates as issued


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("state", STATES)
def test_the_certificates_as_issued_have_the_expected_status(world, form, suite, state):
    signed = world.certs[form, suite, state]
    assert world.verdict(signed.credential) == signed.status


# ---------------------------------------------------------------- the named tricks


@pytest.mark.parametrize("trick", TRICKS, ids=lambda t: t.name)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("state", STATES)
def test_a_named_respelling_never_improves_the_verdict(world, trick, form, suite, state):
    signed = world.certs[form, suite, state]
    assert_never_better(world, signed, trick.rewrite(signed.credential), trick.name)


@pytest.mark.parametrize("trick", TRICKS, ids=lambda t: t.name)
def test_the_named_tricks_keep_the_signed_graph(world, trick):
    """The tricks are real: for rdfc each one (but the decoy-last control) leaves the canonical
    graph as signed, so the proof still verifies and only the verifier's reading can stop it."""
    for form, state in [(f, s) for f in FORMS for s in STATES]:
        signed = world.certs[form, RDFC, state]
        rewritten = trick.rewrite(signed.credential)
        text = rewritten if isinstance(rewritten, str) else json.dumps(rewritten, ensure_ascii=False)
        assert text != json.dumps(signed.credential, ensure_ascii=False), f"{trick.name} changed nothing"
        if trick.preserves_graph:
            assert_same_graph(world, signed, rewritten, trick.name)
        else:
            assert canonize(unsecured(parsed(rewritten))) != signed.canonical
            assert not verify_signature(parsed(rewritten), world.public_key)


def test_the_reported_exploit_as_written_in_the_issue(world):
    """The issue's exact recipe on a revoked, expired certificate: both keys replaced by their full
    IRIs, the date as an xsd:dateTime value object; the proof still verifies."""
    signed = world.certs["current", RDFC, "revoked_and_expired"]
    rewritten = TRICKS_BY_NAME["full_iri_keys"].rewrite(signed.credential)
    assert "validUntil" not in rewritten and "credentialStatus" not in rewritten
    assert rewritten["https://www.w3.org/2018/credentials#validUntil"] == {
        "@value": signed.credential["validUntil"],
        "@type": "http://www.w3.org/2001/XMLSchema#dateTime"}
    assert_same_graph(world, signed, rewritten, "full_iri_keys")
    assert_never_better(world, signed, rewritten, "full_iri_keys")


# ---------------------------------------------------------------- random compositions (hypothesis)


class Respelled:
    def __init__(self, doc: dict, sent: dict | str, steps: list[str]):
        self.doc = doc      # the re-spelled credential
        self.sent = sent    # what the verifier gets: the document, or JSON text repeating keys
        self.steps = steps  # what was done, for the failure report

    def __repr__(self) -> str:
        return "Respelled(" + "; ".join(self.steps) + ")"


def _where(path: tuple, key: str | None = None) -> str:
    parts = [k if i is None else f"{k}[{i}]" for k, i in path] + ([key] if key else [])
    return ".".join(parts) or "(top)"


@st.composite
def respelled(draw, signed: Signed) -> Respelled:
    """``signed.credential`` with a random sequence of graph-preserving rewrites applied at random
    keys and depths (later rewrites of the same key win), sent as is or as JSON text that repeats
    keys, decoy values before the real ones."""
    sp = signed.spellings
    # half of the rewrites aim at the top-level facts the verifier reads, half at any key
    facts = [((), key) for key in FACTS if key in signed.credential]
    keys = st.one_of(st.sampled_from(facts), st.sampled_from(sp.keys))
    id_type, nodes = st.sampled_from(sp.id_type_keys), st.sampled_from(sp.nodes)
    scope = st.sampled_from(["top", "local"])
    spelling = st.tuples(st.just("spelling"), keys, st.one_of(
        st.tuples(st.just("iri")),
        st.tuples(st.just("prefix"), st.integers(0, 500), scope),
        st.tuples(st.just("alias"), scope),
        st.tuples(st.just("vocab"))))
    op = st.one_of(
        spelling, spelling,  # (twice as likely as the others)
        st.tuples(st.just("place"), keys, st.sampled_from(["nest", "included"])),
        st.tuples(st.just("form"), keys, st.sampled_from(["objects", "set", "toggle"])),
        st.one_of(st.tuples(st.just("spelling"), id_type, st.just(("keyword",))),
                  st.tuples(st.just("form"), id_type, st.just("toggle"))),
        st.tuples(st.just("shuffle"), nodes, st.integers(0, 2**16)),
    )
    plan, steps = Plan(), []
    for kind, target, how in draw(st.lists(op, min_size=1, max_size=8)):
        getattr(plan, kind)[target] = how
        steps.append(f"{kind} {_where(target) if kind == 'shuffle' else _where(*target)}: {how}")
    # whole-document wrappers, now and then
    plan.inline_context = draw(st.integers(0, 9)) == 9  # (shrinks to False)
    plan.graph = draw(st.integers(0, 9)) == 9
    steps += [name for name in ("inline_context", "graph") if getattr(plan, name)]
    doc = render(signed.credential, sp, plan)
    if not draw(st.booleans()):
        return Respelled(doc, doc, steps)
    decoys: dict = {}
    for path in draw(st.lists(st.sampled_from(dict_paths(doc)), min_size=1, max_size=3)):
        obj = doc
        for step in path:
            obj = obj[step]
        key = draw(st.sampled_from(sorted(obj)))
        decoy = draw(st.sampled_from(["2099-12-31T23:59:59Z", [], {}, "valid", 0, None]))
        decoys.setdefault(path, []).append((key, decoy))
        steps.append(f"repeat {'/'.join(map(str, path + (key,)))} after a decoy {decoy!r}")
    return Respelled(doc, dumps_repeating(doc, decoys), steps)


@pytest.mark.parametrize("state", STATES)
@settings(max_examples=50, deadline=None, report_multiple_bugs=False)
@given(data=st.data())
def test_a_random_respelling_never_improves_the_verdict(world, state, data):
    # (mostly rdfc: a jcs proof covers the JSON text, so nearly every re-spelling breaks it)
    suite = data.draw(st.sampled_from([RDFC, RDFC, RDFC, JCS]), label="suite")
    signed = world.certs[data.draw(st.sampled_from(FORMS), label="form"), suite, state]
    r = data.draw(respelled(signed), label="re-spelled")
    if isinstance(r.sent, str):
        assert json.loads(r.sent) == r.doc  # a last-wins parser reads past the decoys
    if suite == RDFC:
        assert_same_graph(world, signed, r.sent, "the re-spelling")
    assert_never_better(world, signed, r.sent, "the re-spelling")
