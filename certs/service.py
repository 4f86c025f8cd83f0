"""Certificates over the database: issue on a pass, renew, suspend/revoke, publish status, verify."""
from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certs.credential import Achievement, CertificateFacts, Issuer, StatusRef, issue_credential
from certs.errors import CertificateError, IssuanceRefused
from certs.keys import KeyStore, TrustStore
from certs.policy import (
    CertificateState,
    PolicyDecision,
    RecertPolicy,
    evaluate,
    initial_expiry,
    renewal_expiry,
)
from certs.policy import (
    PolicyChange as PolicyRule,
)
from certs.resits import barred_reason, barring_certificate
from certs.signing import sign
from certs.status_list import (
    MESSAGE,
    PURPOSES,
    STATUS_SIZE,
    STATUS_VALUES,
    allocate_index,
    build_status_list_credential,
    index_probes,
    new_list,
)
from certs.verdict import Verdict
from certs.verify import verify
from errors import Kind
from item_bank import audit
from item_bank.content import area_titles
from item_bank.rescoring import rederive_sitting
from storage import (
    AuditEvent,
    Candidate,
    Certificate,
    Employee,
    Exam,
    Organisation,
    PolicyChange,
    Sitting,
    as_utc,
    utcnow,
)

__all__ = ["CertificateError", "IssuanceRefused"]  # re-exported: callers import them from here


@dataclass
class IssuerSettings:
    """Who issues, where things are published. `public_url` is the app's external base URL."""

    public_url: str
    name: str
    keys: KeyStore
    expiring_soon_days: int = 30

    def status_list_url(self, purpose: str) -> str:
        return f"{self.public_url}/status/{purpose}"

    def certificate_url(self, cert_id: str) -> str:
        return f"{self.public_url}/certificates/{cert_id}"

    def verify_url(self, cert_id: str) -> str:
        return f"{self.public_url}/verify/{cert_id}"

    def exam_url(self, exam_id: str) -> str:
        return f"{self.public_url}/exams/{exam_id}"


def new_certificate_id() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode().rstrip("=")[:12]
    return "-".join(raw[i:i + 4] for i in range(0, 12, 4))


def policy_of(exam: Exam, expiring_soon_days: int = 30) -> RecertPolicy:
    return RecertPolicy(validity_months=exam.validity_months, recert_window_days=exam.recert_window_days,
                        grace_days=exam.grace_days, expiring_soon_days=expiring_soon_days)


def _policy_rules(db: Session, exam_id: str) -> list[PolicyRule]:
    rows = db.execute(select(PolicyChange).where(PolicyChange.exam_id == exam_id)).scalars()
    return [PolicyRule(min_exam_version=str(r.min_exam_version), deadline=as_utc(r.deadline)) for r in rows]


def status_of(db: Session, cert: Certificate, *, now: datetime | None = None,
              expiring_soon_days: int = 30) -> PolicyDecision:
    state = CertificateState(valid_until=as_utc(cert.valid_until), exam_version=str(cert.exam_version),
                             revoked=cert.revoked_at is not None, suspended=cert.suspended_at is not None)
    return evaluate(state, policy_of(cert.exam, expiring_soon_days), now or utcnow(), _policy_rules(db, cert.exam_id))


def current_certificate(db: Session, candidate_id: int, exam_id: str) -> Certificate | None:
    """The candidate's latest certificate for an exam (renewed or re-earned ones are not current)."""
    return db.execute(
        select(Certificate).where(Certificate.candidate_id == candidate_id, Certificate.exam_id == exam_id,
                                  Certificate.is_current.is_(True))
    ).scalar_one_or_none()


def renewable_certificate(db: Session, candidate_id: int, recert_exam: Exam, *,
                          now: datetime | None = None) -> Certificate:
    """The certificate a recertification exam would renew, or a CertificateError saying why not."""
    certified = db.execute(
        select(Exam).where(Exam.recert_exam_id == recert_exam.id, Exam.kind == "full")
    ).scalars().all()
    best: Certificate | None = None
    reason = "you hold no certificate that this recertification exam renews; take the full exam"
    for exam in certified:
        cert = current_certificate(db, candidate_id, exam.id)
        if cert is None:
            continue
        decision = status_of(db, cert, now=now)
        if decision.renewal_allowed:
            if best is None or cert.valid_until > best.valid_until:
                best = cert
        else:
            reason = f"your certificate {cert.id} cannot be renewed now: {decision.renewal_reason}"
    if best is None:
        raise CertificateError(reason)
    return best


STATUS_INDEX_PROBES = 16


