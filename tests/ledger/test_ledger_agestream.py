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
