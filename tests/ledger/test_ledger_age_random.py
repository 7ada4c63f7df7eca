"""Random-access decryption of age files (ledger/agestream.py AgeRandomReader, the review's
player): any read at any position returns exactly the plaintext, for files written by our writer
and by pyrage; damage, truncation, extension and another key are refused, no damaged byte read."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pyrage
import pytest

from witnessbox.errors import IntegrityError
from witnessbox.ledger.agestream import CHUNK, AgeRandomReader, AgeWriter, identity_key, unwrap_file_key
from witnessbox.workspace import Workspace

IDENT = pyrage.x25519.Identity.generate()
SECRET = identity_key(str(IDENT))
PASS = "correct horse battery staple"


def _ours(data: bytes) -> bytes:
    out = io.BytesIO()
    w = AgeWriter(out, str(IDENT.to_public()))
    w.write(data)
    w.close()
    return out.getvalue()


def _pyrage(data: bytes) -> bytes:
    return bytes(pyrage.encrypt(data, [IDENT.to_public()]))


def _open(blob: bytes) -> AgeRandomReader:
    f = io.BytesIO(blob)
    return AgeRandomReader(f, unwrap_file_key(f, SECRET), cache=2)


@pytest.mark.parametrize("enc", [_ours, _pyrage])
@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
def test_every_read_is_exact(enc: object, size: int) -> None:
    data = os.urandom(size)
    r = _open(enc(data))  # type: ignore[operator]
    assert r.size == size
    assert r.read() == data
    rng = random.Random(size)
    for _ in range(60):
        pos, n = rng.randrange(0, size + 2), rng.randrange(0, 2 * CHUNK + 3)
        assert r.seek(pos) == pos
        assert r.read(n) == data[pos:pos + n]
        assert r.tell() == (min(size, pos + n) if pos <= size else pos)
    if size >= 3:
        assert r.seek(-3, io.SEEK_END) == size - 3 and r.read() == data[-3:]
    buf = bytearray(10)
    r.seek(0)
    assert r.readinto(buf) == min(10, size) and bytes(buf[:size]) == data[:10]


def test_damage_is_refused_where_it_is_read() -> None:
    data = os.urandom(3 * CHUNK)
    blob = bytearray(_ours(data))
    blob[-(CHUNK + 40)] ^= 1  # in the second-to-last chunk
    r = _open(bytes(blob))
    assert r.read(CHUNK) == data[:CHUNK], "the chunks before are fine"
    with pytest.raises(ValueError, match="damaged"):
        r.read()


@pytest.mark.parametrize("cut", [CHUNK + 16, 1, 17])
def test_truncated_or_extended_files_are_refused(cut: int) -> None:
    blob = _ours(os.urandom(2 * CHUNK + 100))
    with pytest.raises(ValueError):
        r = _open(blob[:-cut])  # cut at a chunk boundary: the new last chunk lacks age's flag
        r.read()
    with pytest.raises(ValueError):
        r = _open(blob + b"\0" * cut)
        r.read()


def test_other_key_is_refused() -> None:
    blob = _ours(b"secret")
    with pytest.raises(ValueError):
        unwrap_file_key(io.BytesIO(blob), identity_key(str(pyrage.x25519.Identity.generate())))
    f = io.BytesIO(blob)
    with pytest.raises(IntegrityError):
        AgeRandomReader(f, bytes(16), damaged=IntegrityError)


def test_open_original_random_access_matches_the_whole(tmp_path: Path) -> None:
    data = os.urandom(5 * CHUNK + 123)
    (tmp_path / "x.bin").write_bytes(data)
    with Workspace.init(tmp_path / "a", PASS) as ws:
        sha = ws.add([tmp_path / "x.bin"]).added[0].sha256
    with Workspace.open(tmp_path / "a", PASS) as ws:
        with ws.open_original(sha, random_access=True) as f:
            f.seek(4 * CHUNK - 5)
            assert f.read(20) == data[4 * CHUNK - 5:4 * CHUNK + 15]
            f.seek(0)
            assert f.read() == data
        blob = next(p for p in (tmp_path / "a").rglob("*") if p.is_file() and sha in p.name and p.stat().st_size > len(data))
        raw = bytearray(blob.read_bytes())
        raw[-30] ^= 1
        blob.chmod(0o600)
        blob.write_bytes(bytes(raw))
        with ws.open_original(sha, random_access=True) as f:
            assert f.read(CHUNK) == data[:CHUNK]
            with pytest.raises(IntegrityError):
                f.read()
