"""RFC 9162 Merkle tree: the Certificate Transparency reference vectors, and property tests against a
deliberately naive recursive reference written from the RFC's definitions."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limsai.governance import merkle

# The RFC 6962 test vectors published with Certificate Transparency (transparency-dev/merkle,
# proof/verify_test.go and testonly/constants.go; google/certificate-transparency-go merkle tests).
CT_ENTRIES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [  # sizes 0..8
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (0-based leaf index, tree size, proof); published with 1-based leaf numbers 1, 6, 3, 2.
CT_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
CT_LEAVES = [merkle.leaf_hash(e) for e in CT_ENTRIES]


# -- a naive reference, straight from RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 ---------------------


def _ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(entries: list[bytes]) -> bytes:
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = _ref_k(n)
    return hashlib.sha256(b"\x01" + ref_mth(entries[:k]) + ref_mth(entries[k:])).digest()


def ref_path(m: int, entries: list[bytes]) -> list[bytes]:
    n = len(entries)
    if n == 1:
        return []
    k = _ref_k(n)
    if m < k:
        return [*ref_path(m, entries[:k]), ref_mth(entries[k:])]
    return [*ref_path(m - k, entries[k:]), ref_mth(entries[:k])]


def ref_subproof(m: int, entries: list[bytes], b: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if b else [ref_mth(entries)]
    k = _ref_k(n)
    if m <= k:
        return [*ref_subproof(m, entries[:k], b), ref_mth(entries[k:])]
    return [*ref_subproof(m - k, entries[k:], False), ref_mth(entries[:k])]


def ref_consistency(m: int, entries: list[bytes]) -> list[bytes]:
    return [] if m in (0, len(entries)) else ref_subproof(m, entries, True)


def _entries(n: int) -> list[bytes]:
    return [f"entry-{i}".encode() for i in range(n)]


def _hex(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


# -- known answers -------------------------------------------------------------------------------


def test_hash_primitives_match_rfc9162() -> None:
    assert merkle.EMPTY_ROOT.hex() == CT_ROOTS[0]
    assert merkle.leaf_hash(b"").hex() == CT_ROOTS[1]
    assert merkle.node_hash(CT_LEAVES[0], CT_LEAVES[1]).hex() == CT_ROOTS[2]


@pytest.mark.parametrize("size", range(9))
def test_roots_match_the_published_vectors(size: int) -> None:
    assert merkle.root(CT_LEAVES[:size]).hex() == CT_ROOTS[size]
    assert merkle.TreeLevels(CT_LEAVES).root(size).hex() == CT_ROOTS[size]
    assert ref_mth(CT_ENTRIES[:size]).hex() == CT_ROOTS[size]


def test_roots_at_every_size_in_one_pass() -> None:
    roots = merkle.roots_at(CT_LEAVES, range(12))
    assert {size: root.hex() for size, root in roots.items()} == dict(enumerate(CT_ROOTS))


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(index: int, size: int, proof: list[str]) -> None:
    assert _hex(merkle.inclusion_proof(CT_LEAVES, index, size)) == proof
    root = bytes.fromhex(CT_ROOTS[size])
    assert merkle.verify_inclusion(CT_LEAVES[index], index, size, [bytes.fromhex(p) for p in proof], root)


@pytest.mark.parametrize(("old", "new", "proof"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(old: int, new: int, proof: list[str]) -> None:
    assert _hex(merkle.consistency_proof(CT_LEAVES, old, new)) == proof
    old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    assert merkle.verify_consistency(old, new, old_root, new_root, [bytes.fromhex(p) for p in proof])


@pytest.mark.parametrize(("n", "k"), [(2, 1), (3, 2), (4, 2), (5, 4), (7, 4), (8, 4), (9, 8), (1000, 512)])
def test_split_is_the_largest_power_of_two_below_n(n: int, k: int) -> None:
    assert merkle.split_point(n) == k


def test_split_needs_two_leaves() -> None:
    with pytest.raises(ValueError, match="at least two"):
        merkle.split_point(1)


def test_trivial_consistency_cases() -> None:
    r1, r2 = b"\x11" * 32, b"\x22" * 32
    assert merkle.verify_consistency(0, 0, r1, r1, [])
    assert merkle.verify_consistency(0, 5, r1, r2, [])
    assert merkle.verify_consistency(3, 3, r2, r2, [])
    assert not merkle.verify_consistency(3, 3, r1, r2, [])  # same size, different roots
    assert not merkle.verify_consistency(2, 1, r1, r2, [])  # time travel
    assert not merkle.verify_consistency(1, 2, r1, r2, [])  # empty proof
    assert not merkle.verify_consistency(0, 1, r1, r1, [merkle.EMPTY_ROOT])  # size 0 needs no proof


def test_inclusion_rejects_impossible_positions() -> None:
    leaf = CT_LEAVES[0]
    assert not merkle.verify_inclusion(leaf, 0, 0, [], leaf)
    assert not merkle.verify_inclusion(leaf, 1, 1, [], leaf)
    assert not merkle.verify_inclusion(b"short", 0, 1, [], b"short")
    assert merkle.verify_inclusion(leaf, 0, 1, [], leaf)
    with pytest.raises(ValueError, match="outside"):
        merkle.inclusion_proof(CT_LEAVES, 8)
    with pytest.raises(ValueError, match="outside"):
        merkle.consistency_proof(CT_LEAVES, 9)


# -- properties against the naive reference ------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=0, max_value=300))
def test_iterative_root_equals_the_recursive_definition(n: int) -> None:
    entries = _entries(n)
    leaves = [merkle.leaf_hash(e) for e in entries]
    assert merkle.root(leaves) == ref_mth(entries)
    assert merkle.TreeLevels(leaves).root() == ref_mth(entries)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=200))
def test_inclusion_proofs_verify_and_tampering_fails(data: st.DataObject, n: int) -> None:
    entries = _entries(n)
    leaves = [merkle.leaf_hash(e) for e in entries]
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    size = data.draw(st.integers(min_value=index + 1, max_value=n))
    proof = merkle.inclusion_proof(leaves, index, size)
    root = ref_mth(entries[:size])
    assert proof == ref_path(index, entries[:size])
    assert merkle.verify_inclusion(leaves[index], index, size, proof, root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, size, proof, root)
    assert not merkle.verify_inclusion(leaves[index], index, size, proof, merkle.leaf_hash(b"other root"))
    if proof:
        at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bit = data.draw(st.integers(min_value=0, max_value=255))
        forged = list(proof)
        forged[at] = bytes([forged[at][0] ^ (1 << (bit % 8))]) + forged[at][1:]
        assert not merkle.verify_inclusion(leaves[index], index, size, forged, root)
        assert not merkle.verify_inclusion(leaves[index], index, size, proof[:-1], root)
        other = data.draw(st.integers(min_value=0, max_value=size - 1).filter(lambda i: i != index))
        assert not merkle.verify_inclusion(leaves[index], other, size, proof, root)
    assert not merkle.verify_inclusion(leaves[index], index, size, [*proof, root], root)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=200))
def test_consistency_proofs_verify_and_tampering_fails(data: st.DataObject, n: int) -> None:
    entries = _entries(n)
    leaves = [merkle.leaf_hash(e) for e in entries]
    new = data.draw(st.integers(min_value=1, max_value=n))
    old = data.draw(st.integers(min_value=1, max_value=new))
    proof = merkle.consistency_proof(leaves, old, new)
    old_root, new_root = ref_mth(entries[:old]), ref_mth(entries[:new])
    assert proof == ref_consistency(old, entries[:new])
    assert merkle.verify_consistency(old, new, old_root, new_root, proof)
    if old < new:
        assert not merkle.verify_consistency(old, new, new_root, old_root, proof)
        assert not merkle.verify_consistency(old, new, merkle.leaf_hash(b"x"), new_root, proof)
        assert not merkle.verify_consistency(old, new, old_root, merkle.leaf_hash(b"x"), proof)
        at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        forged = list(proof)
        forged[at] = bytes([forged[at][0] ^ 0x10]) + forged[at][1:]
        assert not merkle.verify_consistency(old, new, old_root, new_root, forged)
        assert not merkle.verify_consistency(old, new, old_root, new_root, proof[:-1])
        assert not merkle.verify_consistency(old, new, old_root, new_root, [*proof, new_root])
        # A rewritten prefix is not consistent with the old root.
        rewritten = [merkle.leaf_hash(b"rewritten"), *leaves[1:new]]
        assert not merkle.verify_consistency(
            old, new, old_root, merkle.root(rewritten), merkle.consistency_proof(rewritten, old)
        )


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=0, max_value=150), sizes=st.sets(st.integers(min_value=0, max_value=200)))
def test_roots_at_equals_prefix_roots(n: int, sizes: set[int]) -> None:
    entries = _entries(n)
    leaves = [merkle.leaf_hash(e) for e in entries]
    roots = merkle.roots_at(leaves, sizes)
    assert set(roots) == {s for s in sizes if s <= n}
    for size, root in roots.items():
        assert root == ref_mth(entries[:size])
