"""Issuer signing keys (Ed25519), their lifecycle and DID documents (the verifier's side: ``certs.trust``).

Key material lives in a directory outside the repository and the database (``key_dir``; the app and
the CLI take it from ``settings.Settings.key_dir``, i.e. ``CERTAMEN_KEY_DIR``)::

    <key_dir>/            mode 0700
        keys.json         public metadata: kid, status, dates, publicKeyMultibase
        k1.key            PKCS#8 PEM private key, mode 0600 (encrypted when a passphrase is set)
        k2.key
        .lock             advisory lock serialising creation / rotation across processes

Key statuses:

* ``active``      — the one key new credentials are signed with;
* ``retired``     — replaced by :meth:`KeyStore.rotate`; still published in the DID document,
  so credentials it signed keep verifying;
* ``compromised`` — withdrawn from the DID document; credentials it signed are rejected,
  either altogether or those whose proof was created on/after a given date.

Private key bytes are never printed, logged or pickled: :class:`SigningKey` exposes only
``sign()`` and public data, and its ``repr`` shows the key id.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from errors import CertamenError, Kind

from .dates import format_datetime, parse_timestamp, utcnow
from .multibase import MultibaseError, ed25519_public_from_multikey, ed25519_public_multikey
from .trust import KeyStatus, TrustedKey, TrustStore

log = logging.getLogger(__name__)


DID_V1_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_V1_CONTEXT = "https://w3id.org/security/multikey/v1"
_KID_RE = re.compile(r"^k[1-9][0-9]{0,8}$")


class KeyStoreError(CertamenError, RuntimeError):
    """Misconfiguration or inconsistent state of the key store."""

    kind = Kind.UNAVAILABLE


# --------------------------------------------------------------------------- DIDs


def did_web_from_host(host: str) -> str:
    """``certs.example.com`` → ``did:web:certs.example.com``; a port is percent-encoded and a
    path becomes colon-separated segments (``example.com:8443/certs`` →
    ``did:web:example.com%3A8443:certs``)."""
    if not isinstance(host, str) or not host.strip():
        raise KeyStoreError("issuer host is empty")
    host = host.strip()
    if "://" in host:
        host = urlsplit(host).netloc + urlsplit(host).path
    host = host.rstrip("/")
    hostport, _, path = host.partition("/")
    if not re.fullmatch(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?", hostport):
        raise KeyStoreError(f"invalid issuer host {hostport!r}")
    parts = [quote(hostport.lower(), safe="")]
    if path:
        for seg in path.split("/"):
            if not re.fullmatch(r"[A-Za-z0-9._~\-]+", seg):
                raise KeyStoreError(f"invalid path segment {seg!r} in issuer host")
            parts.append(seg)
    return "did:web:" + ":".join(parts)


def did_web_document_url(did: str) -> str:
    """Where a did:web DID document is published (``/.well-known/did.json`` for a bare host)."""
    if not did.startswith("did:web:"):
        raise ValueError("not a did:web DID")
    parts = did[len("did:web:"):].split(":")
    host = parts[0].replace("%3A", ":").replace("%3a", ":")
    if len(parts) == 1:
        return f"https://{host}/.well-known/did.json"
    return f"https://{host}/" + "/".join(parts[1:]) + "/did.json"


def did_key_from_public_key(public_key: bytes) -> str:
    return "did:key:" + ed25519_public_multikey(public_key)


def did_key_document(did_key: str) -> dict[str, Any]:
    """The DID document of an Ed25519 ``did:key`` (self-certifying, resolved offline)."""
    if not did_key.startswith("did:key:z6Mk"):
        raise ValueError("not an Ed25519 did:key")
    mb = did_key[len("did:key:"):]
    ed25519_public_from_multikey(mb)  # validates
    vm_id = f"{did_key}#{mb}"
    return {
        "@context": [DID_V1_CONTEXT, MULTIKEY_V1_CONTEXT],
        "id": did_key,
        "verificationMethod": [
            {"id": vm_id, "type": "Multikey", "controller": did_key, "publicKeyMultibase": mb}
        ],
        "authentication": [vm_id],
        "assertionMethod": [vm_id],
        "capabilityDelegation": [vm_id],
        "capabilityInvocation": [vm_id],
    }


# --------------------------------------------------------------------------- key objects


@dataclass(frozen=True)
class KeyInfo:
    """Public facts about one issuer key."""

    kid: str
    status: KeyStatus
    public_key_multibase: str
    created: datetime
    retired_at: datetime | None = None
    compromised_at: datetime | None = None
    compromised_since: datetime | None = None  # None + COMPROMISED = altogether

    @property
    def public_key(self) -> bytes:
        return ed25519_public_from_multikey(self.public_key_multibase)

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "status": self.status.value,
            "publicKeyMultibase": self.public_key_multibase,
            "created": format_datetime(self.created),
            "retiredAt": format_datetime(self.retired_at) if self.retired_at else None,
            "compromisedAt": format_datetime(self.compromised_at) if self.compromised_at else None,
            "compromisedSince": (
                format_datetime(self.compromised_since) if self.compromised_since else None
            ),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyInfo:
        created = parse_timestamp(data["created"])
        if created is None:
            raise KeyStoreError(f"key {data['kid']!r}: unreadable creation time {data['created']!r}")
        return cls(
            kid=data["kid"],
            status=KeyStatus(data["status"]),
            public_key_multibase=data["publicKeyMultibase"],
            created=created,
            retired_at=parse_timestamp(data.get("retiredAt")),
            compromised_at=parse_timestamp(data.get("compromisedAt")),
            compromised_since=parse_timestamp(data.get("compromisedSince")),
        )


class SigningKey:
    """An issuer's private signing key. Only ``sign`` uses the secret; nothing prints it."""

    __slots__ = ("kid", "did", "verification_method", "public_key", "public_key_multibase",
                 "__private")

    def __init__(self, kid: str, did: str, private_key: Ed25519PrivateKey):
        self.kid = kid
        self.did = did
        self.verification_method = f"{did}#{kid}"
        self.public_key = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_key_multibase = ed25519_public_multikey(self.public_key)
        self.__private = private_key

    def sign(self, data: bytes) -> bytes:
        return self.__private.sign(data)

    @classmethod
    def generate(cls, did: str | None = None, kid: str | None = None) -> SigningKey:
        """An ephemeral key (tests, did:key issuers). With no DID it becomes a did:key."""
        pk = Ed25519PrivateKey.generate()
        if did is None:
            pub = pk.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            did = did_key_from_public_key(pub)
            kid = ed25519_public_multikey(pub)
        return cls(kid or "k1", did, pk)

    def __repr__(self) -> str:
        return f"SigningKey(verification_method={self.verification_method!r})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("SigningKey objects cannot be pickled or copied")

    def __deepcopy__(self, memo: dict[int, object]) -> NoReturn:
        raise TypeError("SigningKey objects cannot be pickled or copied")

    def __copy__(self) -> NoReturn:
        raise TypeError("SigningKey objects cannot be pickled or copied")


