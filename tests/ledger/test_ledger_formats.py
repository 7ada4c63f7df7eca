"""Golden-file tests of the signed formats, the pure verifiers, and openssl interoperability."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from witnessbox.errors import IntegrityError
from witnessbox.ledger import merkle
from witnessbox.ledger.canonical import canonical_bytes, sha256_hex
from witnessbox.ledger.records import (
    Checkpoint, Derivation, InclusionProof, ItemRecord, LogEntry, MediaInfo, SensitiveRef,
)
from witnessbox.ledger.verify import (
    key_id, parse_entry, verify_checkpoint, verify_inclusion_proof, verify_record, verify_signature,
)

GOLDEN = Path(__file__).parent / "golden"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUB = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

RECORD = ItemRecord(
    sha256="a" * 64, sha512="b" * 128, size=1234, media_type="image/jpeg", name="IMG_0001.jpg",
    received_at="2026-01-02T03:04:05.000006Z", tool="witnessbox 0.1.0", encrypted=True, source="signal",
    note="line one\nline two", captured_at="2026-01-01", place="north gate",
    metadata=MediaInfo(kind="image", container="jpeg", width=4032, height=3024, rotation=90,
                       camera_make="Cam", camera_model="X", capture_time="2026-01-01T10:00:00"),
    sensitive=SensitiveRef("c" * 64, ("gps", "serials")), parent="d" * 64,
    derivation=Derivation("redacted", "blur"), sidecars={"IMG_0001.jpg.regions.json": "e" * 64},
)
ENTRIES = [
    LogEntry(seq=i, time=f"2026-01-02T03:04:0{i}.000000Z", action="add" if i else "init", actor="tester",
             objects=(("%x" % i) * 64,) if i else (), details={"n": i}, prev="0" * 64)
    for i in range(5)
]


def _entries_bytes() -> list[bytes]:
    out: list[bytes] = []
    prev = "0" * 64
    for e in ENTRIES:
        data = canonical_bytes(LogEntry(e.seq, e.time, e.action, e.actor, e.objects, e.details, prev).to_json())
        out.append(data)
        prev = sha256_hex(data)
    return out


def _golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if not path.exists():  # first run writes the golden file; review it and commit it
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} changed: the on-disk format is a contract (docs/archive-format.md)"


def test_record_golden_and_round_trip() -> None:
    data = canonical_bytes(RECORD.to_json())
    _golden("record.json", data)
    _golden("record.json.sig", KEY.sign(data))
    assert ItemRecord.from_json(__import__("json").loads(data)) == RECORD
    assert verify_record(data, KEY.sign(data), PUB) == RECORD


def test_entry_and_checkpoint_golden() -> None:
    entries = _entries_bytes()
    _golden("entry-1.json", entries[1])
    leaves = [merkle.leaf_hash(b) for b in entries]
    cp = Checkpoint(tree_size=5, root_hash=merkle.root_from_leaves(leaves).hex(), time="2026-01-02T03:05:00.000000Z",
                    archive_id="00000000-0000-4000-8000-000000000000", key_id=key_id(PUB))
    data = canonical_bytes(cp.to_json())
    _golden("checkpoint.json", data)
    assert verify_checkpoint(data, KEY.sign(data), PUB) == cp
    assert parse_entry(entries[3]).seq == 3


def _proof(seq: int) -> bytes:
    entries = _entries_bytes()
    leaves = [merkle.leaf_hash(b) for b in entries]
    cp = Checkpoint(tree_size=len(entries), root_hash=merkle.root_from_leaves(leaves).hex(), time="t", archive_id="a", key_id="k")
    cpb = canonical_bytes(cp.to_json())
    p = InclusionProof(
        leaf_index=seq, tree_size=len(entries), entry_b64=base64.b64encode(entries[seq]).decode(),
        audit_path=tuple(h.hex() for h in merkle.inclusion_path(seq, leaves)),
        checkpoint_b64=base64.b64encode(cpb).decode(), checkpoint_sig_b64=base64.b64encode(KEY.sign(cpb)).decode(),
    )
    return canonical_bytes(p.to_json())


@pytest.mark.parametrize("seq", range(5))
def test_inclusion_proof_verifies(seq: int) -> None:
    entry, cp = verify_inclusion_proof(_proof(seq), PUB)
    assert entry.seq == seq and cp.tree_size == 5


def _mutate(proof: bytes, field: str, value: object) -> bytes:
    import json

    d = json.loads(proof)
    d[field] = value
    return canonical_bytes(d)


@pytest.mark.parametrize(
    "field,value",
    [
        ("leaf_index", 3),
        ("tree_size", 6),
        ("audit_path", ["00" * 32, "11" * 32, "22" * 32]),
        ("entry_b64", base64.b64encode(b'{"x":1}').decode()),
        ("checkpoint_sig_b64", base64.b64encode(b"\x00" * 64).decode()),
        ("checkpoint_b64", "!!notbase64"),
        ("format", "other"),
    ],
)
def test_tampered_inclusion_proof_is_rejected(field: str, value: object) -> None:
    with pytest.raises(IntegrityError):
        verify_inclusion_proof(_mutate(_proof(2), field, value), PUB)


def test_proof_with_other_key_is_rejected() -> None:
    other = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(IntegrityError, match="signature"):
        verify_inclusion_proof(_proof(1), other)


@pytest.mark.parametrize("flip", [0, 10, -1])
def test_one_byte_changed_in_a_record_fails(flip: int) -> None:
    data = bytearray(canonical_bytes(RECORD.to_json()))
    sig = KEY.sign(bytes(data))
    data[flip] ^= 0x01
    with pytest.raises(IntegrityError):
        verify_record(bytes(data), sig, PUB)


@pytest.mark.parametrize("sig", [b"", b"\x00" * 63, b"\x00" * 64])
def test_bad_signatures(sig: bytes) -> None:
    with pytest.raises(IntegrityError):
        verify_signature(b"data", sig, PUB, what="x")


def test_not_a_key() -> None:
    with pytest.raises(IntegrityError):
        verify_signature(b"data", b"\x00" * 64, b"-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n", what="x")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_verifies_a_record_signature(tmp_path: Path) -> None:
    data = canonical_bytes(RECORD.to_json())
    (tmp_path / "r.json").write_bytes(data)
    (tmp_path / "r.json.sig").write_bytes(KEY.sign(data))
    (tmp_path / "pub.pem").write_bytes(PUB)
    res = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "r.json", "-sigfile", "r.json.sig"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    if "rawin" in res.stderr and res.returncode != 0 and "Signature Verified" not in res.stdout:
        pytest.skip(f"this openssl lacks -rawin: {res.stderr.strip()[:80]}")
    assert "Signature Verified Successfully" in res.stdout
