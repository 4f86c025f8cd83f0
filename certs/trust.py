"""What a verifier trusts: issuer DIDs and their Ed25519 keys, each with its lifecycle status.

Built from the issuer's own key store (:meth:`certs.keys.KeyStore.trust_store`) or from a published
DID document (offline verification). Key statuses:

* ``active``      — the key new credentials are signed with;
* ``retired``     — replaced by a rotation; verifies only proofs made before its retirement;
* ``compromised`` — withdrawn; proofs made with it are refused (all, or those from a given date).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .dates import parse_timestamp
from .multibase import ed25519_public_from_multikey


class KeyStatus(str, enum.Enum):
    ACTIVE = "active"
    RETIRED = "retired"
    COMPROMISED = "compromised"

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return self.value


@dataclass(frozen=True)
class TrustedKey:
    """A verification key the verifier knows, with its lifecycle status."""

    verification_method: str
    controller: str
    public_key: bytes
    status: KeyStatus = KeyStatus.ACTIVE
    compromised_since: datetime | None = None
    retired_at: datetime | None = None
    _verifier: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_verifier", Ed25519PublicKey.from_public_bytes(self.public_key))

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self._verifier.verify(signature, data)
            return True
        except InvalidSignature:
            return False

    def retired_before(self, created: datetime | None) -> bool:
        """Was the key already retired when a proof claiming ``created`` was made? (A proof without
        a date could have been made at any time.) Retired keys only verify what they signed while
        active. Both dates are whole seconds: a proof stamped the second of retirement counts as
        made before it."""
        if self.retired_at is None:
            return False
        return created is None or created > self.retired_at

    def compromised_for(self, created: datetime | None) -> bool:
        """Does the compromise cover a proof created at ``created``?"""
        if self.status is not KeyStatus.COMPROMISED:
            return False
        if self.compromised_since is None or created is None:
            return True
        return created >= self.compromised_since


class TrustStore:
    """Issuer DIDs the verifier trusts, and their keys (with statuses).

    Only credentials whose issuer is listed here can be ``valid``; a perfectly signed
    credential from anyone else (e.g. a self-made did:key) is ``unknown_issuer``.
    """

    def __init__(self) -> None:
        self._keys: dict[str, TrustedKey] = {}
        self._issuers: set[str] = set()

    @property
    def issuers(self) -> frozenset[str]:
        return frozenset(self._issuers)

    def trust_issuer(self, did: str) -> None:
        self._issuers.add(did)

    def is_trusted_issuer(self, did: str) -> bool:
        return did in self._issuers

    def add_key(
        self,
        verification_method: str,
        public_key: bytes | str,
        *,
        status: KeyStatus | str = KeyStatus.ACTIVE,
        compromised_since: datetime | None = None,
        retired_at: datetime | None = None,
        controller: str | None = None,
    ) -> TrustedKey:
        """Trust a key (``public_key`` as raw 32 bytes or a ``publicKeyMultibase``)."""
        if isinstance(public_key, str):
            public_key = ed25519_public_from_multikey(public_key)
        controller = controller or verification_method.split("#", 1)[0]
        if not verification_method.startswith(controller + "#"):
            raise ValueError("verification method id must be '<controller DID>#<fragment>'")
        key = TrustedKey(
            verification_method=verification_method,
            controller=controller,
            public_key=bytes(public_key),
            status=KeyStatus(status),
            compromised_since=compromised_since,
            retired_at=retired_at,
        )
        self._keys[verification_method] = key
        self._issuers.add(controller)
        return key

    def add_did_document(self, doc: dict[str, Any]) -> None:
        """Trust the issuer of a DID document and its keys: those listed for ``assertionMethod``
        (a retired one carries ``expires``: it verifies only proofs made before), and those it marks
        ``revoked`` (withdrawn as compromised: every proof made with them is refused)."""
        did = doc["id"]
        allowed = set()
        for ref in doc.get("assertionMethod", []):
            allowed.add(ref if isinstance(ref, str) else ref.get("id"))
        methods = list(doc.get("verificationMethod", [])) + [
            r for r in doc.get("assertionMethod", []) if isinstance(r, dict)]
        for vm in methods:
            if not isinstance(vm, dict) or vm.get("type") != "Multikey" or vm.get("controller") != did:
                continue
            if "revoked" in vm:
                self.add_key(vm["id"], vm["publicKeyMultibase"], controller=did,
                             status=KeyStatus.COMPROMISED)
            elif vm.get("id") in allowed:
                expires = parse_timestamp(vm.get("expires"))
                if "expires" in vm and expires is None:
                    continue  # an unreadable retirement date: do not trust the key at all
                self.add_key(vm["id"], vm["publicKeyMultibase"], controller=did,
                             status=KeyStatus.RETIRED if expires else KeyStatus.ACTIVE,
                             retired_at=expires)
        self._issuers.add(did)

    def key(self, verification_method: str) -> TrustedKey | None:
        return self._keys.get(verification_method)

    def keys(self) -> list[TrustedKey]:
        return list(self._keys.values())

    def __repr__(self) -> str:
        return f"TrustStore(issuers={sorted(self._issuers)!r}, keys={len(self._keys)})"


__all__ = ["KeyStatus", "TrustStore", "TrustedKey"]