def _free_status_index(db: Session) -> int:
    """A random unused status-list index. Random probes, checked in one query, find one while the list
    is not nearly full; reading every used index (a row per certificate ever issued) is the fallback.
    Two issues racing for one index meet the unique constraint."""
    probes = index_probes(STATUS_INDEX_PROBES)
    taken = set(db.execute(select(Certificate.status_index).where(Certificate.status_index.in_(probes))).scalars())
    free = [i for i in probes if i not in taken]
    if free:
        return free[0]
    return allocate_index(set(db.execute(select(Certificate.status_index)).scalars()))


def issue_for_session(db: Session, session_id: str, settings: IssuerSettings, *,
                      now: datetime | None = None) -> Certificate | None:
    """Issue (once) the certificate a passed sitting earns; None when it earns none. IssuanceRefused when
    the stored pass is not what the sitting's record derives, or a withdrawn certificate bars it."""
    existing = db.execute(select(Certificate).where(Certificate.session_id == session_id)).scalar_one_or_none()
    if existing is not None:
        return existing
    sitting = db.get(Sitting, session_id)
    if sitting is None or sitting.state != "completed" or sitting.decision != "pass":
        return None
    _refuse_unless_earned(db, sitting)
    now = now or utcnow()
    sat = sitting.exam
    previous: Certificate | None = None
    if sat.kind == "recertification":
        previous = renewable_certificate(db, sitting.candidate_id, sat, now=now)
        certified = previous.exam
        valid_until = renewal_expiry(status_of(db, previous, now=now).effective_expiry, policy_of(certified))
    else:
        certified = sat
        valid_until = initial_expiry(now, policy_of(certified))
    candidate: Candidate = sitting.candidate
    index = _free_status_index(db)
    cert_id = new_certificate_id()
    info = certified.certificate_info or {}
    titles = area_titles()
    facts = CertificateFacts(
        certificate_id=settings.certificate_url(cert_id),
        learner_name=candidate.name,
        learner_email=candidate.email,
        exam=Achievement(
            id=settings.exam_url(certified.id),
            name=certified.title,
            description=certified.description,
            criteria=info.get("criteria", "Passed the adaptive certification exam."),
            content_areas=tuple(titles.get(a, a) for a in certified.areas),
            version=str(certified.version),
            code=info.get("code"),
        ),
        issuer=Issuer(did=settings.keys.did, name=settings.name, url=settings.public_url),
        scheme_name=info.get("scheme_name", certified.title),
        scheme_version=info.get("scheme_version", str(certified.version)),
        scope=info.get("scope", certified.description),
        valid_from=now,
        valid_until=valid_until,
        status=StatusRef(settings.status_list_url(MESSAGE), index),
        previous_credential_id=previous.credential.get("id") if previous else None,
        email_salt=settings.keys.identity_salt(settings.certificate_url(cert_id)),
        scheme_url=settings.exam_url(certified.id),
    )
    credential = issue_credential(facts, settings.keys, cryptosuite=certified.cryptosuite)
    cert = Certificate(
        id=cert_id,
        candidate_id=candidate.id,
        exam_id=certified.id,
        exam_version=certified.version,
        session_id=sitting.id,
        kind="renewal" if previous else "initial",
        previous_id=previous.id if previous else None,
        organisation=_enrolled_in(db, candidate.id),
        issued_at=now,
        valid_from=now,
        valid_until=valid_until,
        status_index=index,
        cryptosuite=certified.cryptosuite,
        verification_method=credential["proof"]["verificationMethod"],
        credential=credential,
    )
    db.execute(update(Certificate).where(Certificate.candidate_id == candidate.id, Certificate.exam_id == certified.id,
                                         Certificate.is_current.is_(True)).values(is_current=False))
    db.add(cert)
    try:
        db.flush()  # a racing request for the same sitting, or an index clash, stops here
    except IntegrityError:
        raise CertificateError("the certificate is being issued by another request; reload") from None
    if previous is not None:
        previous.superseded_by = cert.id
    audit.record(db, actor="system", kind="certificate.issue", subject=f"certificate:{cert.id}",
                 data={"session": sitting.id, "exam": certified.id, "kind": cert.kind, "previous": cert.previous_id,
                       "valid_until": valid_until.isoformat(), "key": cert.verification_method})
    return cert


REFUSED_KIND = "certificate.refused"


def _refuse_unless_earned(db: Session, sitting: Sitting) -> None:
    """A certificate rests on what the sitting recorded -- its answers replayed under its rules -- never on
    the row's decision alone, and is not issued while a suspended or revoked certificate bars the exam."""
    derived = rederive_sitting(db, sitting.id)
    if not derived.confirms(sitting.decision):
        raise IssuanceRefused(
            "no certificate: this sitting's stored result does not follow from its recorded answers and rules; "
            "the refusal has been recorded for the administrators",
            session_id=sitting.id, reason="record_disagrees",
            details={"stored": sitting.decision, "derived": derived.decision, "problems": derived.problems[:10]})
    barring = barring_certificate(db, sitting.candidate_id, sitting.exam)
    if barring is not None:
        raise IssuanceRefused(f"no certificate: {barred_reason(barring, sitting.exam)}", session_id=sitting.id,
                              reason="withdrawn_certificate", details={"certificate": barring.id})


