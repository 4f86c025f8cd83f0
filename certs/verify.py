"""Verify a certificate credential: structure, proof, issuer trust, key status, dates, status lists.

``verify(credential, trusted=..., status_resolver=..., now=...) -> Verdict``

The verdict's ``status`` is one machine-readable word:

=========================  ====================================================================
``valid``                  everything checked out (``notes`` mention e.g. a retired key)
``expired``                signature fine, ``validUntil`` is in the past (``expired_at``)
``not_yet_valid``          signature fine, ``validFrom`` is in the future
``revoked``                the revocation bit is set (``revoked_at`` when known)
``suspended``              the suspension bit is set
``signature_invalid``      the proof does not verify (tampered, wrong key, key not the
                           issuer's, content JSON-LD would drop...)
``unknown_issuer``         issuer is not trusted (e.g. a self-made did:key "certificate")
``compromised_key``        signed with a key withdrawn as compromised
``not_a_credential``       not a (VC 2.0) credential: malformed JSON / structure, no proof
``unsupported_cryptosuite`` a proof type / cryptosuite this verifier does not handle
``status_unavailable``     the status list could not be obtained or verified
=========================  ====================================================================

``verify`` never raises and never says ``valid`` unless every check passed.
"""
from __future__ import annotations

import enum
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .credential import credential_summary
from .form import FormError, check_form, loads_strict
from .jsonld import is_absolute_iri
from .keys import KeyStatus, TrustedKey, TrustStore, format_datetime
from .multibase import MultibaseError, ed25519_public_from_multikey
from .signing import (
    CanonicalizationError, ProofError, ProofParts, UnsupportedCryptosuite, extract_proof,
    parse_datetime,
)
from .status_list import BitstringStatusList, StatusListError

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 2_000_000
NOT_IN_FORM = "not a certificate in the expected form"

StatusResolver = Callable[[str], "dict[str, Any] | None"]


class Status(str, enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    SIGNATURE_INVALID = "signature_invalid"
    UNKNOWN_ISSUER = "unknown_issuer"
    COMPROMISED_KEY = "compromised_key"
    NOT_A_CREDENTIAL = "not_a_credential"
    UNSUPPORTED_CRYPTOSUITE = "unsupported_cryptosuite"
    STATUS_UNAVAILABLE = "status_unavailable"

    def __str__(self) -> str:
        return self.value


class Check:
    """One checked fact. ``ok``: True passed, False failed, None informational.
    (The human-readable ``text`` is formatted when first read.)"""

    __slots__ = ("code", "ok", "_text", "_fmt", "_args")

    def __init__(self, code: str, ok: bool | None, text: str | None = None,
                 fmt: str | None = None, args: tuple[object, ...] = ()):
        self.code = code
        self.ok = ok
        self._text = text
        self._fmt = fmt
        self._args = args

    @property
    def text(self) -> str:
        if self._text is None:
            assert self._fmt is not None, "a Check is made with its text or the format for it"
            self._text = self._fmt.format(*[_day(a) if isinstance(a, datetime) else a
                                             for a in self._args])
        return self._text

    def __repr__(self) -> str:
        return f"Check({self.code!r}, {self.ok!r}, {self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Check) and (self.code, self.ok, self.text) == (
            other.code, other.ok, other.text)

    __hash__ = None  # type: ignore[assignment]


@dataclass
class Verdict:
    status: Status
    reason: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    issuer: str | None = None
    verification_method: str | None = None
    cryptosuite: str | None = None
    key_status: str | None = None        # active / retired / compromised (trusted keys only)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    expired_at: datetime | None = None
    revoked_at: datetime | None = None   # when known (or the list date, see notes)
    _source: Any = field(default=None, repr=False, compare=False)
    _summary: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def summary(self) -> dict[str, Any] | None:
        """Learner / exam facts for display — only when the issuer and signature checked out
        (computed on first access)."""
        if self._summary is None and self._source is not None:
            self._summary = credential_summary(self._source)
        return self._summary

    @property
    def valid(self) -> bool:
        return self.status is Status.VALID

    @property
    def facts(self) -> list[str]:
        """Human-readable checked facts, in order."""
        return [c.text for c in self.checks]

    def to_dict(self) -> dict[str, Any]:
        def dt(v: datetime | None) -> str | None:
            return format_datetime(v) if v else None

        return {
            "status": self.status.value,
            "valid": self.valid,
            "reason": self.reason,
            "checks": [{"code": c.code, "ok": c.ok, "text": c.text} for c in self.checks],
            "notes": list(self.notes),
            "summary": self.summary,
            "issuer": self.issuer,
            "verificationMethod": self.verification_method,
            "cryptosuite": self.cryptosuite,
            "keyStatus": self.key_status,
            "validFrom": dt(self.valid_from),
            "validUntil": dt(self.valid_until),
            "expiredAt": dt(self.expired_at),
            "revokedAt": dt(self.revoked_at),
        }


