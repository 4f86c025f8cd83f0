"""A suspended or revoked holder does not sit the exam again for a fresh certificate until staff say so.

Without this, suspending or revoking a certificate was undone by its holder in an hour: start the exam
again (or its recertification exam), pass, and a new valid certificate follows. Now starting such an
exam and issuing on it are refused, with the reason, while the candidate holds a certificate of the
exam -- or of a full exam that this recertification exam renews -- that is suspended or revoked, unless
staff have since reinstated it (suspension only; revocation is final) or recorded a re-sit allowance
(`allow_resit`: who and why, audited). An allowance covers the withdrawal in force when it was given; a
later suspension or revocation of the same certificate bars again.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from certs.errors import CertificateError
from errors import Kind
from item_bank import audit
from storage import Certificate, Exam, ResitAllowance, as_utc, utcnow

ALLOW_RESIT_KIND = "certificate.allow_resit"


def withdrawn_since(cert: Certificate) -> datetime | None:
    """When the certificate's current withdrawal began (the later of revocation and suspension)."""
    times = [as_utc(t) for t in (cert.revoked_at, cert.suspended_at) if t is not None]
    return max(times) if times else None


def barring_certificate(db: Session, candidate_id: int, exam: Exam) -> Certificate | None:
    """The candidate's suspended or revoked certificate that bars them from sitting `exam`, if any."""
    certified = select(Exam.id).where(or_(Exam.id == exam.id, Exam.recert_exam_id == exam.id))
    withdrawn = db.execute(
        select(Certificate).where(Certificate.candidate_id == candidate_id, Certificate.exam_id.in_(certified),
                                  or_(Certificate.revoked_at.is_not(None), Certificate.suspended_at.is_not(None)))
        .order_by(Certificate.issued_at)
    ).scalars().all()
    if not withdrawn:
        return None
    allowed = dict(db.execute(
        select(ResitAllowance.certificate_id, func.max(ResitAllowance.allowed_at))
        .where(ResitAllowance.certificate_id.in_([c.id for c in withdrawn]))
        .group_by(ResitAllowance.certificate_id)).all())
    for cert in withdrawn:
        allowed_at = allowed.get(cert.id)
        since = withdrawn_since(cert)  # never None here: the query took withdrawn certificates only
        if allowed_at is None or since is None or as_utc(allowed_at) < since:
            return cert
    return None


def barred_reason(cert: Certificate, exam: Exam) -> str:
    """What the learner is told: which certificate, its state and the reason staff gave, and the way out."""
    state = "revoked" if cert.revoked_at is not None else "suspended"
    way_out = "allows a re-sit" if state == "revoked" else "reinstates it or allows a re-sit"
    because = f" ({cert.status_reason})" if cert.status_reason else ""
    return (f"your certificate {cert.id} for {cert.exam.title} is {state}{because}; you cannot sit {exam.title} "
            f"for a new certificate until an administrator {way_out}")


def check_may_sit(db: Session, candidate_id: int, exam: Exam) -> None:
    """Refuses (CertificateError, 409) a new sitting of an exam a withdrawn certificate bars."""
    cert = barring_certificate(db, candidate_id, exam)
    if cert is not None:
        raise CertificateError(barred_reason(cert, exam))


def allow_resit(db: Session, cert_id: str, *, reason: str, actor: str) -> ResitAllowance:
    """Let the holder of a suspended or revoked certificate sit its exam again, with a recorded reason."""
    cert = db.get(Certificate, cert_id)
    if cert is None:
        raise CertificateError(f"no certificate {cert_id!r}", kind=Kind.NOT_FOUND)
    reason = (reason or "").strip()
    if not reason:
        raise CertificateError("a reason is required", kind=Kind.INVALID)
    if withdrawn_since(cert) is None:
        raise CertificateError(f"certificate {cert_id} is neither suspended nor revoked: nothing bars a re-sit")
    allowance = ResitAllowance(certificate_id=cert.id, allowed_by=actor, reason=reason[:2000], allowed_at=utcnow())
    db.add(allowance)
    db.flush()
    audit.record(db, actor=actor, kind=ALLOW_RESIT_KIND, subject=f"certificate:{cert.id}",
                 data={"allowance": allowance.id, "candidate": cert.candidate_id, "exam": cert.exam_id,
                       "reason": allowance.reason})
    return allowance
