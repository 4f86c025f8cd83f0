"""Certificate facts → W3C VC 2.0 credential that is also an Open Badges 3.0 OpenBadgeCredential.

Mapping of certificate facts onto the (fixed) vocabulary of VC 2.0 + OB 3.0.3 — only terms
defined by those two contexts are used, so the credential canonicalizes in JSON-LD safe mode:

===============================  ===========================================================
certificate id / URL             ``id``
learner name                     ``credentialSubject.name``
learner e-mail                   ``credentialSubject.identifier[]``: IdentityObject with a
                                 salted SHA-256 ``identityHash`` (never the plain address)
exam                             ``credentialSubject.achievement`` (Achievement: id, name,
                                 description, ``criteria.narrative``, ``version``,
                                 ``humanCode``, content areas as ``tag``,
                                 ``achievementType`` "Certification"; the issuer is
                                 not repeated as ``creator``: duplicated statements would
                                 let parts of the JSON be removed without changing the
                                 signed RDF graph)
certifying body                  ``issuer`` Profile (id = issuer DID, name, url, email)
scheme name / version            ``achievement.alignment[]`` (targetFramework / targetCode,
                                 when a scheme URL is known) and ``description``
scope                            ``achievement.fieldOfStudy`` and ``description``
score / theta (optional)         ``credentialSubject.result[]`` + ``achievement.resultDescription[]``
validFrom / validUntil           ``validFrom`` / ``validUntil``; ``awardedDate`` = issue time
previous credential (renewal)    ``evidence[]`` (Evidence, genre "Renewal of certification")
status list entry                ``credentialStatus`` (one BitstringStatusListEntry, purpose
                                 "message": valid / suspended / revoked in two bits)
===============================  ===========================================================
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from errors import CertamenError

from .contexts import CREDENTIALS_V2, OB_V3_CONTEXT
from .keys import KeyStore, SigningKey, format_datetime
from .nquads import is_absolute_iri
from .signing import RDFC, parse_datetime, sign
from .status_list import status_entry

CREDENTIAL_CONTEXT = [CREDENTIALS_V2, OB_V3_CONTEXT]
CREDENTIAL_TYPE = ["VerifiableCredential", "OpenBadgeCredential"]
RENEWAL_GENRE = "Renewal of certification"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_NO_NL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Issuer:
    """The certifying body. ``did`` is the issuer DID (e.g. ``KeyStore.did``)."""

    did: str
    name: str
    url: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Achievement:
    """The exam / achievement certified."""

    id: str                      # stable URL of the achievement (exam definition)
    name: str
    description: str
    criteria: str                # criteria narrative (how the certificate is earned)
    content_areas: Sequence[str] = ()
    version: str | None = None
    code: str | None = None      # short human code, e.g. "SMRC-FL"


@dataclass(frozen=True)
class StatusRef:
    """The entry reserved for this credential in the status list credential at ``list_url``."""

    list_url: str
    index: int


@dataclass(frozen=True)
class CertificateFacts:
    certificate_id: str          # credential id: URL (or urn:uuid:...) of the certificate
    learner_name: str
    learner_email: str
    exam: Achievement
    issuer: Issuer
    scheme_name: str
    scheme_version: str
    scope: str
    valid_from: datetime
    valid_until: datetime | None = None
    status: StatusRef | None = None          # its entry in the (message) status list
    score: float | int | None = None
    score_label: str = "Scaled score"
    theta: float | None = None
    previous_credential_id: str | None = None
    scheme_url: str | None = None
    awarded: datetime | None = None          # awardedDate; defaults to valid_from
    email_salt: str | None = None            # the e-mail hash's secret salt; random unless given
    extra_tags: Sequence[str] = field(default_factory=tuple)


class CredentialError(CertamenError, ValueError):
    """The certificate facts cannot be turned into a credential."""


# --------------------------------------------------------------------------- identity hash


def normalize_email(email: str) -> str:
    return email.strip().lower()


def identity_hash(email: str, salt: str) -> str:
    """OB IdentityHash of an e-mail address: ``sha256$`` + hex(SHA-256(normalized email ‖ salt)).
    The address is normalized (trimmed, lower-cased) before hashing."""
    return "sha256$" + hashlib.sha256((normalize_email(email) + salt).encode("utf-8")).hexdigest()


def email_identity(email: str, salt: str | None = None) -> dict[str, Any]:
    """The holder's e-mail address as an OB IdentityObject, hashed with a salt that is *not*
    published: work addresses are guessable from a name and an employer, so a hash whose salt sits
    next to it would hide nothing. The issuer keeps the salt (:meth:`certs.keys.KeyStore.identity_salt`)
    and can confirm an address for the holder; without one the salt is random and discarded."""
    if not isinstance(email, str) or "@" not in email or _CONTROL_NO_NL.search(email):
        raise CredentialError("learner e-mail address is not valid")
    salt = salt if salt is not None else secrets.token_hex(16)
    return {
        "type": "IdentityObject",
        "identityHash": identity_hash(email, salt),
        "identityType": "emailAddress",
        "hashed": True,
    }


def email_matches(credential: dict[str, Any], email: str, salt: str) -> bool:
    """Does ``email`` match one of the credential subject's hashed e-mail identities, given the
    issuer's salt for that credential? (Lets the issuer confirm a holder's address for an employer.)
    Credentials issued with the salt published carry it, and that one is used."""
    try:
        ids = credential["credentialSubject"].get("identifier") or []
        ids = ids if isinstance(ids, list) else [ids]
        for ident in ids:
            if (isinstance(ident, dict) and ident.get("identityType") == "emailAddress"
                    and ident.get("hashed") is True and isinstance(ident.get("identityHash"), str)):
                used = ident["salt"] if isinstance(ident.get("salt"), str) else salt
                if hmac.compare_digest(identity_hash(email, used), ident["identityHash"]):
                    return True
    except (AttributeError, KeyError, TypeError):
        return False
    return False


# --------------------------------------------------------------------------- builder


def _text(value: Any, what: str, *, multiline: bool = False, max_len: int = 2000) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CredentialError(f"{what} is required")
    if (_CONTROL if multiline else _CONTROL_NO_NL).search(value):
        raise CredentialError(f"{what} contains control characters")
    if len(value) > max_len:
        raise CredentialError(f"{what} is too long")
    return value.strip()


def _url(value: Any, what: str) -> str:
    if not is_absolute_iri(value):
        raise CredentialError(f"{what} must be an absolute URL / IRI (got {value!r})")
    return value


def _aware(dt: datetime, what: str) -> datetime:
    if not isinstance(dt, datetime):
        raise CredentialError(f"{what} must be a datetime")
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def _fmt_number(value: float | int, digits: int | None = None) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise CredentialError("score / theta must be a number")
    if digits is not None:
        return f"{value:.{digits}f}"
    if float(value).is_integer():
        return str(int(value))
    return format(value, ".10g")


def _fragment_id(base: str, name: str) -> str:
    return base + ("-" if "#" in base else "#") + name


def build_credential(facts: CertificateFacts) -> dict[str, Any]:
    """The unsigned credential (sign with :func:`certs.signing.sign` or use
    :func:`issue_credential`)."""
    f = facts
    exam, issuer = f.exam, f.issuer
    cert_id = _url(f.certificate_id, "certificate_id")
    did = _url(issuer.did, "issuer.did")
    exam_id = _url(exam.id, "exam.id")
    valid_from = _aware(f.valid_from, "valid_from")
    valid_until = _aware(f.valid_until, "valid_until") if f.valid_until is not None else None
    if valid_until is not None and valid_until <= valid_from:
        raise CredentialError("valid_until must be after valid_from")
    awarded = _aware(f.awarded, "awarded") if f.awarded is not None else valid_from
    scheme = _text(f.scheme_name, "scheme_name", max_len=300)
    scheme_version = _text(f.scheme_version, "scheme_version", max_len=50)
    scope = _text(f.scope, "scope", multiline=True)
    exam_name = _text(exam.name, "exam.name", max_len=300)

    profile: dict[str, Any] = {"id": did, "type": ["Profile"],
                               "name": _text(issuer.name, "issuer.name", max_len=300)}
    if issuer.url:
        profile["url"] = _url(issuer.url, "issuer.url")
    if issuer.email:
        profile["email"] = _text(issuer.email, "issuer.email", max_len=300)

    achievement: dict[str, Any] = {
        "id": exam_id,
        "type": ["Achievement"],
        "achievementType": "Certification",
        "name": exam_name,
        "description": _text(exam.description, "exam.description", multiline=True),
        "criteria": {"narrative": _text(exam.criteria, "exam.criteria", multiline=True,
                                        max_len=10000)},
        "fieldOfStudy": scope,
    }
    if exam.version:
        achievement["version"] = _text(exam.version, "exam.version", max_len=50)
    if exam.code:
        achievement["humanCode"] = _text(exam.code, "exam.code", max_len=50)
    tags = [_text(t, "content area", max_len=300) for t in list(exam.content_areas)
            + list(f.extra_tags)]
    if tags:
        achievement["tag"] = tags
    # the scheme as an alignment (targetUrl is required; without a scheme URL the
    # achievement page, which describes the scheme, stands in)
    achievement["alignment"] = [{
        "type": ["Alignment"],
        "targetName": f"{scheme} (version {scheme_version})",
        "targetUrl": _url(f.scheme_url, "scheme_url") if f.scheme_url else exam_id,
        "targetFramework": scheme,
        "targetCode": scheme_version,
        "targetType": "ceterms:Credential",
    }]

    subject: dict[str, Any] = {
        "type": ["AchievementSubject"],
        "name": _text(f.learner_name, "learner_name", max_len=300),
        "identifier": [email_identity(f.learner_email, f.email_salt)],
        "achievement": achievement,
    }
    results, descriptions = [], []
    if f.score is not None:
        rd = _fragment_id(exam_id, "score")
        descriptions.append({"id": rd, "type": ["ResultDescription"],
                             "name": _text(f.score_label, "score_label", max_len=100),
                             "resultType": "ScaledScore"})
        results.append({"type": ["Result"], "resultDescription": rd,
                        "value": _fmt_number(f.score), "status": "Completed"})
    if f.theta is not None:
        rd = _fragment_id(exam_id, "theta")
        descriptions.append({"id": rd, "type": ["ResultDescription"],
                             "name": "Ability estimate (IRT theta)",
                             "resultType": "ext:AbilityEstimate"})
        results.append({"type": ["Result"], "resultDescription": rd,
                        "value": _fmt_number(f.theta, 3)})
    if results:
        achievement["resultDescription"] = descriptions
        subject["result"] = results

    description = (f"{exam_name}: certified under the {scheme} certification scheme, "
                   f"version {scheme_version}. Scope: {scope}")
    cred: dict[str, Any] = {
        "@context": list(CREDENTIAL_CONTEXT),
        "id": cert_id,
        "type": list(CREDENTIAL_TYPE),
        "name": exam_name,
        "description": description,
        "issuer": profile,
        "validFrom": format_datetime(valid_from),
    }
    if valid_until is not None:
        cred["validUntil"] = format_datetime(valid_until)
    cred["awardedDate"] = format_datetime(awarded)
    cred["credentialSubject"] = subject
    if f.previous_credential_id:
        prev = _url(f.previous_credential_id, "previous_credential_id")
        cred["evidence"] = [{
            "id": prev,
            "type": ["Evidence"],
            "name": "Previous certificate",
            "description": f"This certificate renews {prev}.",
            "genre": RENEWAL_GENRE,
        }]
    if f.status is not None:
        cred["credentialStatus"] = status_entry(_url(f.status.list_url, "status list URL"), f.status.index)
    return cred


def issue_credential(
    facts: CertificateFacts,
    signer: KeyStore | SigningKey,
    *,
    cryptosuite: str = RDFC,
    created: datetime | None = None,
) -> dict[str, Any]:
    """Build and sign a certificate credential with the issuer's active key."""
    key = signer.active_key() if isinstance(signer, KeyStore) else signer
    if key.did != facts.issuer.did:
        raise CredentialError(f"signing key belongs to {key.did}, credential issuer is "
                              f"{facts.issuer.did}")
    return sign(build_credential(facts), key, cryptosuite=cryptosuite, created=created)


