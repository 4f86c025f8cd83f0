"""Verification (public: HR, auditors, anyone holding a certificate) and the HR roster (role hr)."""
from __future__ import annotations

import csv
import io
import json

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for

from api import limits
from api.auth import require_role
from api.services import issuer, unit_of_work
from certs.pdf import PdfCredentialError, extract_credential_from_pdf, render_certificate_pdf
from certs.service import roster, status_list_credential, verify_credential
from errors import CertamenError, Kind
from storage import Certificate

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


ROSTER_COLUMNS = ("name", "email", "organisation", "exam", "certificate_id", "status", "group", "issued",
                  "valid_until", "days_remaining")


@bp.get("/api/v1/hr/roster")
@require_role("hr")
def hr_roster():
    organisation = request.args.get("organisation") or None
    within = request.args.get("within", 30, type=int)
    if within is None or not 0 <= within <= 3650:
        abort(400, description="'within' must be a number of days between 0 and 3650")
    with unit_of_work() as db:
        rows = roster(db, organisation, within_days=within)
    if request.args.get("format") == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=ROSTER_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            # A leading =, +, - or @ would make a spreadsheet run the cell as a formula.
            writer.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in "=+-@" else v) for k, v in row.items()})
        return Response(out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="certification-roster.csv"'})
    groups = {g: [r for r in rows if r["group"] == g] for g in ("valid", "expiring", "lapsed", "withdrawn")}
    return jsonify(organisation=organisation, within_days=within, counts={g: len(v) for g, v in groups.items()},
                   **groups)
