"""certs.signing against the W3C Data Integrity EdDSA test vectors (eddsa-rdfc-2022, eddsa-jcs-2022).

Source: W3C vc-di-eddsa test vectors (w3c/vc-di-eddsa, commit abb673e), in
../shared/data/conformance/vc-di-eddsa. Every intermediate value the specification publishes is
recomputed with the project's code: canonical document and proof configuration, their SHA-256
hashes, the signed hash data, the signature (Ed25519 is deterministic, so signing with the
vector's private key must give the published bytes) and the signed credential. The vectors'
issuer is not the key's controller, so their signatures verify but a full verification must
not call them valid.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from conformance_data import VC_DI_EDDSA, VECTOR_CONTEXTS, vector_contexts
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certs import jsonld, signing
from certs.keys import SigningKey, TrustStore
from certs.multibase import (
    ED25519_PRIV_HEADER,
    decode_base58btc,
    ed25519_public_from_multikey,
    encode_base58btc,
)
from certs.verify import verify

KEY_PAIR = VC_DI_EDDSA / "keyPair.json"
NOW = "2024-06-01T00:00:00Z"  # inside every vector's validity period


@dataclass(frozen=True)
class Vector:
    """One published vector: an unsigned credential and the files derived from it in ``folder``
    (named ``<value><suffix>.<ext>``, e.g. ``docHashDataInt.txt``)."""

    name: str
    unsigned: str
    folder: str
    suffix: str

    def path(self, value: str, ext: str = "txt") -> Path:
        return VC_DI_EDDSA / self.folder / f"{value}{self.suffix}.{ext}"

    def text(self, value: str) -> str:
        return self.path(value).read_text(encoding="utf-8")

    def json(self, value: str) -> dict:
        return json.loads(self.path(value, "json").read_text(encoding="utf-8"))

    def unsigned_doc(self) -> dict:
        return json.loads((VC_DI_EDDSA / self.unsigned).read_text(encoding="utf-8"))

    def files(self) -> set[Path]:
        texts = ("canonDoc", "proofCanon", "docHash", "proofHash", "combinedHash", "sigHex",
                 "sigBTC58")
        return ({VC_DI_EDDSA / self.unsigned} | {self.path(v) for v in texts}
                | {self.path(v, "json") for v in ("proofConfig", "signed")})


VECTORS = [
    Vector("rdfc-alumni", "unsigned.json", "eddsa-rdfc-2022", "DataInt"),
    Vector("rdfc-employ", "employmentAuth.json", "eddsa-rdfc-2022/employ", "DataInt"),
    Vector("jcs-alumni", "unsigned.json", "eddsa-jcs-2022", "JCS"),
]
by_name = pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)


@pytest.fixture(autouse=True)
def _vector_contexts():
    with vector_contexts():
        yield


def _key_pair() -> tuple[SigningKey, bytes]:
    """The vectors' key pair as a SigningKey whose verification method is the did:key one the
    vectors use, and the raw public key."""
    pair = json.loads(KEY_PAIR.read_text(encoding="utf-8"))
    public_mb = pair["publicKeyMultibase"]
    private = decode_base58btc(pair["privateKeyMultibase"])
    assert private[:2] == ED25519_PRIV_HEADER and len(private) == 34
    key = SigningKey(public_mb, f"did:key:{public_mb}",
                     Ed25519PrivateKey.from_private_bytes(private[2:]))
    public = ed25519_public_from_multikey(public_mb)
    assert key.public_key == public  # the published halves belong together
    return key, public


def _canonical(doc: dict, suite: str) -> bytes:
    """The bytes each cryptosuite hashes, computed exactly as certs.signing computes them."""
    return signing._rdfc(doc) if suite == signing.RDFC else signing._jcs(doc)


def test_every_published_file_is_used():
    used = {KEY_PAIR, *VECTOR_CONTEXTS.values()}.union(*(v.files() for v in VECTORS))
    assert {p for p in VC_DI_EDDSA.rglob("*") if p.is_file()} == used


@by_name
def test_intermediate_values(vector):
    unsigned = vector.unsigned_doc()
    config = vector.json("proofConfig")
    suite = config["cryptosuite"]
    canon_doc = _canonical(unsigned, suite)
    canon_config = _canonical(config, suite)
    assert canon_doc.decode("utf-8") == vector.text("canonDoc")
    assert canon_config.decode("utf-8") == vector.text("proofCanon")
    assert hashlib.sha256(canon_doc).hexdigest() == vector.text("docHash").strip()
    assert hashlib.sha256(canon_config).hexdigest() == vector.text("proofHash").strip()
    data = signing.hash_data(unsigned, config, suite)
    assert data.hex() == vector.text("combinedHash").strip()
    signature = _key_pair()[0].sign(data)
    assert signature.hex() == vector.text("sigHex").strip()
    assert encode_base58btc(signature) == vector.text("sigBTC58").strip()


@pytest.mark.parametrize("vector", [v for v in VECTORS if v.suffix == "DataInt"],
                         ids=lambda v: v.name)
def test_both_rdf_routes_give_the_published_canonical_document(vector):
    unsigned = vector.unsigned_doc()
    assert jsonld.canonize(unsigned) == vector.text("canonDoc")
    assert jsonld.canonize(unsigned, fast=False) == vector.text("canonDoc")


@by_name
def test_signing_reproduces_the_signed_credential(vector):
    config = vector.json("proofConfig")
    key, _ = _key_pair()
    assert key.verification_method == config["verificationMethod"]
    created = signing.parse_datetime(config["created"])
    signed = signing.sign(vector.unsigned_doc(), key, cryptosuite=config["cryptosuite"],
                          created=created, proof_purpose=config["proofPurpose"])
    assert signed == vector.json("signed")


@by_name
def test_signed_vector_verifies_at_the_signature_level(vector):
    signed = vector.json("signed")
    _, public = _key_pair()
    parts = signing.extract_proof(signed)
    assert parts.verify_data().hex() == vector.text("combinedHash").strip()
    assert signing.verify_signature(signed, public)
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["id"] = "did:example:someone-else"
    assert not signing.verify_signature(tampered, public)


@by_name
def test_full_verification_rejects_an_issuer_that_does_not_control_the_key(vector):
    signed = vector.json("signed")
    issuer = signed["issuer"]["id"] if isinstance(signed["issuer"], dict) else signed["issuer"]
    key, _ = _key_pair()
    assert issuer != key.did
    trusted = TrustStore()
    trusted.add_key(key.verification_method, key.public_key)
    verdict = verify(signed, trusted=trusted, require_status=False, now=NOW)
    assert not verdict.valid
    assert issuer in verdict.reason
    # control: the same credential issued by the key's controller is valid, so the issuer
    # is what the verifier refused
    own = vector.unsigned_doc()
    own["issuer"] = key.did if isinstance(own["issuer"], str) else {**own["issuer"], "id": key.did}
    resigned = signing.sign(own, key, cryptosuite=signed["proof"]["cryptosuite"],
                            created=signing.parse_datetime(signed["proof"]["created"]))
    assert verify(resigned, trusted=trusted, require_status=False, now=NOW).valid
