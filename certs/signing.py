"""Data Integrity proofs with the EdDSA cryptosuites ``eddsa-rdfc-2022`` and ``eddsa-jcs-2022``.

Both produce a ``DataIntegrityProof``::

    "proof": {
      "type": "DataIntegrityProof",
      "created": "2026-11-25T12:00:00Z",
      "verificationMethod": "did:web:certs.example.com#k1",
      "cryptosuite": "eddsa-rdfc-2022",
      "proofPurpose": "assertionMethod",
      "proofValue": "z<base58btc Ed25519 signature>"
    }

The signed bytes are ``SHA-256(canonical proof configuration) ‖ SHA-256(canonical document)``
where "canonical" is RDFC-1.0 N-Quads (rdfc; JSON-LD in safe mode, offline contexts) or
RFC 8785 JSON (jcs). For jcs the proof also carries the document's ``@context``, as the
cryptosuite specification requires.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785

try:  # optional accelerator for eddsa-jcs-2022 verification (a faithful JSON serializer)
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _HAVE_ORJSON = False
else:
    _HAVE_ORJSON = True

from errors import CertamenError, Kind

from . import jsonld
from .jsonld_errors import JsonLdError
from .keys import SigningKey, format_datetime, utcnow
from .multibase import MultibaseError, decode_base58btc, encode_base58btc

RDFC = "eddsa-rdfc-2022"
JCS = "eddsa-jcs-2022"
CRYPTOSUITES = (RDFC, JCS)
PROOF_TYPE = "DataIntegrityProof"


class ProofError(CertamenError, ValueError):
    """The proof is missing or malformed (the document is not a secured document)."""

    kind = Kind.MALFORMED


class UnsupportedCryptosuite(ProofError):
    """The proof uses a type / cryptosuite this implementation does not verify."""


class CanonicalizationError(CertamenError, ValueError):
    """The document cannot be canonicalized safely (so no signature can cover it)."""


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _jcs(value: Any) -> bytes:
    try:
        return rfc8785.dumps(value)
    except Exception as exc:  # rfc8785 raises several types for unrepresentable values
        raise CanonicalizationError(f"JCS canonicalization failed: {exc}") from None


def sort_keys_jcs(value: Any) -> Any:
    """A copy of a JSON value with object members in RFC 8785 order (UTF-16 code units)."""
    if isinstance(value, dict):
        return {k: sort_keys_jcs(value[k])
                for k in sorted(value, key=lambda k: k.encode("utf-16-be"))}
    if isinstance(value, list):
        return [sort_keys_jcs(v) for v in value]
    return value


# (no circular-reference bookkeeping: JSON parsed from text cannot be circular, and a
# circular Python structure ends in RecursionError, which is handled)
_AS_IS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                          check_circular=False)
_SORTED = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                           sort_keys=True, check_circular=False)


def _faithful_json(encoder: json.JSONEncoder | None, value: Any) -> bytes | None:
    try:
        if encoder is None:
            return _orjson.dumps(value)
        return encoder.encode(value).encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError, RecursionError, OverflowError):
        return None
    except Exception:  # orjson.JSONEncodeError and the like
        return None


# None stands for orjson (only there when it is installed)
_FAST_ENCODERS = ((None,) if _HAVE_ORJSON else ()) + (_AS_IS, _SORTED)
JCS_ACCELERATED = _HAVE_ORJSON


def _rdfc(doc: dict[str, Any]) -> bytes:
    try:
        return jsonld.canonize(doc).encode("utf-8")
    except JsonLdError as exc:
        raise CanonicalizationError(str(exc)) from None
    except (RecursionError, MemoryError):
        raise CanonicalizationError("document too complex to canonicalize") from None


def hash_data(unsecured: dict[str, Any], proof_config: dict[str, Any], cryptosuite: str) -> bytes:
    """The 64 bytes that are signed: H(proof config) ‖ H(document)."""
    if cryptosuite == RDFC:
        return _sha256(_rdfc(proof_config)) + _sha256(_rdfc(unsecured))
    if cryptosuite == JCS:
        return _sha256(_jcs(proof_config)) + _sha256(_jcs(unsecured))
    raise UnsupportedCryptosuite(f"unsupported cryptosuite {cryptosuite!r}")


def sign(
    document: dict[str, Any],
    key: SigningKey,
    *,
    cryptosuite: str = RDFC,
    created: datetime | None = None,
    proof_purpose: str = "assertionMethod",
) -> dict[str, Any]:
    """Return a copy of ``document`` secured with a DataIntegrityProof made with ``key``."""
    if cryptosuite not in CRYPTOSUITES:
        raise UnsupportedCryptosuite(f"unsupported cryptosuite {cryptosuite!r}")
    if not isinstance(document, dict) or "@context" not in document:
        raise ValueError("document must be a JSON-LD object with an @context")
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    config: dict[str, Any] = {
        "type": PROOF_TYPE,
        "created": format_datetime(created or utcnow()),
        "verificationMethod": key.verification_method,
        "cryptosuite": cryptosuite,
        "proofPurpose": proof_purpose,
    }
    if cryptosuite == RDFC:
        data = hash_data(unsecured, {"@context": document["@context"], **config}, RDFC)
        proof = dict(config)
        proof["proofValue"] = encode_base58btc(key.sign(data))
        return {**unsecured, "proof": proof}
    config["@context"] = document["@context"]
    data = hash_data(unsecured, config, JCS)
    proof = dict(config)
    proof["proofValue"] = encode_base58btc(key.sign(data))
    # a JCS-secured document is returned in canonical member order: its JSON text is then
    # the signed form, and verifiers hit their fast path
    secured: dict[str, Any] = sort_keys_jcs({**unsecured, "proof": proof})
    return secured


@dataclass(slots=True)
class ProofParts:
    """A secured document split into what the verifier needs."""

    proof: dict[str, Any]
    unsecured: dict[str, Any]
    cryptosuite: str
    verification_method: str
    proof_purpose: str
    created: datetime | None
    signature: bytes

    def verify_data(self) -> bytes:
        """Recompute the signed bytes (raises CanonicalizationError if impossible)."""
        config, unsecured = self._inputs()
        return hash_data(unsecured, config, self.cryptosuite)

    def verify_data_candidates(self) -> Iterator[bytes]:
        """Candidate signed bytes, cheapest first; the last one is always the exact form.

        For eddsa-jcs-2022, verification only needs *a* serialization whose hash matches the
        signed one: Python's JSON encoder is faithful (distinct JSON values never serialize
        to the same text), so if its output hashes to the signed hash, the document is the
        one that was signed. The document is first serialized as is (JCS-secured documents
        are issued in canonical member order), then with sorted keys, and only then — when
        member order or number formatting differ from RFC 8785 — in the exact RFC 8785 form
        (``rfc8785`` package) before a signature is declared invalid.
        Raises CanonicalizationError when not even the exact form can be computed."""
        config, unsecured = self._inputs()
        if self.cryptosuite == RDFC:
            yield hash_data(unsecured, config, RDFC)
            return
        seen: set[bytes] = set()
        fast_config = _faithful_json(_FAST_ENCODERS[0], config)
        if fast_config is not None:
            config_hash = _sha256(fast_config)
            for encoder in _FAST_ENCODERS:
                doc = _faithful_json(encoder, unsecured)
                if doc is not None:
                    data = config_hash + _sha256(doc)
                    if data not in seen:
                        seen.add(data)
                        yield data
        exact = hash_data(unsecured, config, JCS)
        if exact not in seen:
            yield exact

    def _inputs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        config = {k: v for k, v in self.proof.items() if k != "proofValue"}
        unsecured = self.unsecured
        if "@context" in config:
            pctx = config["@context"]
            pctx = pctx if isinstance(pctx, list) else [pctx]
            dctx = unsecured.get("@context")
            dctx = dctx if isinstance(dctx, list) else [dctx]
            if dctx[: len(pctx)] != pctx:
                raise CanonicalizationError("document @context does not start with proof @context")
            if self.cryptosuite == RDFC and pctx != dctx:
                raise CanonicalizationError("proof @context differs from the document @context")
            if unsecured.get("@context") != config["@context"]:
                unsecured = {**unsecured, "@context": config["@context"]}
        elif self.cryptosuite == RDFC:
            config = {"@context": unsecured.get("@context"), **config}
        return config, unsecured


_DATETIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?")


def parse_datetime(value: Any) -> datetime | None:
    """Parse an XML Schema dateTime (``2026-01-15T10:00:00Z``); None if not one.
    A missing timezone is read as UTC."""
    if type(value) is not str or len(value) > 64:
        return None
    if len(value) == 20 and value[19] == "Z" and value.isascii() and value[10] == "T" \
            and value[4] == "-" and value[7] == "-" and value[13] == ":" and value[16] == ":" \
            and (value[:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16]
                 + value[17:19]).isdigit():
        try:  # the usual form, e.g. 2026-01-15T10:00:00Z
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    m = _DATETIME_RE.fullmatch(value)
    if not m:
        return None
    tz = m.group(8)
    if tz and tz != "Z" and (int(tz[1:3]) > 14 or int(tz[4:6]) > 59):
        return None
    frac = m.group(7)
    if frac and len(frac) > 7:  # fromisoformat takes at most 6 fractional digits
        value = value[: m.start(7) + 7] + value[m.end(7):]
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def extract_proof(document: Any) -> ProofParts:
    """Split a secured document; raises ProofError / UnsupportedCryptosuite when malformed."""
    if not isinstance(document, dict):
        raise ProofError("not a JSON object")
    proof = document.get("proof")
    if isinstance(proof, list):
        if len(proof) != 1:
            raise ProofError("exactly one proof is supported" if proof else "empty proof")
        proof = proof[0]
    if proof is None:
        raise ProofError("no proof")
    if not isinstance(proof, dict):
        raise ProofError("proof is not an object")
    ptype = proof.get("type")
    if ptype != PROOF_TYPE:
        raise UnsupportedCryptosuite(f"unsupported proof type {ptype!r}")
    suite = proof.get("cryptosuite")
    if suite not in CRYPTOSUITES:
        raise UnsupportedCryptosuite(f"unsupported cryptosuite {suite!r}")
    vm = proof.get("verificationMethod")
    if not isinstance(vm, str) or "#" not in vm:
        raise ProofError("proof.verificationMethod must be a DID URL with a fragment")
    purpose = proof.get("proofPurpose")
    if not isinstance(purpose, str):
        raise ProofError("proof.proofPurpose missing")
    created = None
    if "created" in proof:
        created = parse_datetime(proof["created"])
        if created is None:
            raise ProofError("proof.created is not a valid dateTime")
    pv = proof.get("proofValue")
    if not isinstance(pv, str):
        raise ProofError("proof.proofValue missing")
    try:
        sig = decode_base58btc(pv)
    except MultibaseError as exc:
        raise ProofError(f"proof.proofValue: {exc}") from None
    if len(sig) != 64:
        raise ProofError("proof.proofValue is not a 64-byte Ed25519 signature")
    unsecured = dict(document)
    del unsecured["proof"]
    return ProofParts(proof=proof, unsecured=unsecured, cryptosuite=suite,
                      verification_method=vm, proof_purpose=purpose, created=created,
                      signature=sig)


def verify_signature(document: dict[str, Any], public_key: bytes) -> bool:
    """Low-level check: does ``document``'s proof verify under the raw Ed25519 ``public_key``?
    (No issuer/trust/date/status checks — use :func:`certs.verify.verify` for that.)"""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        parts = extract_proof(document)
        key = Ed25519PublicKey.from_public_bytes(public_key)
        for data in parts.verify_data_candidates():
            try:
                key.verify(parts.signature, data)
                return True
            except InvalidSignature:
                continue
        return False
    except (ProofError, CanonicalizationError, ValueError):
        return False


__all__ = [
    "RDFC", "JCS", "CRYPTOSUITES", "sign", "hash_data", "extract_proof", "verify_signature",
    "ProofParts", "ProofError", "UnsupportedCryptosuite", "CanonicalizationError",
    "parse_datetime",
]
