"""RFC 6962 Merkle tree hashing and inclusion proofs, as pure functions.

Leaf hash ``SHA-256(0x00 || entry bytes)``, node hash ``SHA-256(0x01 || left || right)``, the
tree over ``n`` leaves splits at the largest power of two smaller than ``n`` (RFC 6962 2.1).
The verifier follows RFC 9162 2.1.3.2 and shares no code with the prover, so a bug in one
is not hidden by the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ..errors import IntegrityError

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash of one log entry's bytes."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash (MTH) of the given leaf hashes; the empty tree hashes to SHA-256("")."""
    if not leaves:
        return EMPTY_ROOT
    return _frontier_root(frontier_extend([], 0, leaves))


def frontier_extend(frontier: list[bytes], size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Append leaf hashes to a compact frontier and return the new frontier.

    The frontier of a tree of ``size`` leaves is the list of roots of its perfect subtrees
    (one per set bit of ``size``, largest first). It lets a writer compute each new root in
    O(log n) without re-reading the whole log.
    """
    f = list(frontier)
    n = size
    for leaf in leaves:
        h = leaf
        m = n
        # Merge equal-sized perfect subtrees, exactly as binary addition carries.
        while m & 1:
            h = node_hash(f.pop(), h)
            m >>= 1
        f.append(h)
        n += 1
    return f


def _frontier_root(frontier: Sequence[bytes]) -> bytes:
    h = frontier[-1]
    for left in reversed(frontier[:-1]):
        h = node_hash(left, h)
    return h


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    """Root of the tree whose frontier is given (see :func:`frontier_extend`)."""
    return _frontier_root(frontier) if frontier else EMPTY_ROOT


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 audit path for leaf ``index`` in the tree over ``leaves`` (bottom-up).

    Raises:
        ValueError: ``index`` is outside the tree.
    """
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is outside a tree of {len(leaves)}")
    path: list[bytes] = []
    lo, hi = 0, len(leaves)
    # Walk down, remembering the sibling subtree of each split; reverse for bottom-up order.
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(root_from_leaves(leaves[lo + k : hi]))
            hi = lo + k
        else:
            path.append(root_from_leaves(leaves[lo : lo + k]))
            lo = lo + k
    path.reverse()
    return path


def verify_inclusion(leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes) -> None:
    """Check an RFC 6962 audit path (RFC 9162 2.1.3.2).

    Raises:
        IntegrityError: The path does not lead from ``leaf`` at ``index`` to ``root``.
    """
    if not 0 <= index < tree_size:
        raise IntegrityError(f"inclusion proof: leaf {index} is outside a tree of {tree_size}")
    fn, sn = index, tree_size - 1
    r = leaf
    for p in path:
        if len(p) != 32:
            raise IntegrityError("inclusion proof: a path hash is not 32 bytes")
        if sn == 0:
            raise IntegrityError("inclusion proof: path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise IntegrityError("inclusion proof: path is shorter than the tree is deep")
    if r != root:
        raise IntegrityError("inclusion proof: the path does not lead to the checkpoint's root")
