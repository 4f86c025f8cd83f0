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

``verify`` never raises and never says ``valid`` unless every check passed. The checks are in
:mod:`certs.credential_check` (structure, proof, issuer, key) and :mod:`certs.status_check`
(status lists); the answer's types in :mod:`certs.verdict`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from .credential_check import NOT_IN_FORM, check_proof, check_structure
from .form import FormError, loads_strict
from .keys import TrustStore
from .signing import parse_datetime
from .status_check import StatusResolver, check_status
from .verdict import Check, Status, Verdict, _Stop, format_day

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 2_000_000


def _as_now(now: Any) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if isinstance(now, datetime):
        return now if now.tzinfo else now.replace(tzinfo=UTC)
    if isinstance(now, date):
        return datetime(now.year, now.month, now.day, tzinfo=UTC)
    if isinstance(now, str):
        parsed = parse_datetime(now)
        if parsed is None:
            raise ValueError("now: not a dateTime")
        return parsed
    raise TypeError("now must be a datetime")


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


# --------------------------------------------------------------------------- entry point


def _reason(final: Status, valid_from: datetime | None, valid_until: datetime | None) -> str:
    if final is Status.VALID:
        return "The certificate is valid"
    if final is Status.REVOKED:
        return "The certificate has been revoked"
    if final is Status.SUSPENDED:
        return "The certificate is suspended"
    if final is Status.EXPIRED:
        return f"The certificate expired on {format_day(valid_until)}" if valid_until \
            else "The certificate has expired"
    if final is Status.NOT_YET_VALID:
        return f"The certificate is not valid before {format_day(valid_from)}" if valid_from \
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
        issuer, valid_from, valid_until = check_structure(cred, checks)
        verdict.issuer = issuer
        verdict.valid_from, verdict.valid_until = valid_from, valid_until
        check_proof(cred, issuer, trusted, checks, verdict)
        assert trusted is not None, "check_proof stops every credential when nothing is trusted"
        checks.append(Check("issuer", True, None, "Issuer {} is a trusted certification body",
                            (issuer,)))
        verdict._source = cred  # summary computed lazily: the content is authentic

        date_status = None
        if valid_from is not None:
            if valid_from > when:
                checks.append(Check("validFrom", False, f"Not valid before {format_day(valid_from)}"))
                date_status = Status.NOT_YET_VALID
            else:
                checks.append(Check("validFrom", True, None, "Valid from {}", (valid_from,)))
        if valid_until is not None:
            if when > valid_until:
                checks.append(Check("validUntil", False, f"Expired on {format_day(valid_until)}"))
                date_status = date_status or Status.EXPIRED
                verdict.expired_at = valid_until
            else:
                checks.append(Check("validUntil", True, None, "Valid until {}", (valid_until,)))
        else:
            checks.append(Check("validUntil", None, "No expiry date"))

        status_outcome = check_status(cred, issuer, trusted, status_resolver, when,
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


__all__ = ["verify"]
