"""Content store: one-pass hashing, dedup by link, failures leave nothing behind."""

from __future__ import annotations

import errno
import hashlib
import io
import os
from pathlib import Path

import pyrage
import pytest

from witnessbox.ledger.store import ContentStore

IDENT = pyrage.x25519.Identity.generate()


@pytest.fixture(params=[True, False], ids=["encrypted", "plain"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    (tmp_path / "tmp").mkdir()
    return ContentStore(tmp_path, IDENT.to_public() if request.param else None)


@pytest.mark.parametrize("size", [1, 1 << 20, (9 << 20) + 3])
def test_stage_hashes_and_round_trips(store: ContentStore, size: int) -> None:
    data = os.urandom(size)
    staged = store.stage(io.BytesIO(data), size_hint=size)
    assert (staged.sha256, staged.sha512, staged.size) == (
        hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest(), size)
    assert store.commit(staged) is True
    assert not staged.path.exists()
    with store.open_plaintext(staged.sha256, IDENT, size) as f:
        assert f.read() == data
    assert store.hash_plaintext(staged.sha256, IDENT) == (staged.sha256, staged.sha512, size)
    again = store.stage(io.BytesIO(data))
    assert store.commit(again) is False  # the same content is never stored twice
    assert list((store.root / "tmp").iterdir()) == []


class _Failing(io.RawIOBase):
    def __init__(self) -> None:
        self.calls = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.calls += 1
        if self.calls > 2:
            raise OSError(errno.EIO, "Input/output error")
        return b"x" * (1 << 20)


def test_a_read_error_is_not_reported_as_a_write_error(store: ContentStore) -> None:
    with pytest.raises(OSError) as info:
        store.stage(_Failing())  # type: ignore[arg-type]
    assert info.value.errno == errno.EIO
    assert list((store.root / "tmp").iterdir()) == []
