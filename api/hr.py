"""Verification (public: HR, auditors, anyone holding a certificate) and the organisation roster for
integrations (an hr token scoped to one organisation)."""
from __future__ import annotations

import json

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from api import limits
from api.auth import require_role
from api.services import issuer, unit_of_work
from certs.pdf import PdfCredentialError, extract_credential_from_pdf, render_certificate_pdf
from certs.service import status_list_credential, verify_credential
from errors import CertamenError, Kind
from organisations.exports import csv_stream, export_row
from organisations.staff import visible_organisation
from organisations.status import (
    ExamClock,
    PeopleFilter,
    cursor_after,
    page_of,
    read_cursor,
    status_counts,
)
from storage import Certificate, Organisation, utcnow
from storage.tenancy import scoped_to

bp = Blueprint("hr", __name__)

MAX_CREDENTIAL_BYTES = 256 * 1024  # a credential is a few KB; anything near this is not one


class VerificationInputError(CertamenError):
    """The submitted thing is not something we can even try to verify (a 4xx, not a verdict)."""

    kind = Kind.MALFORMED


def _credential_from_upload() -> tuple[object, bool]:
    """The credential from a pasted JSON text, a JSON body or an uploaded PDF/JSON file, and whether
    it came out of a PDF."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        data = upload.read(MAX_CREDENTIAL_BYTES * 40 + 1)
        if data[:5] == b"%PDF-" or upload.filename.lower().endswith(".pdf"):
            try:
                return extract_credential_from_pdf(data), True
            except PdfCredentialError as exc:
                raise VerificationInputError(f"{exc} ({exc.code})") from None
        return data, False
    if request.is_json:
        if request.content_length and request.content_length > MAX_CREDENTIAL_BYTES:
            raise VerificationInputError("the credential is too large to be one of ours")
        return request.get_data(), False
    text = request.form.get("credential", "")
    if not text.strip():
        raise VerificationInputError("paste the certificate's JSON or choose its PDF file")
    return text, False


def _verdict_for(credential: object) -> dict:
    if isinstance(credential, (bytes, str)) and len(credential) > MAX_CREDENTIAL_BYTES:
        raise VerificationInputError("the credential is too large to be one of ours")
    with unit_of_work() as db:
        return verify_credential(db, credential, issuer()).to_dict()


@bp.get("/verify")
def verify_page():
    return render_template("verify.html")


@bp.post("/verify")
@limits.verification
def verify_submit():
    try:
        credential, from_pdf = _credential_from_upload()
        verdict = _verdict_for(credential)
    except VerificationInputError as exc:
        return render_template("verify.html", error=str(exc)), 400
    return render_template("verdict.html", verdict=verdict, from_pdf=from_pdf)


@bp.get("/verify/<cert_id>")
@limits.verification
def verify_certificate(cert_id: str):
    """Where the QR code on a certificate points."""
    with unit_of_work() as db:
        cert = db.get(Certificate, cert_id[:40])
        if cert is None:
            abort(404, description="no certificate with that id was issued here")
        credential = cert.credential
    return render_template("verdict.html", verdict=_verdict_for(credential), cert_id=cert_id)


@bp.post("/api/v1/verify")
@limits.verification
def verify_api():
    try:
        credential, _from_pdf = _credential_from_upload()
    except VerificationInputError as exc:
        return jsonify(error=str(exc)), 400
    try:
        verdict = _verdict_for(credential)
    except VerificationInputError as exc:
        return jsonify(error=str(exc)), 413
    return jsonify(verdict)


@bp.get("/certificates/<cert_id>")
def certificate(cert_id: str):
    return redirect(url_for("hr.verify_certificate", cert_id=cert_id))


def _stored(cert_id: str) -> Certificate:
    with unit_of_work() as db:
        cert = db.get(Certificate, cert_id[:40])
        if cert is None:
            abort(404, description="no certificate with that id was issued here")
        return cert


@bp.get("/certificates/<cert_id>.json")
def certificate_json(cert_id: str):
    cert = _stored(cert_id)
    body = json.dumps(cert.credential, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="certificate-{cert.id}.json"'})


@bp.get("/certificates/<cert_id>.pdf")
def certificate_pdf(cert_id: str):
    cert = _stored(cert_id)
    pdf = render_certificate_pdf(cert.credential, verification_url=issuer().verify_url(cert.id))
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="certificate-{cert.id}.pdf"'})


@bp.get("/.well-known/did.json")
def did_document():
    return jsonify(issuer().keys.did_document())


@bp.get("/status/<purpose>")
def status_list(purpose: str):
    with unit_of_work() as db:
        return jsonify(status_list_credential(db, purpose, issuer()))


ROSTER_PAGE = 1000
ROSTER_MAX_PAGE = 5000


@bp.get("/api/v1/hr/roster")
@require_role("hr")
def hr_roster():
    """Every enrolled employee of the token's organisation with where they stand on each required exam,
    those with no certificate yet included. Pages follow `next` (keyset); `format=csv` streams them all."""
    slug = request.args.get("organisation", "")
    limit = request.args.get("limit", ROSTER_PAGE, type=int)
    if limit is None or not 1 <= limit <= ROSTER_MAX_PAGE:
        abort(400, description=f"'limit' must be a number from 1 to {ROSTER_MAX_PAGE}")
    people = _roster_filter()
    after = read_cursor(request.args.get("after"))
    with unit_of_work() as db:
        org = _token_organisation(db, slug)
        org_slug, org_id = org.slug, org.id
    if request.args.get("format") == "csv":
        return Response(stream_with_context(_csv_rows(org_id, people)), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{org_slug}-roster.csv"'})
    with unit_of_work() as db, scoped_to(db, org_id):
        clock = ExamClock.at(db, utcnow())
        rows = page_of(db, clock, people, after=after, size=limit)
        counts = status_counts(db, clock, people) if after is None else None
    last = rows[-1] if len(rows) == limit else None
    return jsonify(organisation=org_slug, as_of=clock.now.isoformat(timespec="seconds"),
                   **({"counts": counts} if counts is not None else {}),
                   people=[export_row(r) for r in rows],
                   next=cursor_after(last) if last else None)


def _token_organisation(db, slug: str):
    """The organisation an hr token is scoped to; a platform admin's token names one with `organisation`."""
    viewer = g.viewer
    if viewer.platform_role == "admin":
        if not slug:
            abort(400, description="name the organisation: ?organisation=SLUG")
        return visible_organisation(db, viewer, slug)
    org_id = next(iter(viewer.roles), None)
    if org_id is None:
        abort(403, description="this token is not scoped to an organisation; create one with "
                               "`certamen token create --role hr --org SLUG`")
    org = db.get(Organisation, org_id)
    if slug and slug.strip().lower() != org.slug:
        abort(404, description="no such organisation")
    return org


def _roster_filter() -> PeopleFilter:
    return PeopleFilter(status=request.args.get("status") or None, exam_id=request.args.get("exam") or None,
                        include_left=request.args.get("include_left") in ("1", "true"))


def _csv_rows(org_id: int, people: PeopleFilter):
    with unit_of_work() as db, scoped_to(db, org_id):
        yield from csv_stream(db, ExamClock.at(db, utcnow()), people)