# --------------------------------------------------------------------------- summary


def _get(obj: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def credential_summary(credential: Any) -> dict[str, Any]:
    """Learner / exam facts for display (HR verification page). Never raises; fields that
    are absent or malformed are ``None``. Display only what :func:`certs.verify.verify`
    vouched for."""
    c = credential if isinstance(credential, dict) else {}
    subject = c.get("credentialSubject")
    if isinstance(subject, list):
        subject = subject[0] if subject else None
    ach = _get(subject, "achievement")
    issuer = c.get("issuer")
    issuer_id = _s(issuer) if not isinstance(issuer, dict) else _s(issuer.get("id"))
    issuer_name = _s(issuer.get("name")) if isinstance(issuer, dict) else None
    align = _get(ach, "alignment")
    align = align[0] if isinstance(align, list) and align and isinstance(align[0], dict) else {}
    results = _get(subject, "result")
    results = results if isinstance(results, list) else []
    descs = _get(ach, "resultDescription")
    descs = {d.get("id"): d for d in descs if isinstance(d, dict)} if isinstance(descs, list) else {}
    score = theta = None
    for r in results:
        if not isinstance(r, dict):
            continue
        d = descs.get(r.get("resultDescription"), {})
        if d.get("resultType") == "ScaledScore":
            score = _s(r.get("value"))
        elif d.get("resultType") == "ext:AbilityEstimate":
            theta = _s(r.get("value"))
    evidence = c.get("evidence")
    evidence = evidence if isinstance(evidence, list) else [evidence] if evidence else []
    previous = next((_s(e.get("id")) for e in evidence
                     if isinstance(e, dict) and e.get("genre") == RENEWAL_GENRE), None)
    tags = _get(ach, "tag")
    tags = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else (
        [tags] if isinstance(tags, str) else [])
    vf, vu = parse_datetime(c.get("validFrom")), parse_datetime(c.get("validUntil"))
    return {
        "certificate_id": _s(c.get("id")),
        "learner_name": _s(_get(subject, "name")),
        "exam_name": _s(_get(ach, "name")),
        "exam_id": _s(_get(ach, "id")),
        "exam_version": _s(_get(ach, "version")),
        "exam_code": _s(_get(ach, "humanCode")),
        "exam_description": _s(_get(ach, "description")),
        "criteria": _s(_get(ach, "criteria", "narrative")),
        "content_areas": tags,
        "scope": _s(_get(ach, "fieldOfStudy")),
        "scheme_name": _s(align.get("targetFramework")),
        "scheme_version": _s(align.get("targetCode")),
        "issuer_id": issuer_id,
        "issuer_name": issuer_name,
        "issuer_url": _s(issuer.get("url")) if isinstance(issuer, dict) else None,
        "valid_from": format_datetime(vf) if vf else None,
        "valid_until": format_datetime(vu) if vu else None,
        "awarded": _s(c.get("awardedDate")),
        "score": score,
        "theta": theta,
        "previous_credential_id": previous,
        "description": _s(c.get("description")),
    }


__all__ = [
    "CertificateFacts", "Achievement", "Issuer", "StatusRef", "CredentialError", "build_credential",
    "issue_credential", "credential_summary", "email_identity", "identity_hash", "email_matches",
    "normalize_email", "CREDENTIAL_CONTEXT",
]
