"""RFC 9162 Merkle tree hashing and proofs, so the audit log can prove inclusion and append-only growth.

Leaves are ``SHA-256(0x00 || entry)``, interior nodes ``SHA-256(0x01 || left || right)`` and the tree
of ``n`` leaves splits at the largest power of two below ``n`` (RFC 9162 §2.1.1); the empty tree's
root is ``SHA-256("")``. The algorithms follow RFC 9162 §2.1.3 (inclusion) and §2.1.4 (consistency)
and work on 32-byte leaf hashes; indices are 0-based, sizes are leaf counts.

:class:`TreeLevels` keeps every complete subtree hash (``n - 1`` nodes for ``n`` leaves), so the hash of
any subtree the proofs need costs ``O(log n)`` and a proof ``O(log² n)`` once the levels are built.
:class:`RootAccumulator` computes roots in one pass with ``O(log n)`` memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """The RFC 9162 hash of one log entry: ``SHA-256(0x00 || entry)``."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 9162 hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``): where MTH splits a tree of n leaves."""
    if n < 2:
        raise ValueError("a tree splits only when it has at least two leaves")
    return 1 << ((n - 1).bit_length() - 1)


class RootAccumulator:
    """Roots of a growing tree in one pass: a stack of the complete subtrees' hashes.

    The stack holds one hash per set bit of the size, largest (leftmost) first; folding it from the
    right gives exactly RFC 9162's MTH, because MTH splits off the largest power of two on the left.
    """

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[bytes] = []
        self.size = 0

    def add(self, leaf: bytes) -> None:
        """Append one leaf hash; merges as many subtrees as ``size + 1`` has trailing zero bits."""
        self.size += 1
        stack = self._stack
        stack.append(leaf)
        merges = (self.size & -self.size).bit_length() - 1
        for _ in range(merges):
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)

    def root(self) -> bytes:
        """The root of the tree of the leaves added so far."""
        if not self._stack:
            return EMPTY_ROOT
        result = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            result = node_hash(left, result)
        return result


def root(leaves: Iterable[bytes]) -> bytes:
    """MTH over leaf hashes, iteratively in ``O(n)`` time and ``O(log n)`` memory."""
    acc = RootAccumulator()
    for leaf in leaves:
        acc.add(leaf)
    return acc.root()


def roots_at(leaves: Iterable[bytes], sizes: Iterable[int]) -> dict[int, bytes]:
    """Roots at several tree sizes in one pass over the leaves; sizes beyond the leaves are left out."""
    wanted = set(sizes)
    found: dict[int, bytes] = {}
    if 0 in wanted:
        found[0] = EMPTY_ROOT
    acc = RootAccumulator()
    for leaf in leaves:
        acc.add(leaf)
        if acc.size in wanted:
            found[acc.size] = acc.root()
    return found


class TreeLevels:
    """Every complete subtree hash of a list of leaves: level ``h`` holds the hashes of the aligned
    subtrees of ``2**h`` leaves. Serves roots and proofs for any size up to the number of leaves."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) >= 2:
            below = self.levels[-1]
            self.levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)`` where ``start`` is a multiple of the largest power of two
        not above ``end - start`` (true of every subtree RFC 9162's recursions visit)."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0:
            height = n.bit_length() - 1
            return self.levels[height][start >> height]
        k = split_point(n)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        return self.subtree(0, self._size(size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf side first."""
        n = self._size(size)
        if not 0 <= index < n:
            raise ValueError(f"leaf index {index} is outside a tree of size {n}")
        proof: list[bytes] = []
        start, end = 0, n
        while end - start > 1:
            k = split_point(end - start)
            if index < start + k:
                proof.append(self.subtree(start + k, end))
                end = start + k
            else:
                proof.append(self.subtree(start, start + k))
                start += k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1; empty when the sizes are equal or 0."""
        n = self._size(new_size)
        if not 0 <= old_size <= n:
            raise ValueError(f"old size {old_size} is outside 0..{n}")
        if old_size in (0, n):
            return []
        proof: list[bytes] = []
        m, start, end, complete = old_size, 0, n, True
        while m != end - start:
            k = split_point(end - start)
            if m <= k:
                proof.append(self.subtree(start + k, end))
                end = start + k
            else:
                proof.append(self.subtree(start, start + k))
                start, m, complete = start + k, m - k, False
        if not complete:
            proof.append(self.subtree(start, end))
        proof.reverse()
        return proof

    def _size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")
        return size


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """The RFC 9162 inclusion proof of leaf ``index`` in the tree of the first ``size`` leaves."""
    return TreeLevels(leaves[: len(leaves) if size is None else size]).inclusion_proof(index)


def consistency_proof(leaves: Sequence[bytes], old_size: int, new_size: int | None = None) -> list[bytes]:
    """The RFC 9162 consistency proof that the tree of ``old_size`` leaves is a prefix of ``new_size``."""
    return TreeLevels(leaves[: len(leaves) if new_size is None else new_size]).consistency_proof(old_size)


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root the proof leads to, or None when the proof is malformed."""
    if not 0 <= index < size or len(leaf) != HASH_SIZE:
        return None
    fn, sn, result = index, size - 1, leaf
    for p in proof:
        if sn == 0 or len(p) != HASH_SIZE:
            return None
        if fn & 1 or fn == sn:
            result = node_hash(p, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, p)
        fn >>= 1
        sn >>= 1
    return result if sn == 0 else None


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """True when ``proof`` puts leaf hash ``leaf`` at ``index`` in the tree of ``size`` with ``root_hash``."""
    return root_from_inclusion_proof(leaf, index, size, proof) == root_hash


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: True when ``proof`` shows the tree (old_size, old_root) is a prefix of
    (new_size, new_root). Equal sizes need equal roots and an empty proof; size 0 an empty proof."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof or any(len(p) != HASH_SIZE for p in proof):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
