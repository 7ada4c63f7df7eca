"""The streaming age writer produces standard age files: pyrage decrypts every size."""

from __future__ import annotations

import io
import os

import pyrage
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from witnessbox.ledger.agestream import CHUNK, AgeWriter, recipient_key

IDENT = pyrage.x25519.Identity.generate()
RECIPIENT = str(IDENT.to_public())


def _encrypt(data: bytes, pieces: list[int]) -> bytes:
    out = io.BytesIO()
    w = AgeWriter(out, RECIPIENT)
    i = 0
    for n in pieces:
        w.write(data[i : i + n])
        i += n
    w.write(data[i:])
    w.close()
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7, (1 << 20) + 1])
def test_chunk_boundaries_decrypt(size: int) -> None:
    data = os.urandom(size)
    assert pyrage.decrypt(_encrypt(data, [1 << 20] * 2), [IDENT]) == data


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 4 * CHUNK + 3), pieces=st.lists(st.integers(0, 3 * CHUNK), max_size=6))
def test_any_write_pattern_decrypts(size: int, pieces: list[int]) -> None:
    data = os.urandom(size)
    assert pyrage.decrypt(_encrypt(data, pieces), [IDENT]) == data


def test_tampered_ciphertext_is_refused() -> None:
    blob = bytearray(_encrypt(b"x" * 1000, []))
    blob[-5] ^= 1
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(bytes(blob), [IDENT])


def test_other_identity_cannot_decrypt() -> None:
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(_encrypt(b"secret", []), [pyrage.x25519.Identity.generate()])


@pytest.mark.parametrize("bad", ["", "age1", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", RECIPIENT[:-1] + ("q" if RECIPIENT[-1] != "q" else "p")])
def test_bad_recipients(bad: str) -> None:
    with pytest.raises(ValueError):
        recipient_key(bad)


# -- reading with a file key (verify on a cluster: docs/scale-out.md) ------------------------------


def _open_with_file_key(blob: bytes, identity: pyrage.x25519.Identity) -> bytes:
    from witnessbox.ledger.agestream import decrypt_payload, identity_key, unwrap_file_key

    file_key = unwrap_file_key(io.BytesIO(blob), identity_key(str(identity)))
    out = io.BytesIO()
    decrypt_payload(io.BytesIO(blob), file_key, out.write)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7])
def test_file_key_decrypts_our_files_and_pyrages(size: int) -> None:
    data = os.urandom(size)
    assert _open_with_file_key(_encrypt(data, [1 << 20]), IDENT) == data
    assert _open_with_file_key(pyrage.encrypt(data, [IDENT.to_public()]), IDENT) == data


@pytest.mark.parametrize("where", ["header", "mac", "nonce", "first", "last", "truncate", "extend"])
def test_file_key_refuses_any_change(where: str) -> None:
    from witnessbox.ledger.agestream import decrypt_payload, identity_key, unwrap_file_key

    blob = bytearray(_encrypt(os.urandom(2 * CHUNK + 5), []))
    file_key = unwrap_file_key(io.BytesIO(bytes(blob)), identity_key(str(IDENT)))
    start = blob.index(b"\n---") + blob[blob.index(b"\n---") + 1:].index(b"\n") + 2  # the nonce
    if where == "header":
        blob[30] ^= 1
    elif where == "mac":
        blob[start - 3] = ord("A") if blob[start - 3] != ord("A") else ord("B")
    elif where == "nonce":
        blob[start] ^= 1
    elif where == "first":
        blob[start + 20] ^= 1
    elif where == "last":
        blob[-1] ^= 1
    elif where == "truncate":
        del blob[-(CHUNK // 2):]
    else:
        blob += b"\0" * 40
    with pytest.raises(ValueError):
        decrypt_payload(io.BytesIO(bytes(blob)), file_key, lambda _b: None)


def test_file_key_is_per_identity_and_per_file() -> None:
    from witnessbox.ledger.agestream import decrypt_payload, identity_key, unwrap_file_key

    a, b = _encrypt(b"first", []), _encrypt(b"second", [])
    with pytest.raises(ValueError):
        unwrap_file_key(io.BytesIO(a), identity_key(str(pyrage.x25519.Identity.generate())))
    key_a = unwrap_file_key(io.BytesIO(a), identity_key(str(IDENT)))
    with pytest.raises(ValueError):
        decrypt_payload(io.BytesIO(b), key_a, lambda _b: None)  # one blob's key opens no other
    with pytest.raises(ValueError):
        identity_key(RECIPIENT)
