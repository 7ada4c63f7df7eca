"""The standalone verifier's own crypto, property-tested against independent implementations:
RFC 8785 against the rfc8785 package, RFC 6962 proofs against witnessbox.ledger.merkle,
Ed25519 against cryptography."""

from __future__ import annotations

import ast
import hashlib
import sys
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from witnessbox.export import bag_verifier as bv

json_scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_canonical_json_matches_rfc8785(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(bv.CanonicalJSONError):
            bv.canonical_json(value)
        return
    assert bv.canonical_json(value) == expected
    assert bv.parse_canonical(expected) is not None or expected == b"null"


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_match_rfc8785(x: float) -> None:
    assert bv.canonical_json(x) == rfc8785.dumps(x)


@pytest.mark.parametrize(
    "data",
    [b'{"b":1,"a":2}', b'{"a": 1}', b'{"a":1.0}', b'{"a":"\\u00e9"}', b'{"a":1,"a":1}', b"{\"a\":NaN}", b"\xff", b"{} "],
)
def test_non_canonical_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(bv.CanonicalJSONError):
        bv.parse_canonical(data)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 70).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_inclusion_proofs_match_the_ledger(size_index: tuple[int, int]) -> None:
    from witnessbox.ledger import merkle

    size, index = size_index
    leaves = [merkle.leaf_hash(b"entry %d" % i) for i in range(size)]
    root = merkle.root_from_leaves(leaves)
    path = merkle.inclusion_path(index, leaves)
    assert bv.leaf_hash(b"entry %d" % index) == leaves[index]
    assert bv.root_from_inclusion_proof(index, size, leaves[index], path) == root
    # Any other position, a wrong leaf, or a changed path hash must not lead to the root.
    if size > 1:
        other = (index + 1) % size
        try:
            assert bv.root_from_inclusion_proof(other, size, leaves[index], path) != root
        except ValueError:
            pass
    assert bv.root_from_inclusion_proof(index, size, bv.leaf_hash(b"forged"), path) != root
    if path:
        bad = list(path)
        bad[0] = hashlib.sha256(bad[0]).digest()
        assert bv.root_from_inclusion_proof(index, size, leaves[index], bad) != root


@pytest.mark.parametrize("index, size, path_len", [(5, 5, 0), (-1, 3, 2), (0, 1, 1), (0, 8, 2)])
def test_impossible_proofs_are_refused(index: int, size: int, path_len: int) -> None:
    with pytest.raises(ValueError):
        bv.root_from_inclusion_proof(index, size, b"\0" * 32, [b"\1" * 32] * path_len)


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 63))
def test_builtin_ed25519_agrees_with_cryptography(msg: bytes, flip: int) -> None:
    sk = Ed25519PrivateKey.generate()
    pem = sk.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = bv.ed25519_public_key_from_pem(pem)
    sig = sk.sign(msg)
    assert bv.ed25519_verify(raw, msg, sig)
    bad = bytearray(sig)
    bad[flip] ^= 1
    assert not bv.ed25519_verify(raw, msg, bytes(bad))
    assert not bv.ed25519_verify(raw, msg + b"x", sig)


def test_verifier_uses_only_the_standard_library() -> None:
    src = Path(bv.__file__).read_text("utf-8")
    mods: set[str] = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "verify.py must not import witnessbox"
            mods.add((node.module or "").split(".")[0])
    assert mods - {"__future__"} <= set(sys.stdlib_module_names), mods
