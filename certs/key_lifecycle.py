"""Rotating and withdrawing issuer keys, as audited operations over the database.

The key store (``certs.keys``) changes the files in the key directory; this module records each
change on the audit chain and finds the certificates a withdrawn key signed, which must be
re-issued. (The key directory is not transactional: should the audit commit fail after the change,
the key store's own log line remains the record.)
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from certs.keys import KeyStore, SigningKey, format_datetime
from item_bank import audit
from storage import Certificate


def rotate_key(db: Session, keys: KeyStore, *, actor: str) -> SigningKey:
    """A new active key; the previous one is retired (verifies only what it signed before)."""
    retired = keys.active_key().verification_method
    new = keys.rotate()
    audit.record(db, actor=actor, kind="key.rotate", subject=f"key:{new.verification_method}",
                 data={"retired": retired})
    return new


def withdraw_key(db: Session, keys: KeyStore, kid: str, *, actor: str, reason: str,
                 since: datetime | None = None) -> list[Certificate]:
    """Withdraw a key as compromised and return the certificates it signed (from ``since``, or all),
    which no longer verify and need re-issuing."""
    keys.mark_compromised(kid, since=since)
    vm = keys.verification_method(kid)
    audit.record(db, actor=actor, kind="key.compromise", subject=f"key:{vm}",
                 data={"reason": reason, "since": format_datetime(since) if since else None})
    query = select(Certificate).where(Certificate.verification_method == vm).order_by(Certificate.issued_at)
    if since is not None:
        query = query.where(Certificate.issued_at >= since)
    return list(db.execute(query).scalars())


__all__ = ["rotate_key", "withdraw_key"]
