"""Multibase / Multikey helpers (base58btc ``z``, base64url ``u``, Ed25519 Multikey).

Spec references: the Multibase data format (``z`` = base58btc with the Bitcoin alphabet,
``u`` = base64url without padding) and the Controlled Identifiers / Multikey encoding
of an Ed25519 public key: multicodec header ``0xed 0x01`` followed by the 32 key bytes.
"""
from __future__ import annotations

import base64
import binascii

from errors import CertamenError, Kind

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}
_B58_TABLE = bytes(_B58_INDEX.get(chr(_i), 0xFF) for _i in range(256))  # byte -> digit, 0xff if none
_B58_POW10 = 58**10

ED25519_PUB_HEADER = b"\xed\x01"
ED25519_PRIV_HEADER = b"\x80\x26"


class MultibaseError(CertamenError, ValueError):
    """A value is not valid multibase / multikey data."""

    kind = Kind.MALFORMED


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(B58_ALPHABET[r])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    if not isinstance(text, str):
        raise MultibaseError("base58 value must be a string")
    if len(text) > 4096:
        raise MultibaseError("base58 value too long")
    if not text.isascii():
        raise MultibaseError("invalid base58btc character")
    digits = text.encode("ascii").translate(_B58_TABLE)
    if b"\xff" in digits:
        bad = text[digits.index(b"\xff")]
        raise MultibaseError(f"invalid base58btc character {bad!r}")
    n = 0
    head = len(digits) % 10
    for d in digits[:head]:
        n = n * 58 + d
    for i in range(head, len(digits), 10):
        v = 0
        for d in digits[i:i + 10]:
            v = v * 58 + d
        n = n * _B58_POW10 + v
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body


def encode_base58btc(data: bytes) -> str:
    """Multibase base58btc: ``z`` + base58btc(data)."""
    return "z" + b58encode(data)


def decode_base58btc(value: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("z"):
        raise MultibaseError("expected a multibase base58btc value (prefix 'z')")
    return b58decode(value[1:])


def encode_base64url(data: bytes) -> str:
    """Multibase base64url without padding: ``u`` + base64url(data)."""
    return "u" + base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def decode_base64url(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("u"):
        raise MultibaseError("expected a multibase base64url value (prefix 'u')")
    body = value[1:]
    if any(c in body for c in "+/= \n\r\t"):
        raise MultibaseError("invalid base64url (no padding) characters")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MultibaseError(f"invalid base64url data: {exc}") from None


def ed25519_public_multikey(public_key: bytes) -> str:
    """``publicKeyMultibase`` of an Ed25519 key: z-base58btc(0xed01 ‖ key)."""
    if len(public_key) != 32:
        raise MultibaseError("Ed25519 public key must be 32 bytes")
    return encode_base58btc(ED25519_PUB_HEADER + public_key)


def ed25519_public_from_multikey(value: str) -> bytes:
    raw = decode_base58btc(value)
    if len(raw) != 34 or raw[:2] != ED25519_PUB_HEADER:
        raise MultibaseError("not an Ed25519 Multikey public key (header 0xed01 + 32 bytes)")
    return raw[2:]
