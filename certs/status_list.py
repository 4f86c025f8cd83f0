"""W3C Bitstring Status List v1.0: the status of every certificate, published as a signed bitstring.

A status list is a bitstring of at least 131,072 entries (16 KiB at one bit an entry); entry *i* is
``statusSize`` bits starting at bit ``i * statusSize`` (counting from the left-most, most significant
bit of the first byte). It is published GZIP-compressed and multibase-base64url encoded (``u`` prefix)
as ``encodedList`` inside a signed ``BitstringStatusListCredential``.

Certificates carry one ``credentialStatus`` entry (Open Badges 3.0 allows at most one): purpose
``message``, two bits, whose values the entry itself names (``statusMessage``): 0 valid,
1 suspended, 2 revoked (3, revoked while suspended, reads as revoked). Certificates issued before
that carry two one-bit entries, ``revocation`` and ``suspension``; those lists are still published.
"""
from __future__ import annotations

import gzip
import secrets
import zlib
from collections.abc import Collection
from datetime import datetime
from typing import Any

from errors import CertamenError, Kind

from .contexts import CREDENTIALS_V2
from .keys import format_datetime, utcnow
from .multibase import MultibaseError, decode_base64url, encode_base64url

MIN_LENGTH = 131_072          # bits (16 KiB): the spec's minimum, for group privacy
MAX_LENGTH = 1 << 26          # bits (8 MiB): refuse to inflate anything bigger (gzip bombs)
PURPOSES = ("revocation", "suspension", "message")
MESSAGE = "message"
STATUS_SIZE = 2                # bits per entry of the "message" list
STATUS_MESSAGES = {0: "valid", 1: "suspended", 2: "revoked", 3: "revoked"}
STATUS_VALUES = {"valid": 0, "suspended": 1, "revoked": 2}


def entry_size(purpose: str) -> int:
    """Bits per entry of the list for ``purpose`` (as published by this issuer)."""
    return STATUS_SIZE if purpose == MESSAGE else 1


class StatusListError(CertamenError, ValueError):
    """Invalid status list data."""

    kind = Kind.MALFORMED


