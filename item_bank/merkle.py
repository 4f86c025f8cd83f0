"""RFC 9162 Merkle tree math (Certificate Transparency's tree heads and consistency proofs), over leaf
hashes: the audit trail's global chain is such a tree, so a signed tree head fixes its history."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def leaf_hash(event_hash: Any) -> bytes:
    """RFC 9162 leaf hash of an audit event: the leaf is the event's hash (its hex text), which covers its
    content and, through the previous hash, the whole chain before it."""
    return hashlib.sha256(b"\x00" + str(event_hash).encode()).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleFrontier:
    """An RFC 9162 tree grown a leaf at a time. It keeps only the roots of the perfect subtrees the leaves
    so far split into (at most log2(n) + 1), so the root of any prefix costs O(log n) as the walk passes it."""

    def __init__(self) -> None:
        self.size = 0
        self._subtrees: list[tuple[int, bytes]] = []  # (leaves, hash), largest (leftmost) first

    def append(self, leaf: bytes) -> None:
        leaves, digest = 1, leaf
        while self._subtrees and self._subtrees[-1][0] == leaves:
            _same, left = self._subtrees.pop()
            leaves, digest = 2 * leaves, _node(left, digest)
        self._subtrees.append((leaves, digest))
        self.size += 1

    def root(self) -> str:
        if not self._subtrees:
            return EMPTY_ROOT
        digest = self._subtrees[-1][1]
        for _leaves, left in reversed(self._subtrees[:-1]):
            digest = _node(left, digest)
        return digest.hex()


def merkle_root(leaves: Sequence[bytes]) -> str:
    return _subtree_hash(leaves, 0, len(leaves)).hex()


def _subtree_hash(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) of RFC 9162, 2.1.1."""
    if hi - lo == 0:
        return hashlib.sha256(b"").digest()
    if hi - lo == 1:
        return leaves[lo]
    k = _split(hi - lo)
    return _node(_subtree_hash(leaves, lo, lo + k), _subtree_hash(leaves, lo + k, hi))


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def consistency_proof(leaves: Sequence[bytes], first: int) -> list[str]:
    """RFC 9162, 2.1.4.1: the subtree hashes that show the tree of the first `first` leaves is a prefix of
    the tree of all of `leaves` (empty when first is 0 or all of them)."""
    if not 0 <= first <= len(leaves):
        raise ValueError(f"a tree of {len(leaves)} leaves has no prefix of {first}")
    if first in (0, len(leaves)):
        return []
    return [h.hex() for h in _subproof(leaves, first, 0, len(leaves), True)]


def _subproof(leaves: Sequence[bytes], m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
    if m == hi - lo:
        return [] if complete else [_subtree_hash(leaves, lo, hi)]
    k = _split(hi - lo)
    if m <= k:
        return _subproof(leaves, m, lo, lo + k, complete) + [_subtree_hash(leaves, lo + k, hi)]
    return _subproof(leaves, m - k, lo + k, hi, False) + [_subtree_hash(leaves, lo, lo + k)]


def verify_consistency(first: int, second: int, first_root: str, second_root: str, proof: Sequence[str]) -> bool:
    """RFC 9162, 2.1.4.2: does the tree of `second` leaves with `second_root` extend the one of `first`
    leaves with `first_root`? Needs only the two heads and the proof, none of the events."""
    try:
        path = [bytes.fromhex(p) for p in proof]
        first_hash, second_hash = bytes.fromhex(first_root), bytes.fromhex(second_root)
    except (TypeError, ValueError):
        return False
    if not 0 <= first <= second:
        return False
    if first == second:
        return not path and first_hash == second_hash
    if first == 0:
        return not path and first_root == EMPTY_ROOT
    if first & (first - 1) == 0:
        path = [first_hash] + path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_hash and sr == second_hash


__all__ = ["EMPTY_ROOT", "MerkleFrontier", "consistency_proof", "leaf_hash", "merkle_root", "verify_consistency"]