def record_refusal(db: Session, refused: IssuanceRefused) -> None:
    """Audit a refused issuance once per sitting and reason (the result page asks again on every visit)."""
    subject = f"issuance:{refused.session_id}"
    earlier = db.execute(select(AuditEvent.data).where(AuditEvent.kind == REFUSED_KIND,
                                                       AuditEvent.subject == subject)).scalars()
    if any(isinstance(data, dict) and data.get("reason") == refused.reason for data in earlier):
        return
    audit.record(db, actor="system", kind=REFUSED_KIND, subject=subject,
                 data={"session": refused.session_id, "reason": refused.reason, **refused.details})


def change_status(db: Session, cert_id: str, action: str, *, reason: str, actor: str) -> Certificate:
    """Suspend, reinstate (lift a suspension) or revoke (final); every change is audited."""
    cert = db.get(Certificate, cert_id)
    if cert is None:
        raise CertificateError(f"no certificate {cert_id!r}", kind=Kind.NOT_FOUND)
    reason = (reason or "").strip()
    if not reason:
        raise CertificateError("a reason is required", kind=Kind.INVALID)
    now = utcnow()
    if cert.revoked_at is not None:
        raise CertificateError(f"certificate {cert_id} is revoked; revocation is final")
    if action == "revoke":
        cert.revoked_at = now
    elif action == "suspend":
        if cert.suspended_at is not None:
            raise CertificateError(f"certificate {cert_id} is already suspended")
        cert.suspended_at = now
    elif action == "reinstate":
        if cert.suspended_at is None:
            raise CertificateError(f"certificate {cert_id} is not suspended")
        cert.suspended_at = None
    else:
        raise CertificateError(f"unknown action {action!r} (suspend, reinstate or revoke)", kind=Kind.INVALID)
    cert.status_reason = reason
    audit.record(db, actor=actor, kind=f"certificate.{action}", subject=f"certificate:{cert.id}",
                 data={"reason": reason})
    return cert


# ---------------------------------------------------------------- status lists

# A status list is signed for a day (validUntil), so a copy kept offline goes stale and is refused rather
# than vouching for a certificate revoked since; it is re-signed when its bits or the key change, or when
# half of its validity is gone.
STATUS_LIST_TTL = timedelta(days=1)
# (purpose, bits, key) -> (list, validUntil)
_signed_lists: dict[tuple[str, str, str], tuple[dict[str, Any], datetime]] = {}
_lists_lock = threading.Lock()


def status_list_credential(db: Session, purpose: str, settings: IssuerSettings) -> dict[str, Any]:
    """The signed list for `purpose`, re-signed only when its bits (or the signing key) change.

    Status-list indexes are unique across all certificates, so every list holds every certificate's
    state: a certificate reads only the list(s) its credential names (one "message" list since the
    single-entry form; "revocation" and "suspension" for certificates issued before it)."""
    if purpose not in PURPOSES:
        raise CertificateError(f"no status list {purpose!r}", kind=Kind.NOT_FOUND)
    bits = new_list(purpose)
    rows = db.execute(select(Certificate.status_index, Certificate.revoked_at.is_not(None),
                             Certificate.suspended_at.is_not(None))
                      .where(or_(Certificate.revoked_at.is_not(None), Certificate.suspended_at.is_not(None))))
    for index, revoked, suspended in rows:
        if purpose == MESSAGE:
            bits.set_value(index, STATUS_VALUES["revoked" if revoked else "suspended"], STATUS_SIZE)
        elif revoked if purpose == "revocation" else suspended:
            bits.set(index)
    key = settings.keys.active_key()
    cache_key = (purpose, hashlib.sha256(bits.to_bytes()).hexdigest(), key.public_key.hex())
    now = utcnow()
    with _lists_lock:
        cached = _signed_lists.get(cache_key)
    if cached is None or cached[1] - STATUS_LIST_TTL / 2 < now:
        valid_until = now + STATUS_LIST_TTL
        unsigned = build_status_list_credential(list_url=settings.status_list_url(purpose), issuer=settings.keys.did,
                                                purpose=purpose, status_list=bits, valid_from=now,
                                                valid_until=valid_until)
        cached = (sign(unsigned, key, cryptosuite="eddsa-rdfc-2022"), valid_until)
        with _lists_lock:
            _signed_lists[cache_key] = cached
    return cached[0]


