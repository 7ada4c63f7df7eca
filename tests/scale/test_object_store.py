"""Object stores: the local folder and S3 (a real SeaweedFS on 127.0.0.1), one behaviour.

Create-once writes, a SHA-256 checked on every read, an object flipped or deleted behind
witnessbox's back named on read, ciphertext only on S3, and Object Lock in compliance mode.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyrage
import pytest
from _servers import SeaweedServer, listening_beyond_loopback

from witnessbox.errors import ArchiveError, IntegrityError, NotFoundError, UsageError
from witnessbox.ledger.objects import FolderObjectStore, ObjectStore, S3ObjectStore

KEY = "blobs/ab/" + "ab" * 32 + ".age"


def _cipher(text: bytes) -> bytes:
    return pyrage.encrypt(text, [pyrage.x25519.Identity.generate().to_public()])


@pytest.fixture
def s3_store(seaweedfs: SeaweedServer) -> S3ObjectStore:
    store = S3ObjectStore(f"s3://wb-{uuid.uuid4().hex[:12]}/archive", client=seaweedfs.client())
    store.create_bucket()
    return store


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "folder":
        yield FolderObjectStore(tmp_path / "objects")
    else:
        yield request.getfixturevalue("s3_store")


def test_writes_are_create_once(store: ObjectStore) -> None:
    first, second = _cipher(b"first"), _cipher(b"second")
    assert store.put_once(KEY, first) is True
    assert store.put_once(KEY, second) is False  # never replaced
    assert store.get(KEY) == first
    assert store.get(KEY, expected=hashlib.sha256(first).hexdigest()) == first
    assert store.exists(KEY) and not store.exists("blobs/ab/other.age")
    assert store.keys("blobs/") == [KEY]


def test_missing_object_is_named(store: ObjectStore) -> None:
    with pytest.raises(NotFoundError, match="object blobs/zz/none.age is missing"):
        store.get("blobs/zz/none.age")


def test_substitution_is_caught_with_the_recorded_hash(store: ObjectStore) -> None:
    data = _cipher(b"evidence")
    store.put_once(KEY, data)
    with pytest.raises(IntegrityError, match=f"object {KEY} does not match"):
        store.get(KEY, expected=hashlib.sha256(b"something else").hexdigest())


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a"])
def test_bad_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(UsageError, match="bad object key"):
        store.put_once(key, _cipher(b"x"))


def test_folder_object_flipped_behind_our_back(tmp_path: Path) -> None:
    store = FolderObjectStore(tmp_path / "objects")
    store.put_once(KEY, _cipher(b"evidence"))
    path = tmp_path / "objects" / KEY
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=f"object {KEY} does not match its SHA-256"):
        store.get(KEY)


def test_s3_refuses_plaintext(s3_store: S3ObjectStore) -> None:
    with pytest.raises(UsageError, match="only ciphertext"):
        s3_store.put_once(KEY, b"a clear-text record")
    assert not s3_store.exists(KEY)


def test_s3_refuses_a_blob_over_one_put_before_sending_it(s3_store: S3ObjectStore, tmp_path: Path) -> None:
    big = tmp_path / "big.age"
    with open(big, "wb") as f:  # sparse: 5 GiB + 1 byte of which only the header is written
        f.write(_cipher(b"x")[:64])
        f.truncate(5 * 1024**3 + 1)
    with pytest.raises(UsageError, match="over 5 GiB cannot be stored on S3"):
        s3_store.put_file_once(KEY, big)
    assert not s3_store.exists(KEY)


def test_s3_object_flipped_behind_our_back(s3_store: S3ObjectStore, seaweedfs: SeaweedServer) -> None:
    data = _cipher(b"evidence")
    s3_store.put_once(KEY, data)
    raw = seaweedfs.client()
    flipped = data[:-1] + bytes([data[-1] ^ 1])
    # Overwritten without a checksum (a tool, a careless operator).
    raw.put_object(Bucket=s3_store.bucket, Key=f"archive/{KEY}", Body=flipped)
    with pytest.raises(IntegrityError, match=f"object {KEY}"):
        s3_store.get(KEY)
    # Overwritten with a checksum of its own: the hash from the signed record still catches it.
    raw.put_object(Bucket=s3_store.bucket, Key=f"archive/{KEY}", Body=flipped,
                   ChecksumSHA256=base64.b64encode(hashlib.sha256(flipped).digest()).decode())
    with pytest.raises(IntegrityError, match=f"object {KEY} does not match"):
        s3_store.get(KEY, expected=hashlib.sha256(data).hexdigest())
    raw.delete_object(Bucket=s3_store.bucket, Key=f"archive/{KEY}")
    with pytest.raises(NotFoundError, match=f"object {KEY} is missing"):
        s3_store.get(KEY)


def test_s3_object_lock_keeps_originals(seaweedfs: SeaweedServer) -> None:
    store = S3ObjectStore(f"s3://wb-lock-{uuid.uuid4().hex[:8]}", client=seaweedfs.client())
    try:
        store.create_bucket(object_lock_days=1)
    except ArchiveError as e:
        pytest.skip(f"this S3 server has no Object Lock: {e}")
    store.put_once(KEY, _cipher(b"original"))
    raw = seaweedfs.client()
    version = raw.head_object(Bucket=store.bucket, Key=KEY).get("VersionId")
    assert version, "Object Lock needs versioning: the object has no version"
    with pytest.raises(Exception) as ei:  # botocore's ClientError
        raw.delete_object(Bucket=store.bucket, Key=KEY, VersionId=version)
    assert "AccessDenied" in str(ei.value)
    assert store.get(KEY).startswith(b"age-encryption.org/v1\n")


def test_bad_store_url() -> None:
    with pytest.raises(UsageError, match="s3://BUCKET/PREFIX"):
        S3ObjectStore("http://bucket/x", client=object())


def test_seaweedfs_listens_on_loopback_only(seaweedfs: SeaweedServer) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp: cannot list listening sockets here")
    assert listening_beyond_loopback(seaweedfs.proc.pid) == []
