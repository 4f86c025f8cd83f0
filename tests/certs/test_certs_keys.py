"""Key store: file permissions, rotation, compromise, DID documents, no leaking of secrets."""
from __future__ import annotations

import logging
import os
import pickle
import stat
from datetime import UTC, datetime, timedelta

import pytest

from certs import keys
from certs.keys import KeyStatus, KeyStore, KeyStoreError, SigningKey


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_first_use_creates_private_key_with_tight_permissions(tmp_path):
    ks = KeyStore(tmp_path / "keys", host="certs.example.com")
    assert not (tmp_path / "keys").exists()  # nothing until first use
    key = ks.active_key()
    assert key.kid == "k1" and key.verification_method == "did:web:certs.example.com#k1"
    assert mode(tmp_path / "keys") == 0o700
    assert mode(tmp_path / "keys" / "k1.key") == 0o600
    assert mode(tmp_path / "keys" / "keys.json") == 0o600
    # a second store over the same directory sees the same key
    again = KeyStore(tmp_path / "keys", host="certs.example.com").active_key()
    assert again.public_key == key.public_key


def test_secrets_never_printed(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    ks = KeyStore(tmp_path / "keys", host="certs.example.com")
    key = ks.active_key()
    pem = (tmp_path / "keys" / "k1.key").read_bytes()
    body = b"".join(pem.splitlines()[1:-1]).decode()
    for text in (repr(key), str(key), repr(ks), str(ks.keys()), caplog.text,
                 str(ks.did_document())):
        assert body not in text and "PRIVATE" not in text
    assert not hasattr(key, "private_key") and not hasattr(key, "__dict__")
    with pytest.raises(TypeError):
        pickle.dumps(key)
    import copy
    with pytest.raises(TypeError):
        copy.deepcopy(key)


def test_passphrase_encrypts_key_file(tmp_path):
    ks = KeyStore(tmp_path / "keys", host="certs.example.com", passphrase="s3cret")
    pub = ks.active_key().public_key
    assert b"ENCRYPTED" in (tmp_path / "keys" / "k1.key").read_bytes()
    assert KeyStore(tmp_path / "keys", host="certs.example.com",
                    passphrase="s3cret").active_key().public_key == pub
    with pytest.raises(KeyStoreError):
        KeyStore(tmp_path / "keys", host="certs.example.com", passphrase="wrong").active_key()


def test_the_store_needs_a_folder_and_an_issuer(tmp_path):
    ks = KeyStore(tmp_path / "keys", host="certs.example.org")
    assert ks.did == "did:web:certs.example.org"
    ks.active_key()
    assert (tmp_path / "keys" / "k1.key").exists()
    with pytest.raises(KeyStoreError, match="key directory"):
        KeyStore("", host="certs.example.org")
    with pytest.raises(KeyStoreError, match="issuer host"):
        KeyStore(tmp_path / "keys")


def test_refuses_key_dir_inside_the_repository():
    repo = keys._repo_root()
    if not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    with pytest.raises(KeyStoreError, match="source tree"):
        KeyStore(repo / "instance" / "keys", host="certs.example.com")


def test_rotation_retires_old_key(tmp_path):
    ks = KeyStore(tmp_path / "keys", host="certs.example.com")
    k1 = ks.active_key()
    k2 = ks.rotate()
    assert k2.kid == "k2" and k2.public_key != k1.public_key
    assert [(k.kid, k.status) for k in ks.keys()] == [("k1", KeyStatus.RETIRED),
                                                      ("k2", KeyStatus.ACTIVE)]
    assert ks.get("k1").retired_at is not None
    doc = ks.did_document()
    assert [vm["id"] for vm in doc["verificationMethod"]] == [
        "did:web:certs.example.com#k2", "did:web:certs.example.com#k1"]
    assert doc["assertionMethod"] == [vm["id"] for vm in doc["verificationMethod"]]
    assert all(vm["controller"] == doc["id"] and vm["type"] == "Multikey"
               and vm["publicKeyMultibase"].startswith("z6Mk") for vm in doc["verificationMethod"])
    assert ks.active_key().kid == "k2"


def test_compromise_withdraws_key_and_replaces_active(tmp_path):
    ks = KeyStore(tmp_path / "keys", host="certs.example.com")
    ks.active_key()
    since = datetime(2026, 3, 1, tzinfo=UTC)
    info = ks.mark_compromised("k1", since=since)
    assert info.status is KeyStatus.COMPROMISED and info.compromised_since == since
    assert ks.active_key().kid == "k2"
    doc = ks.did_document()
    assert doc["assertionMethod"] == ["did:web:certs.example.com#k2"]
    withdrawn = [vm for vm in doc["verificationMethod"] if vm["id"].endswith("#k1")]
    assert len(withdrawn) == 1 and withdrawn[0]["revoked"]  # listed as withdrawn, not left unknown
    assert not (tmp_path / "keys" / "k1.key").exists()
    ts = ks.trust_store()
    tk = ts.key("did:web:certs.example.com#k1")
    assert tk.status is KeyStatus.COMPROMISED
    assert tk.compromised_for(since + timedelta(seconds=1))
    assert not tk.compromised_for(since - timedelta(days=1))
    assert tk.compromised_for(None)


def test_did_web_and_did_key_forms():
    assert keys.did_web_from_host("certs.example.com") == "did:web:certs.example.com"
    assert keys.did_web_from_host("https://Certs.Example.com/") == "did:web:certs.example.com"
    assert keys.did_web_from_host("example.com:8443/org/certs") == \
        "did:web:example.com%3A8443:org:certs"
    assert keys.did_web_document_url("did:web:example.com%3A8443:org:certs") == \
        "https://example.com:8443/org/certs/did.json"
    assert keys.did_web_document_url("did:web:certs.example.com") == \
        "https://certs.example.com/.well-known/did.json"
    with pytest.raises(KeyStoreError):
        keys.did_web_from_host("bad host!")
    key = SigningKey.generate()
    assert key.did.startswith("did:key:z6Mk") and key.verification_method == \
        f"{key.did}#{key.did.split(':')[-1]}"
    doc = keys.did_key_document(key.did)
    assert doc["assertionMethod"] == [key.verification_method]


def test_keystore_did_key_and_trust_store(tmp_path):
    ks = KeyStore(tmp_path / "keys", host="certs.example.com")
    dk = ks.did_key()
    assert ks.did_key_document()["id"] == dk
    ts = keys.trust_store_for(ks)
    assert ts.is_trusted_issuer("did:web:certs.example.com")
    assert ts.key("did:web:certs.example.com#k1").status is KeyStatus.ACTIVE
    ts2 = keys.TrustStore()
    ts2.add_did_document(ks.did_document())
    assert ts2.key("did:web:certs.example.com#k1").public_key == ks.active_key().public_key


def test_directory_of_other_issuer_refused(tmp_path):
    KeyStore(tmp_path / "keys", host="a.example.com").active_key()
    with pytest.raises(KeyStoreError, match="belongs to"):
        KeyStore(tmp_path / "keys", host="b.example.com").active_key()
