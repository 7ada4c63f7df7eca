"""RFC 6962 Merkle tree: known vectors and property tests against an independent reference."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from witnessbox.errors import IntegrityError
from witnessbox.ledger import merkle


# -- independent reference, written straight from RFC 6962 section 2.1 (recursive) -----------------
def _ref_mth(entries: list[bytes]) -> bytes:
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _ref_mth(entries[:k]) + _ref_mth(entries[k:])).digest()


def _ref_path(m: int, entries: list[bytes]) -> list[bytes]:
    n = len(entries)
    if n <= 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return _ref_path(m, entries[:k]) + [_ref_mth(entries[k:])]
    return _ref_path(m - k, entries[k:]) + [_ref_mth(entries[:k])]


# Test vectors of the certificate-transparency reference implementation (merkle_tree_test.cc).
CT_LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                        "606162636465666768696a6b6c6d6e6f"]]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("n", range(1, 9))
def test_known_roots(n: int) -> None:
    leaves = [merkle.leaf_hash(e) for e in CT_LEAVES[:n]]
    assert merkle.root_from_leaves(leaves).hex() == CT_ROOTS[n - 1]


def test_empty_tree_root() -> None:
    assert merkle.root_from_leaves([]) == hashlib.sha256(b"").digest()


entries_st = st.lists(st.binary(max_size=40), min_size=1, max_size=70)


@settings(max_examples=150, deadline=None)
@given(entries=entries_st)
def test_root_matches_reference(entries: list[bytes]) -> None:
    leaves = [merkle.leaf_hash(e) for e in entries]
    assert merkle.root_from_leaves(leaves) == _ref_mth(entries)


@settings(max_examples=100, deadline=None)
@given(entries=entries_st, split=st.integers(min_value=0))
def test_frontier_extension_matches_reference(entries: list[bytes], split: int) -> None:
    leaves = [merkle.leaf_hash(e) for e in entries]
    k = split % (len(leaves) + 1)
    f = merkle.frontier_extend([], 0, leaves[:k])
    assert merkle.root_from_frontier(f) == _ref_mth(entries[:k])
    f = merkle.frontier_extend(f, k, leaves[k:])
    assert merkle.root_from_frontier(f) == _ref_mth(entries)


@settings(max_examples=150, deadline=None)
@given(entries=entries_st, idx=st.integers(min_value=0))
def test_inclusion_path_matches_reference_and_verifies(entries: list[bytes], idx: int) -> None:
    m = idx % len(entries)
    leaves = [merkle.leaf_hash(e) for e in entries]
    path = merkle.inclusion_path(m, leaves)
    assert path == _ref_path(m, entries)
    merkle.verify_inclusion(leaves[m], m, len(leaves), path, _ref_mth(entries))


@settings(max_examples=150, deadline=None)
@given(entries=st.lists(st.binary(max_size=20), min_size=2, max_size=40), idx=st.integers(min_value=0),
       tweak=st.sampled_from(["index", "size", "path_bit", "leaf", "drop", "extra", "root"]))
def test_bad_proofs_are_rejected(entries: list[bytes], idx: int, tweak: str) -> None:
    m = idx % len(entries)
    n = len(entries)
    leaves = [merkle.leaf_hash(e) for e in entries]
    path = merkle.inclusion_path(m, leaves)
    root = _ref_mth(entries)
    leaf = leaves[m]
    if tweak == "index":
        m2 = (m + 1) % n
        if leaves[m2] == leaf:
            return
        m = m2
    elif tweak == "size":
        n = 2 * n + 1  # deeper tree: the path no longer fits
    elif tweak == "path_bit" and path:
        path = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
    elif tweak == "leaf":
        leaf = merkle.leaf_hash(entries[m] + b"x")
    elif tweak == "drop" and path:
        path = path[:-1]
    elif tweak == "extra":
        path = [*path, b"\x00" * 32]
    elif tweak == "root":
        root = bytes([root[0] ^ 0x80]) + root[1:]
    else:
        return
    with pytest.raises(IntegrityError):
        merkle.verify_inclusion(leaf, m, n, path, root)


@pytest.mark.parametrize("index,size", [(-1, 3), (3, 3), (0, 0)])
def test_index_out_of_tree(index: int, size: int) -> None:
    with pytest.raises(IntegrityError):
        merkle.verify_inclusion(b"\x00" * 32, index, size, [], b"\x00" * 32)
