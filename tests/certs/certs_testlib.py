"""Helpers shared by the certs/ tests (imported by conftest.py and the test modules)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vcv_oracle import VCV, Vcv  # noqa: F401  (re-exported for the certs tests)

from certs.credential import Achievement, CertificateFacts, Issuer, StatusRef, build_credential, issue_credential
from certs.keys import KeyStore
from certs.signing import sign
from certs.status_list import STATUS_SIZE, STATUS_VALUES, build_status_list_credential, new_list, status_entry

REPO = Path(__file__).resolve().parents[2]
HOST = "certs.example.test"
STATUS_URL = f"https://{HOST}/status/message/1"
# the lists of certificates issued before the single-entry form (two entries, one bit each)
REV_URL = f"https://{HOST}/status/revocation/1"
SUS_URL = f"https://{HOST}/status/suspension/1"
LIST_URLS = {"message": STATUS_URL, "revocation": REV_URL, "suspension": SUS_URL}
NOW = datetime.now(UTC).replace(microsecond=0)


def make_facts(did: str, n: int = 1, **overrides) -> CertificateFacts:
    facts = CertificateFacts(
        certificate_id=f"https://{HOST}/c/CERT-{n:05d}",
        learner_name="Ada Łovelace",
        learner_email="ada@example.com",
        exam=Achievement(
            id=f"https://{HOST}/exams/smrc-frontline",
            name="Social Media Risk & Compliance — Front-line",
            description="Adaptive exam on social media risk for front-line staff.",
            criteria="Pass the adaptive exam at or above the cut score (θ ≥ 0.25).",
            content_areas=("Privacy", "Records retention", "Disclosure rules"),
            version="2.1",
            code="SMRC-FL",
        ),
        issuer=Issuer(did=did, name="Example Compliance Academy", url=f"https://{HOST}"),
        scheme_name="SMRC",
        scheme_version="2024.1",
        scope="Front-line staff of regulated financial services firms",
        valid_from=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=730),
        status=StatusRef(STATUS_URL, 100 + n),
        score=712,
        theta=0.842,
        email_salt="00112233445566778899aabbccddeeff",
    )
    return replace(facts, **overrides)


@dataclass
class IssuerEnv:
    keystore: KeyStore
    lists: dict = field(default_factory=dict)
    flags: dict = field(default_factory=dict)   # index -> {"revocation": bool, "suspension": bool}

    @property
    def did(self) -> str:
        return self.keystore.did

    def facts(self, n: int = 1, **overrides) -> CertificateFacts:
        return make_facts(self.did, n, **overrides)

    def issue(self, suite: str = "eddsa-rdfc-2022", n: int = 1, **overrides) -> dict:
        return issue_credential(self.facts(n, **overrides), self.keystore, cryptosuite=suite)

    def issue_legacy(self, suite: str = "eddsa-rdfc-2022", n: int = 1, **overrides) -> dict:
        """A certificate in the form issued before the single status entry: a revocation and a
        suspension entry, one bit each."""
        unsigned = build_credential(self.facts(n, **overrides))
        unsigned["credentialStatus"] = [status_entry(REV_URL, 100 + n, "revocation"),
                                        status_entry(SUS_URL, 100 + n, "suspension")]
        return sign(unsigned, self.keystore.active_key(), cryptosuite=suite)

    def bits(self, purpose: str):
        lst = new_list(purpose)
        for index, flags in self.flags.items():
            if purpose == "message":
                state = "revoked" if flags.get("revocation") else "suspended" if flags.get("suspension") else "valid"
                lst.set_value(index, STATUS_VALUES[state], STATUS_SIZE)
            elif flags.get(purpose):
                lst.set(index)
        return lst

    def publish_lists(self, suite: str = "eddsa-rdfc-2022", valid_from: datetime | None = None) -> None:
        for purpose, url in LIST_URLS.items():
            cred = build_status_list_credential(
                list_url=url, issuer=self.did, purpose=purpose, status_list=self.bits(purpose),
                valid_from=valid_from or NOW - timedelta(days=2))
            self.lists[url] = sign(cred, self.keystore.active_key(), cryptosuite=suite)

    def set_bit(self, purpose: str, index: int, value: bool = True) -> None:
        """Revoke / suspend (or undo) the certificate at ``index``, in every list."""
        self.flags.setdefault(index, {})[purpose] = value
        self.publish_lists()

    def resolver(self, url: str):
        return self.lists.get(url)

    def trust(self):
        return self.keystore.trust_store()


# ---------------------------------------------------------------- the independent verifier
