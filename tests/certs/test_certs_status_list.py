"""Bitstring Status List encoding."""
from __future__ import annotations

import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certs.multibase import encode_base64url
from certs.status_list import (
    MIN_LENGTH,
    BitstringStatusList,
    StatusListError,
    allocate_index,
    build_status_list_credential,
    decode_status_list_credential,
    index_probes,
    status_entry,
)

# produced by the JavaScript reference library (vc-bitstring-status-list): 131072 bits, bit 42 set
JS_ENCODED = "uH4sIAAAAAAAAA-3BMQEAAAjAoEWxf0pt4QPUmQAAAAAAAAAAAAAAAAAAAIBHCzOa7TAAQAAA"


def test_decodes_reference_implementation_output():
    sl = BitstringStatusList.decode(JS_ENCODED)
    assert sl.length == 131072
    assert sl.set_indices() == [42]


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(0, MIN_LENGTH - 1), max_size=50))
def test_round_trip(indices):
    sl = BitstringStatusList()
    for i in indices:
        sl.set(i)
    enc = sl.encode()
    assert enc.startswith("u") and "=" not in enc
    back = BitstringStatusList.decode(enc)
    assert set(back.set_indices()) == indices
    for i in list(indices)[:5]:
        back.clear(i)
        assert not back.get(i)


def test_bit_order_is_left_to_right():
    sl = BitstringStatusList()
    sl.set(0)
    sl.set(9)
    assert sl.to_bytes()[:2] == bytes([0b1000_0000, 0b0100_0000])


def test_limits_and_errors():
    with pytest.raises(StatusListError):
        BitstringStatusList(1024)
    sl = BitstringStatusList()
    for bad in (-1, MIN_LENGTH, True, "3"):
        with pytest.raises(StatusListError):
            sl.get(bad)
    with pytest.raises(StatusListError):
        BitstringStatusList.decode("Znotmultibase")
    with pytest.raises(StatusListError):
        BitstringStatusList.decode(encode_base64url(b"not gzip"))
    with pytest.raises(StatusListError):  # truncated gzip
        BitstringStatusList.decode(encode_base64url(gzip.compress(bytes(16384))[:-10]))
    bomb = encode_base64url(gzip.compress(bytes(64 * 1024 * 1024)))
    with pytest.raises(StatusListError, match="too long"):
        BitstringStatusList.decode(bomb)


def test_credential_and_entry_shapes():
    sl = BitstringStatusList()
    sl.set(5)
    cred = build_status_list_credential(list_url="https://x.example/sl/1", issuer="did:web:x.example",
                                        purpose="revocation", status_list=sl)
    assert cred["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert cred["credentialSubject"]["type"] == "BitstringStatusList"
    purpose, decoded = decode_status_list_credential(cred)
    assert purpose == "revocation" and decoded.get(5)
    entry = status_entry("https://x.example/sl/1", 5, "suspension")
    assert entry == {"id": "https://x.example/sl/1#5", "type": "BitstringStatusListEntry",
                     "statusPurpose": "suspension", "statusListIndex": "5",
                     "statusListCredential": "https://x.example/sl/1"}
    with pytest.raises(StatusListError):
        status_entry("https://x.example/sl/1", 5, "refresh")


def test_index_probes_are_distinct_random_indexes_in_the_list():
    draws = [index_probes(16) for _ in range(20)]
    assert all(len(d) == len(set(d)) == 16 and all(0 <= i < MIN_LENGTH for i in d) for d in draws)
    assert len({i for d in draws for i in d}) > 300  # not the same few
    assert sorted(index_probes(10, length=4)) == [0, 1, 2, 3]


def test_allocate_index_is_random_and_unused():
    used = set(range(0, MIN_LENGTH, 2))
    picks = {allocate_index(used) for _ in range(50)}
    assert all(p % 2 == 1 for p in picks) and len(picks) > 40
    with pytest.raises(StatusListError):
        allocate_index(range(MIN_LENGTH))
