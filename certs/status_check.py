"""The credential's status entries, checked against the Bitstring Status List credentials they
point to: each list is verified (issuer, key, dates) and its bits read; a list verified once is
cached by its URL and proof value, so a verification service does not re-verify it per credential.
"""
from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .credential_check import NOT_IN_FORM, check_proof, check_structure
from .keys import TrustStore
from .nquads import is_absolute_iri
from .status_list import BitstringStatusList, StatusListError, decode_status_list_credential
from .verdict import Check, Status, Verdict, _Stop, format_day

log = logging.getLogger(__name__)

StatusResolver = Callable[[str], "dict[str, Any] | None"]


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
            list_issuer, vf, vu = check_structure(doc, tmp_checks)
        except _Stop as stop:
            raise StatusListError(f"status list credential: {stop.reason}") from None
        tmp_verdict = Verdict(Status.NOT_A_CREDENTIAL, "")
        try:
            parts, _key = check_proof(doc, list_issuer, trusted, tmp_checks, tmp_verdict)
        except _Stop as stop:
            raise StatusListError(f"status list credential: {stop.reason}") from None
        # only a signed list is read: a forged one is reported as such, not as a malformed list
        purpose, bits = decode_status_list_credential(doc)
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


def check_status(cred: dict[str, Any], issuer: str, trusted: TrustStore, resolver: StatusResolver | None,
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
                verdict.revoked_at = when if when.tzinfo else when.replace(tzinfo=UTC)
        if meaning == "revoked" and verdict.revoked_at is None and lst.valid_from:
            verdict.notes.append(f"Revoked on or before {format_day(lst.valid_from)} "
                                 "(date of the status list)")
        text = "Revoked" if meaning == "revoked" else "Suspended"
        if meaning == "revoked" and verdict.revoked_at:
            text += f" on {format_day(verdict.revoked_at)}"
        checks.append(Check("status", False, f"{text} (status list {url}, index {index})"))
        new = Status.REVOKED if meaning == "revoked" else Status.SUSPENDED
        if outcome is None or outcome is Status.STATUS_UNAVAILABLE or (
                new is Status.REVOKED and outcome is Status.SUSPENDED):
            outcome = new
    return outcome
