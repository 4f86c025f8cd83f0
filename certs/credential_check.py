"""The checks every signed credential goes through, a certificate or the status list it points to:
the issuer's form and VC 2.0 structure, then the Data Integrity proof, the issuer's trust and the
signing key's status. A failed check stops the verification with its status and reason.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .form import FormError, check_form
from .keys import KeyStatus, TrustedKey, TrustStore
from .multibase import MultibaseError, ed25519_public_from_multikey
from .nquads import is_absolute_iri
from .signing import (
    CanonicalizationError,
    ProofError,
    ProofParts,
    UnsupportedCryptosuite,
    extract_proof,
    parse_datetime,
)
from .verdict import Check, Status, Verdict, _Stop, format_day

NOT_IN_FORM = "not a certificate in the expected form"


def _issuer_id(cred: dict[str, Any]) -> str:
    issuer = cred.get("issuer")
    if type(issuer) is dict:
        issuer = issuer.get("id")
    if not is_absolute_iri(issuer):
        raise _Stop(Status.NOT_A_CREDENTIAL, "issuer must be a URL (or an object with one as id)")
    return issuer


_ABSENT = object()
_STRUCTURE_OK = Check("structure", True, "Well-formed W3C Verifiable Credential 2.0")


def check_structure(cred: dict[str, Any], checks: list[Check]) -> tuple[str, datetime | None, datetime | None]:
    try:
        check_form(cred)
    except FormError as exc:
        raise _Stop(Status.NOT_A_CREDENTIAL, f"{NOT_IN_FORM}: {exc}") from None
    types = cred.get("type")
    if not (types == "VerifiableCredential"
            or (type(types) is list and "VerifiableCredential" in types)):
        raise _Stop(Status.NOT_A_CREDENTIAL, 'type must include "VerifiableCredential"')
    issuer = _issuer_id(cred)
    subject = cred.get("credentialSubject")
    for s in (subject if type(subject) is list else (subject,)) if subject else (None,):
        if type(s) is not dict or not s:
            raise _Stop(Status.NOT_A_CREDENTIAL, "credentialSubject must be a non-empty object")
        if "id" in s and not is_absolute_iri(s["id"]):
            raise _Stop(Status.NOT_A_CREDENTIAL, "credentialSubject.id must be a URL")
    if "id" in cred and not is_absolute_iri(cred["id"]):
        raise _Stop(Status.NOT_A_CREDENTIAL, "credential id must be a URL")
    valid_from = valid_until = None
    if "validFrom" in cred:
        valid_from = parse_datetime(cred["validFrom"])
        if valid_from is None:
            raise _Stop(Status.NOT_A_CREDENTIAL, "validFrom is not a valid dateTime")
    if "validUntil" in cred:
        valid_until = parse_datetime(cred["validUntil"])
        if valid_until is None:
            raise _Stop(Status.NOT_A_CREDENTIAL, "validUntil is not a valid dateTime")
    statuses = cred.get("credentialStatus", _ABSENT)
    if statuses is not _ABSENT:
        for cs in statuses if type(statuses) is list else (statuses,):
            if type(cs) is not dict or not cs.get("type"):
                raise _Stop(Status.NOT_A_CREDENTIAL, "credentialStatus entries must have a type")
            if "id" in cs and not is_absolute_iri(cs["id"]):
                raise _Stop(Status.NOT_A_CREDENTIAL, "credentialStatus.id must be a URL")
    if "proof" not in cred:
        raise _Stop(Status.NOT_A_CREDENTIAL, "no proof: the document is not signed")
    checks.append(_STRUCTURE_OK)
    return issuer, valid_from, valid_until


def _verify_with(parts: ProofParts, key: TrustedKey | Ed25519PublicKey) -> str | None:
    """None if the signature verifies, else a reason."""
    verifier = key._verifier if isinstance(key, TrustedKey) else key
    try:
        for data in parts.verify_data_candidates():
            try:
                verifier.verify(parts.signature, data)
                return None
            except InvalidSignature:
                continue
    except CanonicalizationError as exc:
        return f"the signed content cannot be canonicalized ({exc})"
    return "the signature does not match"


def check_proof(cred: dict[str, Any], issuer: str, trusted: TrustStore | None, checks: list[Check],
                 verdict: Verdict) -> tuple[ProofParts, TrustedKey]:
    try:
        parts = extract_proof(cred)
    except UnsupportedCryptosuite as exc:
        raise _Stop(Status.UNSUPPORTED_CRYPTOSUITE, str(exc)) from None
    except ProofError as exc:
        raise _Stop(Status.NOT_A_CREDENTIAL, f"malformed proof: {exc}") from None
    verdict.cryptosuite = parts.cryptosuite
    vm = parts.verification_method
    verdict.verification_method = vm
    if parts.proof_purpose != "assertionMethod":
        raise _Stop(Status.SIGNATURE_INVALID,
                    f'proof purpose "{parts.proof_purpose}" is not assertionMethod')
    if vm.split("#", 1)[0] != issuer:
        raise _Stop(Status.SIGNATURE_INVALID,
                    f"signing key {vm} does not belong to the issuer {issuer}")
    key = trusted.key(vm) if trusted is not None else None
    if key is None:
        issuer_trusted = trusted is not None and trusted.is_trusted_issuer(issuer)
        if issuer_trusted:
            raise _Stop(Status.SIGNATURE_INVALID,
                        f"{vm} is not a known key of the issuer {issuer} (an outdated DID document?)")
        if issuer.startswith("did:key:"):
            # self-certifying: we can check the signature, but nobody vouches for the issuer
            mb = issuer[len("did:key:"):]
            if vm != f"{issuer}#{mb}":
                raise _Stop(Status.SIGNATURE_INVALID, f"{vm} is not the key of {issuer}")
            try:
                pub = Ed25519PublicKey.from_public_bytes(ed25519_public_from_multikey(mb))
            except (MultibaseError, ValueError):
                raise _Stop(Status.SIGNATURE_INVALID, f"{issuer} is not an Ed25519 did:key") \
                    from None
            problem = _verify_with(parts, pub)
            if problem:
                raise _Stop(Status.SIGNATURE_INVALID, f"Signature invalid: {problem}")
            checks.append(Check("signature", True,
                                f"Signature valid ({parts.cryptosuite}, key {vm})"))
        raise _Stop(Status.UNKNOWN_ISSUER,
                    f"issuer {issuer} is not a trusted certification body"
                    + (" (self-issued did:key)" if issuer.startswith("did:key:") else ""))
    verdict.key_status = key.status.value
    problem = _verify_with(parts, key)
    if problem:
        raise _Stop(Status.SIGNATURE_INVALID, f"Signature invalid: {problem}")
    if key.compromised_for(parts.created):
        since = (f" since {format_day(key.compromised_since)}" if key.compromised_since else "")
        raise _Stop(Status.COMPROMISED_KEY,
                    f"signed with key {vm}, which was withdrawn as compromised{since}")
    if key.retired_at is not None and key.retired_before(parts.created):
        raise _Stop(Status.SIGNATURE_INVALID,
                    f"signed with key {vm} after it was retired on {format_day(key.retired_at)}"
                    if parts.created else f"signed with retired key {vm} at an unknown time")
    checks.append(Check("signature", True, None, "Signature valid ({}, key {})",
                        (parts.cryptosuite, vm)))
    if key.status is KeyStatus.RETIRED:
        note = f"Signed with retired key {vm}; retired keys still verify the credentials they signed"
        checks.append(Check("key", None, note))
        verdict.notes.append(note)
    elif key.status is KeyStatus.COMPROMISED and key.compromised_since is not None and parts.created is not None:
        # (always both dates here: without them compromised_for() above would have stopped the check)
        note = (f"Key {vm} was later withdrawn as compromised from "
                f"{format_day(key.compromised_since)}; this proof was created before that "
                f"({format_day(parts.created)})")
        checks.append(Check("key", None, note))
        verdict.notes.append(note)
    return parts, key