# ---------------------------------------------------------------- verification


def verify_credential(db: Session, credential: Any, settings: IssuerSettings, *, now: datetime | None = None,
                      trusted: TrustStore | None = None) -> Verdict:
    """Verify any credential against this issuer's keys and its live status lists."""
    urls = {settings.status_list_url(p): p for p in PURPOSES}

    def resolve(url: str) -> dict[str, Any] | None:
        purpose = urls.get(url)
        return status_list_credential(db, purpose, settings) if purpose else None

    return verify(credential, trusted=trusted or settings.keys.trust_store(), status_resolver=resolve, now=now,
                  revocation_date=lambda credential_id: _revoked_at(db, credential_id))


def _revoked_at(db: Session, credential_id: Any) -> datetime | None:
    if not isinstance(credential_id, str):
        return None
    cert = db.get(Certificate, credential_id.rstrip("/").rsplit("/", 1)[-1][:40])
    return as_utc(cert.revoked_at) if cert is not None and cert.revoked_at is not None else None


def _enrolled_in(db: Session, candidate_id: int) -> str | None:
    """The organisations that have enrolled the holder, as the certificate records them: an employer's
    enrolment, never the name a learner typed at registration."""
    names = db.scalars(select(Organisation.name).join(Employee, Employee.organisation_id == Organisation.id)
                       .where(Employee.candidate_id == candidate_id, Employee.active.is_(True))
                       .order_by(Organisation.name)).all()
    return ", ".join(names)[:200] or None


# ---------------------------------------------------------------- listings


def certificate_row(db: Session, cert: Certificate, *, now: datetime | None = None) -> dict[str, Any]:
    decision = status_of(db, cert, now=now)
    return {
        "certificate_id": cert.id,
        "name": cert.candidate.name,
        "email": cert.candidate.email,
        "organisation": cert.organisation,
        "exam_id": cert.exam_id,
        "exam": cert.exam.title,
        "kind": cert.kind,
        "issued": as_utc(cert.issued_at).date().isoformat(),
        "valid_until": decision.effective_expiry.date().isoformat(),
        "status": decision.status,
        "days_remaining": decision.days_remaining,
        "renewal_allowed": decision.renewal_allowed,
        "renewal_note": decision.renewal_reason,
        "revoked_at": as_utc(cert.revoked_at).isoformat() if cert.revoked_at else None,
        "suspended_at": as_utc(cert.suspended_at).isoformat() if cert.suspended_at else None,
        "status_reason": cert.status_reason,
    }


def candidate_certificates(db: Session, candidate_id: int, *, now: datetime | None = None) -> list[dict[str, Any]]:
    rows = db.execute(select(Certificate).where(Certificate.candidate_id == candidate_id)
                      .order_by(Certificate.issued_at.desc())).scalars()
    return [certificate_row(db, c, now=now) | {"superseded_by": c.superseded_by} for c in rows]


def certificate_listing(db: Session, *, organisation_id: int | None = None, within_days: int = 30,
                        now: datetime | None = None) -> list[dict[str, Any]]:
    """Each person's current certificate per exam, classified: valid, expiring, lapsed, withdrawn; with
    `organisation_id`, of the people that organisation enrolled only."""
    query = select(Certificate).where(Certificate.superseded_by.is_(None)).order_by(Certificate.valid_until)
    if organisation_id is not None:
        query = query.where(Certificate.candidate_id.in_(
            select(Employee.candidate_id).where(Employee.organisation_id == organisation_id)))
    rows = []
    for cert in db.execute(query).scalars():
        row = certificate_row(db, cert, now=now)
        if row["status"] in ("revoked", "suspended"):
            row["group"] = "withdrawn"
        elif row["status"] == "expired":
            row["group"] = "lapsed"
        elif row["days_remaining"] <= within_days:
            row["group"] = "expiring"
        else:
            row["group"] = "valid"
        rows.append(row)
    return rows


def add_policy_change(db: Session, exam_id: str, min_exam_version: int, deadline: datetime, reason: str,
                      actor: str) -> PolicyChange:
    if db.get(Exam, exam_id) is None:
        raise CertificateError(f"no exam {exam_id!r}", kind=Kind.NOT_FOUND)
    change = PolicyChange(exam_id=exam_id, min_exam_version=min_exam_version, deadline=as_utc(deadline), reason=reason)
    db.add(change)
    db.flush()
    audit.record(db, actor=actor, kind="certificate.policy_change", subject=f"exam:{exam_id}",
                 data={"min_exam_version": min_exam_version, "deadline": as_utc(deadline).isoformat(),
                       "reason": reason})
    return change