# --------------------------------------------------------------------------- key store


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


class KeyStore:
    """Ed25519 issuer keys in a private directory, published as a did:web DID document.

    ``KeyStore(key_dir, host=...)``: the issuer DID is ``did:web:<host>`` (``host`` e.g.
    ``certs.example.com``, or the public URL) unless ``did`` is given; ``passphrase`` encrypts the
    private key files. The first call to :meth:`active_key` creates the first key. Safe to share
    between threads and between processes on one machine.
    """

    def __init__(
        self,
        key_dir: str | os.PathLike[str],
        *,
        host: str | None = None,
        did: str | None = None,
        passphrase: bytes | str | None = None,
    ):
        if not key_dir:
            raise KeyStoreError("no key directory (a private directory outside the repository and the database)")
        self.key_dir = Path(key_dir).expanduser().resolve()
        repo = _repo_root()
        if (repo / ".git").exists() and (self.key_dir == repo or repo in self.key_dir.parents):
            raise KeyStoreError(
                f"refusing to keep private keys inside the source tree ({self.key_dir})")
        if did is None:
            if not host:
                raise KeyStoreError("no issuer host: pass host= (e.g. certs.example.com) or did=")
            did = did_web_from_host(host)
        self.did = did
        self.__passphrase = passphrase.encode() if isinstance(passphrase, str) else passphrase
        self._lock = threading.RLock()
        self._meta_stamp: tuple[int, int, int] | None = None
        self._infos: list[KeyInfo] = []
        self._signing: dict[str, SigningKey] = {}

    def __repr__(self) -> str:
        return f"KeyStore(did={self.did!r}, key_dir={str(self.key_dir)!r})"

    # ---- filesystem helpers
    @property
    def _meta_path(self) -> Path:
        return self.key_dir / "keys.json"

    def _ensure_dir(self) -> None:
        if not self.key_dir.exists():
            old = os.umask(0o077)
            try:
                self.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            finally:
                os.umask(old)
            os.chmod(self.key_dir, 0o700)
        mode = stat.S_IMODE(self.key_dir.stat().st_mode)
        if mode & 0o077:
            log.warning("key directory %s is accessible by group/others (mode %o)",
                        self.key_dir, mode)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._lock:
            self._ensure_dir()
            fd = os.open(self.key_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._meta_stamp = None  # force re-read under the lock
                self._load()
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def _load(self) -> None:
        try:
            st = self._meta_path.stat()
        except FileNotFoundError:
            self._infos = []
            self._meta_stamp = None
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._meta_stamp:
            return
        with open(self._meta_path, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("did") not in (None, self.did):
            raise KeyStoreError(
                f"key directory belongs to issuer {data.get('did')!r}, not {self.did!r}")
        self._infos = [KeyInfo.from_json(k) for k in data.get("keys", [])]
        self._meta_stamp = stamp

    def _save(self) -> None:
        data = {"version": 1, "did": self.did, "keys": [k.to_json() for k in self._infos]}
        tmp = self.key_dir / ".keys.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._meta_path)
        self._meta_stamp = None
        self._load()

    def _key_path(self, kid: str) -> Path:
        if not _KID_RE.match(kid):
            raise KeyStoreError(f"invalid key id {kid!r}")
        return self.key_dir / f"{kid}.key"

    def _write_private(self, kid: str, pk: Ed25519PrivateKey) -> None:
        enc = (serialization.BestAvailableEncryption(self.__passphrase)
               if self.__passphrase else serialization.NoEncryption())
        pem = pk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
        path = self._key_path(kid)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _read_private(self, kid: str) -> Ed25519PrivateKey:
        path = self._key_path(kid)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("private key file for %s is accessible by group/others (mode %o)",
                        kid, mode)
        try:
            pk = serialization.load_pem_private_key(path.read_bytes(), password=self.__passphrase)
        except (ValueError, TypeError) as exc:
            raise KeyStoreError(f"cannot load private key {kid}: {type(exc).__name__}") from None
        if not isinstance(pk, Ed25519PrivateKey):
            raise KeyStoreError(f"key {kid} is not an Ed25519 key")
        return pk

    def _destroy_private(self, kid: str) -> None:
        """A key that may no longer sign leaves the directory (overwritten, then unlinked), so
        whoever reads the directory later cannot sign with it."""
        self._signing.pop(kid, None)
        path = self._key_path(kid)
        try:
            size = path.stat().st_size
            with open(path, "r+b") as fh:
                fh.write(secrets.token_bytes(size))
                fh.flush()
                os.fsync(fh.fileno())
            path.unlink()
        except FileNotFoundError:
            pass

    def _new_key(self) -> KeyInfo:
        n = 1 + max((int(k.kid[1:]) for k in self._infos), default=0)
        kid = f"k{n}"
        pk = Ed25519PrivateKey.generate()
        self._write_private(kid, pk)
        pub = pk.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
        info = KeyInfo(kid=kid, status=KeyStatus.ACTIVE,
                       public_key_multibase=ed25519_public_multikey(pub), created=utcnow())
        self._infos.append(info)
        return info

    def _replace(self, new: KeyInfo) -> None:
        self._infos = [new if k.kid == new.kid else k for k in self._infos]

    # ---- public API
    def keys(self) -> list[KeyInfo]:
        """All keys (any status), oldest first."""
        with self._lock:
            self._load()
            return list(self._infos)

    def get(self, kid: str) -> KeyInfo:
        for k in self.keys():
            if k.kid == kid:
                return k
        raise KeyError(kid)

    def verification_method(self, kid: str) -> str:
        return f"{self.did}#{kid}"

    def active_key(self) -> SigningKey:
        """The key to sign with now (created on first use)."""
        with self._lock:
            self._load()
            active = [k for k in self._infos if k.status is KeyStatus.ACTIVE]
            if not active:
                with self._exclusive():
                    active = [k for k in self._infos if k.status is KeyStatus.ACTIVE]
                    if not active:
                        self._new_key()
                        self._save()
                        log.info("created first issuer key for %s", self.did)
                    active = [k for k in self._infos if k.status is KeyStatus.ACTIVE]
            if len(active) != 1:
                raise KeyStoreError(f"expected one active key, found {len(active)}")
            kid = active[0].kid
            sk = self._signing.get(kid)
            if sk is None:
                sk = SigningKey(kid, self.did, self._read_private(kid))
                self._signing[kid] = sk
            return sk

    def rotate(self) -> SigningKey:
        """Create a new active key; the previous active key becomes ``retired``."""
        with self._exclusive():
            info = self._replace_active(utcnow())
            log.info("rotated issuer key for %s: new key %s", self.did, info.kid)
        return self.active_key()

    def _replace_active(self, now: datetime, withdrawn: tuple[KeyInfo, ...] = ()) -> KeyInfo:
        """Retire the active key for a new one (under the lock) and destroy the private keys that
        may no longer sign."""
        retired = [k for k in self._infos if k.status is KeyStatus.ACTIVE]
        for k in retired:
            self._replace(replace(k, status=KeyStatus.RETIRED, retired_at=now))
        info = self._new_key()
        self._save()
        for k in (*withdrawn, *retired):
            self._destroy_private(k.kid)
        return info

    def mark_compromised(self, kid: str, since: datetime | None = None) -> KeyInfo:
        """Withdraw a key. Credentials it signed stop verifying — all of them (``since=None``)
        or those whose proof was created at/after ``since``. A new active key is created (the
        previous active one, if it was not the withdrawn key, is retired): status lists are then
        signed by a key an outdated copy of the DID document does not list, so a verifier holding
        such a copy cannot check status with it and is told to fetch the current one."""
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        with self._exclusive():
            info = next((k for k in self._infos if k.kid == kid), None)
            if info is None:
                raise KeyError(kid)
            now = utcnow()
            self._replace(replace(info, status=KeyStatus.COMPROMISED,
                                  compromised_at=now, compromised_since=since))
            self._replace_active(now, withdrawn=(info,))
            log.warning("issuer key %s of %s marked compromised", kid, self.did)
            return next(k for k in self._infos if k.kid == kid)

    def identity_salt(self, credential_id: str) -> str:
        """The secret salt of a credential's hashed e-mail identity: HMAC of its id under a random
        secret kept in the key directory (apart from the database, never published), so only the
        issuer can confirm which address a certificate was issued to."""
        path = self.key_dir / "identity.secret"
        with self._lock:
            if not path.exists():
                with self._exclusive():
                    if not path.exists():
                        tmp = self.key_dir / ".identity.secret.tmp"
                        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                        with os.fdopen(fd, "wb") as fh:
                            fh.write(secrets.token_bytes(32))
                            fh.flush()
                            os.fsync(fh.fileno())
                        os.replace(tmp, path)
            secret = path.read_bytes()
        return hmac.new(secret, credential_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def did_document(self) -> dict[str, Any]:
        """The did:web DID document to publish. Active and retired keys verify (``assertionMethod``);
        a retired key carries ``expires`` (its retirement: it verifies only proofs made before), a
        compromised one is listed ``revoked`` and outside ``assertionMethod``, so that a verifier
        with a fresh copy answers "withdrawn key" rather than "unknown key" (W3C Controlled
        Identifiers 1.0 verification method properties)."""
        infos = self.keys()
        infos.sort(key=lambda k: (k.status is not KeyStatus.ACTIVE, -int(k.kid[1:])))
        vms = []
        for k in infos:
            vm = {
                "id": self.verification_method(k.kid),
                "type": "Multikey",
                "controller": self.did,
                "publicKeyMultibase": k.public_key_multibase,
            }
            if k.status is KeyStatus.RETIRED and k.retired_at is not None:
                vm["expires"] = format_datetime(k.retired_at)
            elif k.status is KeyStatus.COMPROMISED:
                vm["revoked"] = format_datetime(k.compromised_at or utcnow())
            vms.append(vm)
        return {
            "@context": [DID_V1_CONTEXT, MULTIKEY_V1_CONTEXT],
            "id": self.did,
            "verificationMethod": vms,
            "assertionMethod": [vm["id"] for vm in vms if "revoked" not in vm],
        }

    def did_document_url(self) -> str:
        return did_web_document_url(self.did) if self.did.startswith("did:web:") else ""

    def did_key(self, kid: str | None = None) -> str:
        """The did:key form of a key (default: the active key)."""
        info = self.get(kid) if kid else self.get(self.active_key().kid)
        return "did:key:" + info.public_key_multibase

    def did_key_document(self, kid: str | None = None) -> dict[str, Any]:
        return did_key_document(self.did_key(kid))

    def trust_store(self, into: TrustStore | None = None) -> TrustStore:
        """A verifier trust store for this issuer: every key with its current status."""
        ts = into or TrustStore()
        ts.trust_issuer(self.did)
        for k in self.keys():
            ts.add_key(self.verification_method(k.kid), k.public_key_multibase,
                       status=k.status, compromised_since=k.compromised_since,
                       retired_at=k.retired_at if k.status is KeyStatus.RETIRED else None,
                       controller=self.did)
        return ts


def trust_store_for(*stores: KeyStore, did_documents: Iterable[dict[str, Any]] = ()) -> TrustStore:
    """Convenience: one TrustStore for several key stores and/or published DID documents."""
    ts = TrustStore()
    for s in stores:
        s.trust_store(ts)
    for doc in did_documents:
        ts.add_did_document(doc)
    return ts


__all__ = [
    "KeyStore", "KeyStoreError", "KeyStatus", "KeyInfo", "SigningKey", "TrustStore", "TrustedKey",
    "trust_store_for", "did_web_from_host", "did_web_document_url", "did_key_document",
    "did_key_from_public_key", "format_datetime", "utcnow", "MultibaseError",
]