class _Stop(Exception):
    def __init__(self, status: Status, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _day(dt: datetime) -> str:
    if dt.utcoffset():
        dt = dt.astimezone(timezone.utc)
    return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"


def _as_now(now: Any) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if isinstance(now, datetime):
        return now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    if isinstance(now, date):
        return datetime(now.year, now.month, now.day, tzinfo=timezone.utc)
    if isinstance(now, str):
        parsed = parse_datetime(now)
        if parsed is None:
            raise ValueError("now: not a dateTime")
        return parsed
    raise TypeError("now must be a datetime")


def _types(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _parse_input(credential: Any) -> dict[str, Any]:
    if isinstance(credential, (bytes, bytearray, memoryview)):
        credential = bytes(credential)
        if len(credential) > MAX_JSON_BYTES:
            raise _Stop(Status.NOT_A_CREDENTIAL, "input too large")
        try:
            credential = credential.decode("utf-8")
        except UnicodeDecodeError:
            raise _Stop(Status.NOT_A_CREDENTIAL, "input is not UTF-8 JSON") from None
    if isinstance(credential, str):
        if len(credential) > MAX_JSON_BYTES:
            raise _Stop(Status.NOT_A_CREDENTIAL, "input too large")

        try:
            credential = loads_strict(credential)
        except FormError as exc:
            raise _Stop(Status.NOT_A_CREDENTIAL, f"{NOT_IN_FORM}: {exc}") from None
        except (ValueError, RecursionError) as exc:
            raise _Stop(Status.NOT_A_CREDENTIAL, f"not valid JSON ({exc.__class__.__name__})") \
                from None
    if not isinstance(credential, dict):
        raise _Stop(Status.NOT_A_CREDENTIAL, "not a JSON object")
    return credential


def _issuer_id(cred: dict[str, Any]) -> str:
    issuer = cred.get("issuer")
    if type(issuer) is dict:
        issuer = issuer.get("id")
    if not is_absolute_iri(issuer):
        raise _Stop(Status.NOT_A_CREDENTIAL, "issuer must be a URL (or an object with one as id)")
    return issuer


_ABSENT = object()
_STRUCTURE_OK = Check("structure", True, "Well-formed W3C Verifiable Credential 2.0")


def _check_structure(cred: dict[str, Any], checks: list[Check]) -> tuple[str, datetime | None, datetime | None]:
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


def _check_proof(cred: dict[str, Any], issuer: str, trusted: TrustStore | None, checks: list[Check],
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
        since = (f" since {_day(key.compromised_since)}" if key.compromised_since else "")
        raise _Stop(Status.COMPROMISED_KEY,
                    f"signed with key {vm}, which was withdrawn as compromised{since}")
    if key.retired_at is not None and key.retired_before(parts.created):
        raise _Stop(Status.SIGNATURE_INVALID,
                    f"signed with key {vm} after it was retired on {_day(key.retired_at)}"
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
                f"{_day(key.compromised_since)}; this proof was created before that "
                f"({_day(parts.created)})")
        checks.append(Check("key", None, note))
        verdict.notes.append(note)
    return parts, key


# --------------------------------------------------------------------------- status lists


@dataclass(frozen=True)
class _VerifiedList:
    issuer: str
    verification_method: str
    created: datetime | None
    valid_from: datetime | None
    valid_until: datetime | None
    purpose: str
    bits: BitstringStatusList
    public_key: bytes  # the key the proof was checked with: a cache hit must be for that same key


# How far in the future a status list's validFrom may be. An issuer signs a list when it is asked for
# it, so a list fetched during a verification can be stamped a second later than the moment the
# verification runs at (and a remote issuer's clock may run ahead of ours): such a list is the issuer's
# latest word, not a list "not yet valid".
STATUS_LIST_CLOCK_SKEW = timedelta(minutes=5)

_LIST_CACHE: OrderedDict[tuple[str, str | None], _VerifiedList] = OrderedDict()  # (url, proofValue)
_LIST_CACHE_LOCK = threading.Lock()
_LIST_CACHE_MAX = 256


def clear_status_list_cache() -> None:
    with _LIST_CACHE_LOCK:
        _LIST_CACHE.clear()


def _verify_status_list(url: str, doc: Any, issuer: str, trusted: TrustStore,
                        now: datetime) -> _VerifiedList:
    """Verify a BitstringStatusListCredential; raises StatusListError with a reason."""
    if not isinstance(doc, dict):
        raise StatusListError("status list credential is not a JSON object")
    if doc.get("id") != url:
        raise StatusListError("status list credential id does not match its URL")
    proof = doc.get("proof")
    pv = proof.get("proofValue") if isinstance(proof, dict) else None
    cache_key = (url, pv if isinstance(pv, str) else None)
    # (a hit returns what was verified for this exact proof value; eviction is first-in
    # first-out, which is enough for the handful of lists an issuer publishes)
    entry = _LIST_CACHE.get(cache_key) if cache_key[1] is not None else None
    if entry is None:
        tmp_checks: list[Check] = []
        try:
            list_issuer, vf, vu = _check_structure(doc, tmp_checks)
        except _Stop as stop:
            raise StatusListError(f"status list credential: {stop.reason}") from None
        if "BitstringStatusListCredential" not in _types(doc.get("type")):
            raise StatusListError("not a BitstringStatusListCredential")
        subject = doc.get("credentialSubject")
        if not isinstance(subject, dict) or subject.get("type") != "BitstringStatusList":
            raise StatusListError("credentialSubject is not a BitstringStatusList")
        purpose = subject.get("statusPurpose")
        if not isinstance(purpose, str):
            raise StatusListError("status list has no statusPurpose")
        tmp_verdict = Verdict(Status.NOT_A_CREDENTIAL, "")
        try:
            parts, _key = _check_proof(doc, list_issuer, trusted, tmp_checks, tmp_verdict)
        except _Stop as stop:
            raise StatusListError(f"status list credential: {stop.reason}") from None
        bits = BitstringStatusList.decode(subject.get("encodedList"))
        entry = _VerifiedList(list_issuer, parts.verification_method, parts.created, vf, vu,
                              purpose, bits, _key.public_key)
        with _LIST_CACHE_LOCK:
            _LIST_CACHE[cache_key] = entry
            while len(_LIST_CACHE) > _LIST_CACHE_MAX:
                _LIST_CACHE.popitem(last=False)
    # checks that depend on the moment / the current trust store: never cached
    if entry.issuer != issuer:
        raise StatusListError("status list was issued by a different issuer")
    key = trusted.key(entry.verification_method)
    if key is None:
        raise StatusListError(f"status list signed with {entry.verification_method}, a key the issuer's "
                              "DID document does not list (an outdated DID document?)")
    if key.public_key != entry.public_key:
        raise StatusListError("status list was not signed by the trusted key of that id")
    if key.compromised_for(entry.created):
        raise StatusListError("status list was signed with a compromised key")
    if key.retired_before(entry.created):
        raise StatusListError("status list was signed with a key after its retirement")
    if entry.valid_from is not None and entry.valid_from > now + STATUS_LIST_CLOCK_SKEW:
        raise StatusListError("status list credential is not yet valid")
    if entry.valid_until is not None and entry.valid_until < now:
        raise StatusListError("status list credential has expired (stale list)")
    return entry


# what each value of an entry means, by purpose; "message" entries name their values themselves
_ONE_BIT_MEANINGS = {"revocation": {0: "valid", 1: "revoked"}, "suspension": {0: "valid", 1: "suspended"}}
_NOT_LABEL = {"revocation": "revoked", "suspension": "suspended", "message": "revoked or suspended"}
_HEX = re.compile(r"0x[0-9a-fA-F]{1,2}\Z")


def _entry_meanings(entry: dict[str, Any], purpose: str) -> tuple[int, dict[int, str]] | None:
    """``(statusSize, {value: meaning})`` of a status entry; None for a purpose not understood."""
    if purpose in _ONE_BIT_MEANINGS:
        return 1, _ONE_BIT_MEANINGS[purpose]
    if purpose != "message":
        return None
    size = entry.get("statusSize", 1)
    messages = entry.get("statusMessage")
    if type(size) is not int or not 1 <= size <= 8 or type(messages) is not list:
        raise _Stop(Status.NOT_A_CREDENTIAL, "malformed BitstringStatusListEntry (statusSize / statusMessage)")
    meanings: dict[int, str] = {}
    for m in messages:
        status, message = (m.get("status"), m.get("message")) if type(m) is dict else (None, None)
        if type(status) is not str or not _HEX.match(status) or type(message) is not str \
                or int(status, 16) in meanings:
            raise _Stop(Status.NOT_A_CREDENTIAL, "malformed BitstringStatusListEntry (statusMessage)")
        meanings[int(status, 16)] = message
    return size, meanings


def _check_status(cred: dict[str, Any], issuer: str, trusted: TrustStore, resolver: StatusResolver | None,
                  now: datetime, require_status: bool, checks: list[Check],
                  verdict: Verdict, revocation_date: Callable[[str], datetime | None] | None
                  ) -> Status | None:
    raw = cred.get("credentialStatus")
    if raw is None:
        checks.append(Check("status", None, "No status list entry (cannot be revoked online)"))
        return None
    entries = raw if type(raw) is list else [raw]
    for e in entries:
        # every entry is read, none skipped: an entry this verifier cannot check makes the status
        # unavailable, and one spelled other than the issuer spells it is refused
        kind = e.get("type") if type(e) is dict else None
        if kind != "BitstringStatusListEntry":
            if type(kind) is list:
                raise _Stop(Status.NOT_A_CREDENTIAL,
                            f"{NOT_IN_FORM}: a status entry's type must be the string BitstringStatusListEntry")
            checks.append(Check("status", False, "Unsupported credentialStatus type"))
            return Status.STATUS_UNAVAILABLE
    outcome: Status | None = None
    for e in entries:
        purpose = e.get("statusPurpose")
        url = e.get("statusListCredential")
        idx = e.get("statusListIndex")
        if not isinstance(purpose, str) or not is_absolute_iri(url) or not (
                isinstance(idx, str) and idx.isascii() and idx.isdigit() and len(idx) < 12) \
                or e.get("id") == url:
            raise _Stop(Status.NOT_A_CREDENTIAL, "malformed BitstringStatusListEntry")
        index = int(idx)
        understood = _entry_meanings(e, purpose)
        if understood is None:
            checks.append(Check("status", False, f'Unsupported status purpose "{purpose}"'))
            outcome = outcome or Status.STATUS_UNAVAILABLE
            continue
        size, meanings = understood
        title = "Certificate" if purpose == "message" else purpose.capitalize()
        doc = None
        if resolver is not None:
            try:
                doc = resolver(url)
            except Exception as exc:  # resolver problems must not escape
                log.info("status list %s could not be resolved: %s", url, exc.__class__.__name__)
                doc = None
        if doc is None:
            if require_status:
                checks.append(Check("status", False, f"{title} status list {url} unavailable"))
                outcome = outcome or Status.STATUS_UNAVAILABLE
            else:
                checks.append(Check("status", None, f"{title} status NOT checked "
                                                    f"(list {url} not available)"))
                verdict.notes.append("Suspension and revocation were not checked")
            continue
        try:
            lst = _verify_status_list(url, doc, issuer, trusted, now)
            if lst.purpose != purpose:
                raise StatusListError(f'list purpose "{lst.purpose}" does not match "{purpose}"')
            value = lst.bits.value(index, size)  # raises for an index outside the list
        except StatusListError as exc:
            checks.append(Check("status", False, f"{title} status list {url} "
                                                 f"could not be verified: {exc}"))
            outcome = outcome or Status.STATUS_UNAVAILABLE
            continue
        meaning = meanings.get(value)
        if meaning == "valid":
            checks.append(Check("status", True, None, "Not {} (status list {}, index {})",
                                (_NOT_LABEL[purpose], url, index)))
            continue
        if meaning not in ("revoked", "suspended"):
            checks.append(Check("status", False, f"Status value {value:#x} in list {url} means "
                                                 f"{meaning!r}, which this verifier does not know"))
            outcome = outcome or Status.STATUS_UNAVAILABLE
            continue
        credential_id = cred.get("id")
        if meaning == "revoked" and revocation_date is not None and isinstance(credential_id, str):
            try:
                when = revocation_date(credential_id)
            except Exception:
                when = None
            if isinstance(when, datetime):
                verdict.revoked_at = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        if meaning == "revoked" and verdict.revoked_at is None and lst.valid_from:
            verdict.notes.append(f"Revoked on or before {_day(lst.valid_from)} "
                                 "(date of the status list)")
        text = "Revoked" if meaning == "revoked" else "Suspended"
        if meaning == "revoked" and verdict.revoked_at:
            text += f" on {_day(verdict.revoked_at)}"
        checks.append(Check("status", False, f"{text} (status list {url}, index {index})"))
        new = Status.REVOKED if meaning == "revoked" else Status.SUSPENDED
        if outcome is None or outcome is Status.STATUS_UNAVAILABLE or (
                new is Status.REVOKED and outcome is Status.SUSPENDED):
            outcome = new
    return outcome


# --------------------------------------------------------------------------- entry point


def _reason(final: Status, valid_from: datetime | None, valid_until: datetime | None) -> str:
    if final is Status.VALID:
        return "The certificate is valid"
    if final is Status.REVOKED:
        return "The certificate has been revoked"
    if final is Status.SUSPENDED:
        return "The certificate is suspended"
    if final is Status.EXPIRED:
        return f"The certificate expired on {_day(valid_until)}" if valid_until \
            else "The certificate has expired"
    if final is Status.NOT_YET_VALID:
        return f"The certificate is not valid before {_day(valid_from)}" if valid_from \
            else "The certificate is not yet valid"
    return "The revocation status could not be checked"


def verify(
    credential: Any,
    *,
    trusted: TrustStore | None,
    status_resolver: StatusResolver | None = None,
    now: datetime | date | str | None = None,
    require_status: bool = True,
    revocation_date: Callable[[str], datetime | None] | None = None,
) -> Verdict:
    """Verify a credential (a dict, or JSON text/bytes). Never raises.

    * ``trusted`` — the issuers / keys to trust (:meth:`certs.keys.KeyStore.trust_store`).
    * ``status_resolver(url)`` — returns the BitstringStatusListCredential (dict) published at
      ``url``, or None. With ``require_status`` (default) an unavailable list makes the verdict
      ``status_unavailable``; otherwise it is only noted.
    * ``now`` — the moment to verify at (default: the current time).
    * ``revocation_date(credential_id)`` — optional lookup of when a credential was revoked.
    """
    verdict = Verdict(Status.NOT_A_CREDENTIAL, "")
    checks = verdict.checks
    try:
        try:
            when = _as_now(now)
        except (TypeError, ValueError) as exc:
            raise _Stop(Status.NOT_A_CREDENTIAL, f"invalid verification time: {exc}") from None
        cred = _parse_input(credential)
        issuer, valid_from, valid_until = _check_structure(cred, checks)
        verdict.issuer = issuer
        verdict.valid_from, verdict.valid_until = valid_from, valid_until
        _check_proof(cred, issuer, trusted, checks, verdict)
        assert trusted is not None, "_check_proof stops every credential when nothing is trusted"
        checks.append(Check("issuer", True, None, "Issuer {} is a trusted certification body",
                            (issuer,)))
        verdict._source = cred  # summary computed lazily: the content is authentic

        date_status = None
        if valid_from is not None:
            if valid_from > when:
                checks.append(Check("validFrom", False, f"Not valid before {_day(valid_from)}"))
                date_status = Status.NOT_YET_VALID
            else:
                checks.append(Check("validFrom", True, None, "Valid from {}", (valid_from,)))
        if valid_until is not None:
            if when > valid_until:
                checks.append(Check("validUntil", False, f"Expired on {_day(valid_until)}"))
                date_status = date_status or Status.EXPIRED
                verdict.expired_at = valid_until
            else:
                checks.append(Check("validUntil", True, None, "Valid until {}", (valid_until,)))
        else:
            checks.append(Check("validUntil", None, "No expiry date"))

        status_outcome = _check_status(cred, issuer, trusted, status_resolver, when,
                                       require_status, checks, verdict, revocation_date)
        final: Status
        if status_outcome is Status.REVOKED or status_outcome is Status.SUSPENDED:
            final = status_outcome
        else:
            final = date_status or status_outcome or Status.VALID
        verdict.status = final
        verdict.reason = _reason(final, valid_from, valid_until)
        return verdict
    except _Stop as stop:
        verdict.status = stop.status
        verdict.reason = stop.reason
        verdict._source = None  # content not vouched for: no summary
        checks.append(Check(stop.status.value, False, stop.reason[0].upper() + stop.reason[1:]))
        return verdict
    except Exception:  # defensive: a verifier must answer, not crash
        log.exception("unexpected error while verifying a credential")
        return Verdict(Status.NOT_A_CREDENTIAL, "The document could not be processed",
                       checks=checks + [Check("error", False, "The document could not be processed")])


__all__ = ["verify", "Verdict", "Status", "Check", "TrustStore", "clear_status_list_cache"]
