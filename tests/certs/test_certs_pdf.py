"""Certificate PDF: content, embedded credential round trip, QR code, error handling."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from certs.pdf import PdfCredentialError, extract_credential_from_pdf, render_certificate_pdf
from certs.verify import verify


@pytest.fixture
def signed(issuer):
    return issuer.issue()


def test_embed_and_extract_round_trip(issuer, signed):
    pdf = render_certificate_pdf(signed)
    assert pdf.startswith(b"%PDF-")
    back = extract_credential_from_pdf(pdf)
    assert back == signed
    assert verify(back, trusted=issuer.trust(), status_resolver=issuer.resolver).valid


def test_page_is_landscape_and_mentions_the_facts(signed):
    from io import BytesIO

    from pypdf import PdfReader

    reader = PdfReader(BytesIO(render_certificate_pdf(signed)))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert float(box.width) > float(box.height)
    text = reader.pages[0].extract_text()
    for needle in ("CERTIFICATE", "Social Media Risk", "CERT-00001", "Example Compliance Academy"):
        assert needle in text, needle
    assert reader.metadata.title.startswith("Social Media Risk")


def test_extract_errors(signed):
    pdf = render_certificate_pdf(signed)
    with pytest.raises(PdfCredentialError) as e:
        extract_credential_from_pdf(b"hello, I am not a PDF")
    assert e.value.code == "not_pdf"
    with pytest.raises(PdfCredentialError) as e:
        extract_credential_from_pdf(pdf[: len(pdf) // 2])
    assert e.value.code == "truncated"
    with pytest.raises(PdfCredentialError):
        extract_credential_from_pdf("not bytes")
    from io import BytesIO

    from reportlab.pdfgen import canvas

    buf = BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(100, 100, "plain")
    c.save()
    with pytest.raises(PdfCredentialError) as e:
        extract_credential_from_pdf(buf.getvalue())
    assert e.value.code == "no_credential"
    # damage that a tolerant reader repairs still yields the (signed) credential, or an error
    for mangled in (pdf.replace(b"/Root", b"/Rxxx"), pdf.replace(b"/EmbeddedFiles", b"/Nothing")):
        try:
            assert extract_credential_from_pdf(mangled) == signed
        except PdfCredentialError as exc:
            assert exc.code in ("corrupt", "no_credential")


def test_international_and_long_names_render(issuer):
    for name in ("李小龍", "Ωμέγα Ἀλφα", "Jean-Baptiste Marie-Christophe de la Tour d'Auvergne "
                 "Montmorency-Laval", "Zoë O'Brien-Łukasiewicz"):
        cred = issuer.issue(learner_name=name)
        assert extract_credential_from_pdf(render_certificate_pdf(cred))["credentialSubject"][
            "name"] == name


def test_unsigned_credential_refused(issuer):
    from certs.credential import build_credential

    with pytest.raises(ValueError):
        render_certificate_pdf(build_credential(issuer.facts()))


@pytest.mark.skipif(not (shutil.which("zbarimg") and shutil.which("pdftoppm")),
                    reason="zbarimg / pdftoppm (zbar-tools, poppler-utils) not installed")
def test_qr_code_reads_back(signed, tmp_path):
    url = "https://certs.example.test/verify/CERT-00001"
    (tmp_path / "c.pdf").write_bytes(render_certificate_pdf(signed, verification_url=url))
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile", str(tmp_path / "c.pdf"),
                    str(tmp_path / "c")], check=True)
    out = subprocess.run(["zbarimg", "-q", "--raw", str(tmp_path / "c.png")], capture_output=True,
                         text=True)
    assert out.stdout.strip() == url


def test_an_embedded_credential_with_a_repeated_key_is_refused(signed):
    """JSON parsers disagree on which of two equal keys wins: the verifier never guesses."""
    from io import BytesIO

    from pypdf import PdfWriter

    from certs.pdf import ATTACHMENT_NAME

    until = json.dumps(signed["validUntil"])
    text = json.dumps(signed).replace(f'"validUntil": {until}',
                                      f'"validUntil": {until}, "validUntil": "2999-01-01T00:00:00Z"', 1)
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_attachment(ATTACHMENT_NAME, text.encode())
    out = BytesIO()
    writer.write(out)
    with pytest.raises(PdfCredentialError, match="appears twice"):
        extract_credential_from_pdf(out.getvalue())


def _pdf_with_attachment(payload: bytes, *, compress: bool) -> bytes:
    from io import BytesIO

    from pypdf import PdfWriter

    from certs.pdf import ATTACHMENT_NAME

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_attachment(ATTACHMENT_NAME, payload)
    if compress:  # replace the embedded file's stream object by its FlateDecode form
        spec = writer._root_object["/Names"]["/EmbeddedFiles"]["/Names"][1].get_object()
        ref = spec["/EF"].raw_get("/F")
        writer._objects[ref.idnum - 1] = ref.get_object().flate_encode()
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_upload_cannot_inflate_to_megabytes(signed):
    """A 60 MB embedded file compresses to ~60 KB: the reader refuses it without inflating it all
    (pypdf's own default allows 75 MB per stream, for every anonymous upload)."""
    import tracemalloc

    bomb = _pdf_with_attachment(b" " * 60_000_000, compress=True)
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(PdfCredentialError) as err:
            extract_credential_from_pdf(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.code in ("too_large", "invalid_credential")
    assert peak < 20_000_000, peak
    # an embedded credential of a normal size still reads, compressed or not
    payload = json.dumps(signed).encode()
    assert extract_credential_from_pdf(_pdf_with_attachment(payload, compress=True)) == signed
    with pytest.raises(PdfCredentialError, match="larger than a credential"):
        extract_credential_from_pdf(_pdf_with_attachment(b" " * 300_000, compress=False))
