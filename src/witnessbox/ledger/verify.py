"""Pure verifiers: bytes in, a typed object out, or :class:`IntegrityError`.

Nothing here touches the disk or the archive; an export package or a court expert can verify
a record, a checkpoint or an inclusion proof with only the archive's public key (PEM).
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import IntegrityError
from .canonical import parse_canonical, sha256_hex
from .merkle import leaf_hash, verify_inclusion
from .records import Checkpoint, InclusionProof, ItemRecord, LogEntry

ZERO_HASH = "0" * 64


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """Parse a PEM SubjectPublicKeyInfo Ed25519 public key.

    Raises:
        IntegrityError: Not a PEM Ed25519 public key.
    """
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as e:
        raise IntegrityError(f"public key: not a PEM public key ({e})") from e
    if not isinstance(key, Ed25519PublicKey):
        raise IntegrityError("public key: not an Ed25519 key")
    return key


def key_id(pem: bytes) -> str:
    """sha256 hex of the DER SubjectPublicKeyInfo of a PEM public key (the archive key id).

    Raises:
        IntegrityError: Not a PEM Ed25519 public key.
    """
    der = load_public_key(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def verify_signature(data: bytes, signature: bytes, public_key_pem: bytes, *, what: str) -> None:
    """Check a detached raw 64-byte Ed25519 signature over ``data``.

    Raises:
        IntegrityError: Bad signature, wrong length, or unusable key.
    """
    if len(signature) != 64:
        raise IntegrityError(f"{what}: signature is {len(signature)} bytes, not 64")
    try:
        load_public_key(public_key_pem).verify(signature, data)
    except InvalidSignature as e:
        raise IntegrityError(f"{what}: signature does not match") from e


def verify_record(data: bytes, signature: bytes, public_key_pem: bytes, *, what: str = "record") -> ItemRecord:
    """Verify a signed item record and parse it.

    Raises:
        IntegrityError: Bad signature, not canonical, or malformed.
    """
    verify_signature(data, signature, public_key_pem, what=what)
    return ItemRecord.from_json(parse_canonical(data, what=what))


def parse_entry(data: bytes, *, what: str = "log entry") -> LogEntry:
    """Parse one custody log entry (canonical JSON).

    Raises:
        IntegrityError: Not canonical or malformed.
    """
    return LogEntry.from_json(parse_canonical(data, what=what))


def verify_checkpoint(data: bytes, signature: bytes, public_key_pem: bytes) -> Checkpoint:
    """Verify a signed checkpoint and parse it.

    Raises:
        IntegrityError: Bad signature, not canonical, or malformed.
    """
    verify_signature(data, signature, public_key_pem, what="checkpoint")
    cp = Checkpoint.from_json(parse_canonical(data, what="checkpoint"))
    if cp.tree_size < 0 or len(cp.root_hash) != 64:
        raise IntegrityError("checkpoint: bad tree size or root hash")
    return cp


def _b64(s: str, what: str) -> bytes:
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as e:
        raise IntegrityError(f"{what}: bad base64") from e


def _hex(s: str, what: str) -> bytes:
    try:
        b = bytes.fromhex(s)
    except ValueError as e:
        raise IntegrityError(f"{what}: bad hex") from e
    if len(b) != 32:
        raise IntegrityError(f"{what}: hash is not 32 bytes")
    return b


def verify_inclusion_proof(proof: bytes, public_key_pem: bytes) -> tuple[LogEntry, Checkpoint]:
    """Verify a self-contained inclusion proof (JSON) against the archive's public key.

    Checks the checkpoint signature, then that the entry's leaf hash and audit path lead to
    the checkpoint's root at the stated index.

    Raises:
        IntegrityError: Any check fails or the proof is malformed.
    """
    p = InclusionProof.from_json(parse_canonical(proof, what="inclusion proof"))
    cp = verify_checkpoint(
        _b64(p.checkpoint_b64, "checkpoint"), _b64(p.checkpoint_sig_b64, "checkpoint signature"), public_key_pem
    )
    if cp.tree_size != p.tree_size:
        raise IntegrityError("inclusion proof: tree size differs from the checkpoint's")
    entry_bytes = _b64(p.entry_b64, "entry")
    entry = parse_entry(entry_bytes)
    if entry.seq != p.leaf_index:
        raise IntegrityError("inclusion proof: entry sequence differs from the leaf index")
    verify_inclusion(
        leaf_hash(entry_bytes),
        p.leaf_index,
        p.tree_size,
        [_hex(h, "audit path") for h in p.audit_path],
        _hex(cp.root_hash, "root hash"),
    )
    return entry, cp


def verify_chain_link(entry: LogEntry, entry_bytes_prev: bytes | None, expected_seq: int) -> None:
    """Check that ``entry`` follows the previous entry (its ``prev`` hash and sequence number).

    Raises:
        IntegrityError: Sequence or previous-hash mismatch.
    """
    if entry.seq != expected_seq:
        raise IntegrityError(f"log entry {expected_seq}: carries sequence number {entry.seq}")
    want = ZERO_HASH if entry_bytes_prev is None else sha256_hex(entry_bytes_prev)
    if entry.prev != want:
        raise IntegrityError(f"log entry {expected_seq}: previous-entry hash does not match entry {expected_seq - 1}")