class BitstringStatusList:
    """A mutable bitstring of credential statuses (one bit per credential)."""

    __slots__ = ("_bits", "length")

    def __init__(self, length: int = MIN_LENGTH, *, bits: bytes | bytearray | None = None):
        if bits is not None:
            length = len(bits) * 8
        if length < MIN_LENGTH or length % 8:
            raise StatusListError(f"a status list needs at least {MIN_LENGTH} bits (multiple of 8)")
        if length > MAX_LENGTH:
            raise StatusListError("status list too long")
        self.length = length
        self._bits = bytearray(bits) if bits is not None else bytearray(length // 8)

    def _check(self, index: int) -> None:
        if not isinstance(index, int) or isinstance(index, bool):
            raise StatusListError("status list index must be an integer")
        if not 0 <= index < self.length:
            raise StatusListError(f"index {index} outside the status list (0..{self.length - 1})")

    def get(self, index: int) -> bool:
        self._check(index)
        return bool(self._bits[index >> 3] & (0x80 >> (index & 7)))

    def set(self, index: int, value: bool = True) -> None:
        self._check(index)
        mask = 0x80 >> (index & 7)
        if value:
            self._bits[index >> 3] |= mask
        else:
            self._bits[index >> 3] &= ~mask & 0xFF

    def clear(self, index: int) -> None:
        self.set(index, False)

    def value(self, index: int, size: int = 1) -> int:
        """The ``size``-bit entry ``index`` (most significant bit first)."""
        if not isinstance(index, int) or isinstance(index, bool) or index < 0 \
                or (index + 1) * size > self.length:
            raise StatusListError(f"index {index} outside the status list")
        first = index * size
        out = 0
        for bit in range(first, first + size):
            out = (out << 1) | self.get(bit)
        return out

    def set_value(self, index: int, value: int, size: int = 1) -> None:
        if not 0 <= value < (1 << size):
            raise StatusListError(f"status value {value} does not fit in {size} bits")
        self.value(index, size)  # range check
        first = index * size
        for offset in range(size):
            self.set(first + offset, bool(value >> (size - 1 - offset) & 1))

    def set_indices(self) -> list[int]:
        out = []
        for byte_i, b in enumerate(self._bits):
            if b:
                for bit in range(8):
                    if b & (0x80 >> bit):
                        out.append(byte_i * 8 + bit)
        return out

    def to_bytes(self) -> bytes:
        return bytes(self._bits)

    def encode(self) -> str:
        """``encodedList``: ``u`` + base64url(gzip(bitstring)), no padding."""
        return encode_base64url(gzip.compress(bytes(self._bits), compresslevel=9, mtime=0))

    @classmethod
    def decode(cls, encoded: object) -> BitstringStatusList:
        try:
            compressed = decode_base64url(encoded)
        except MultibaseError as exc:
            raise StatusListError(f"encodedList: {exc}") from None
        d = zlib.decompressobj(wbits=31)  # gzip container
        try:
            raw = d.decompress(compressed, MAX_LENGTH // 8 + 1)
        except zlib.error as exc:
            raise StatusListError(f"encodedList is not valid GZIP data: {exc}") from None
        if len(raw) > MAX_LENGTH // 8 or d.unconsumed_tail:
            raise StatusListError("status list too long")
        if not d.eof:
            raise StatusListError("encodedList GZIP data is truncated")
        return cls(bits=raw)

    def __repr__(self) -> str:
        return f"BitstringStatusList(length={self.length}, set={len(self.set_indices())})"


def new_list(purpose: str) -> BitstringStatusList:
    """An empty list for ``purpose``, with room for MIN_LENGTH entries."""
    return BitstringStatusList(MIN_LENGTH * entry_size(purpose))


def index_probes(count: int, length: int = MIN_LENGTH) -> list[int]:
    """`count` distinct random indexes, to ask the store which are free: the first free one is a random
    unused index, found without reading every used one."""
    probes: dict[int, None] = {}
    while len(probes) < min(count, length):
        probes[secrets.randbelow(length)] = None
    return list(probes)


def allocate_index(used: Collection[int], length: int = MIN_LENGTH) -> int:
    """A random unused index (random placement gives holders herd privacy)."""
    if len(used) >= length:
        raise StatusListError("status list is full")
    used_set = used if isinstance(used, (set, frozenset)) else set(used)
    for _ in range(64):
        i = secrets.randbelow(length)
        if i not in used_set:
            return i
    free = [i for i in range(length) if i not in used_set]
    return free[secrets.randbelow(len(free))]


def status_entry(list_url: str, index: int, purpose: str = MESSAGE) -> dict[str, Any]:
    """A ``BitstringStatusListEntry`` for a credential's ``credentialStatus``."""
    if purpose not in PURPOSES:
        raise StatusListError(f"statusPurpose must be one of {PURPOSES}")
    if not isinstance(index, int) or index < 0:
        raise StatusListError("statusListIndex must be a non-negative integer")
    entry: dict[str, Any] = {
        "id": f"{list_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": list_url,
    }
    if purpose == MESSAGE:
        entry["statusSize"] = STATUS_SIZE
        entry["statusMessage"] = [{"status": f"0x{value:x}", "message": message}
                                  for value, message in STATUS_MESSAGES.items()]
    return entry


def build_status_list_credential(
    *,
    list_url: str,
    issuer: str,
    purpose: str,
    status_list: BitstringStatusList,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """An unsigned ``BitstringStatusListCredential`` (sign it with :func:`certs.signing.sign`).

    Verifiers check the list credential like any other (signature by the same issuer, dates),
    so ``valid_from`` defaults to now and should not be in the future."""
    if purpose not in PURPOSES:
        raise StatusListError(f"statusPurpose must be one of {PURPOSES}")
    cred: dict[str, Any] = {
        "@context": [CREDENTIALS_V2],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": format_datetime(valid_from or utcnow()),
    }
    if valid_until is not None:
        cred["validUntil"] = format_datetime(valid_until)
    cred["credentialSubject"] = {
        "id": f"{list_url}#list",
        "type": "BitstringStatusList",
        "statusPurpose": purpose,
        "encodedList": status_list.encode(),
    }
    return cred


def decode_status_list_credential(cred: dict[str, Any]) -> tuple[str, BitstringStatusList]:
    """``(statusPurpose, bitstring)`` of a list credential (structure only — no signature)."""
    if not isinstance(cred, dict):
        raise StatusListError("status list credential is not a JSON object")
    types = cred.get("type")
    types = types if isinstance(types, list) else [types]
    if "BitstringStatusListCredential" not in types:
        raise StatusListError("not a BitstringStatusListCredential")
    subject = cred.get("credentialSubject")
    if not isinstance(subject, dict) or subject.get("type") != "BitstringStatusList":
        raise StatusListError("credentialSubject is not a BitstringStatusList")
    purpose = subject.get("statusPurpose")
    if not isinstance(purpose, str):
        raise StatusListError("status list has no statusPurpose")
    return purpose, BitstringStatusList.decode(subject.get("encodedList"))


__all__ = [
    "BitstringStatusList", "StatusListError", "status_entry", "build_status_list_credential",
    "decode_status_list_credential", "allocate_index", "index_probes", "MIN_LENGTH", "PURPOSES",
    "MESSAGE", "STATUS_SIZE", "STATUS_MESSAGES", "STATUS_VALUES", "entry_size", "new_list",
]
