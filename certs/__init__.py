"""Signed, verifiable certificates: W3C Verifiable Credentials 2.0 / Open Badges 3.0.

The credential functions (keys, signing, verifying, status lists, PDF) take plain dataclasses / dicts and
return dicts, bytes or verdict objects, with no database; the issuance workflows (`service`, `records`,
`resits`, `checkpoints`, `key_lifecycle`) read and write the `storage` tables in the caller's transaction.

Typical use::

    from certs import (KeyStore, CertificateFacts, Achievement, Issuer, StatusRef,
                       issue_credential, render_certificate_pdf)
    from certs.verify import verify

    keys = KeyStore(key_dir, host="certs.example.com")   # key_dir outside the repository
    cred = issue_credential(facts, keys)     # eddsa-rdfc-2022 by default
    pdf = render_certificate_pdf(cred, verification_url=...)
    verdict = verify(cred, trusted=keys.trust_store(), status_resolver=lookup_list)

Modules: :mod:`certs.keys` (keys, DID documents, trust store), :mod:`certs.credential`
(facts → credential), :mod:`certs.signing` (Data Integrity proofs), :mod:`certs.status_list`
(Bitstring Status List), :mod:`certs.verify` (with :mod:`certs.verdict`,
:mod:`certs.credential_check`, :mod:`certs.status_check`), :mod:`certs.policy` (expiry /
recertification), :mod:`certs.pdf`, :mod:`certs.jsonld` (JSON-LD → RDF; with
:mod:`certs.contexts` (bundled offline contexts), :mod:`certs.jsonld_reference`,
:mod:`certs.nquads`, :mod:`certs.rdfc` (RDFC-1.0), :mod:`certs.jsonld_errors`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .credential import (
    Achievement,
    CertificateFacts,
    CredentialError,
    Issuer,
    StatusRef,
    build_credential,
    credential_summary,
    email_matches,
    issue_credential,
)
from .keys import (
    KeyInfo,
    KeyStatus,
    KeyStore,
    KeyStoreError,
    SigningKey,
    TrustStore,
    did_key_document,
    did_web_document_url,
    did_web_from_host,
    trust_store_for,
)
from .policy import (
    CertificateState,
    PolicyChange,
    PolicyDecision,
    RecertPolicy,
    evaluate,
    initial_expiry,
    renewal_expiry,
)
from .signing import JCS, RDFC, sign, verify_signature
from .status_list import (
    BitstringStatusList,
    StatusListError,
    allocate_index,
    build_status_list_credential,
    status_entry,
)
from .verdict import Check, Status, Verdict

# NB: the verify() function is not re-exported here — ``certs.verify`` stays the module
# (``from certs.verify import verify``).

_LAZY = {"render_certificate_pdf", "extract_credential_from_pdf", "PdfCredentialError"}

if TYPE_CHECKING:  # what __getattr__ loads on first use, for type checkers
    from .pdf import PdfCredentialError, extract_credential_from_pdf, render_certificate_pdf


def __getattr__(name: str) -> Any:
    # the PDF helpers pull in reportlab / pypdf: load them only when used
    if name in _LAZY:
        from . import pdf

        return getattr(pdf, name)
    raise AttributeError(f"module 'certs' has no attribute {name!r}")


__all__ = [
    # keys & trust
    "KeyStore", "KeyStoreError", "KeyStatus", "KeyInfo", "SigningKey", "TrustStore",
    "trust_store_for", "did_web_from_host", "did_web_document_url", "did_key_document",
    # credentials
    "CertificateFacts", "Achievement", "Issuer", "StatusRef", "CredentialError", "build_credential",
    "issue_credential", "credential_summary", "email_matches",
    # proofs
    "sign", "verify_signature", "RDFC", "JCS",
    # status lists
    "BitstringStatusList", "StatusListError", "build_status_list_credential", "status_entry",
    "allocate_index",
    # verification (the function: certs.verify.verify)
    "Verdict", "Status", "Check",
    # policy
    "RecertPolicy", "PolicyChange", "CertificateState", "PolicyDecision", "evaluate",
    "initial_expiry", "renewal_expiry",
    # pdf
    "render_certificate_pdf", "extract_credential_from_pdf", "PdfCredentialError",
]
