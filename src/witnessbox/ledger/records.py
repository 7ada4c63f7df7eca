"""Typed records of the archive: item records, custody log entries, checkpoints, proofs.

Each type round-trips through a JSON object (``to_json`` / ``from_json``); the signed or
hashed form is always the RFC 8785 canonical serialization of ``to_json()``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import IntegrityError

RECORD_FORMAT = "witnessbox-record/1"
ENTRY_FORMAT = "witnessbox-log-entry/1"
CHECKPOINT_FORMAT = "witnessbox-checkpoint/1"
PROOF_FORMAT = "witnessbox-inclusion-proof/1"

#: Custody log actions that seal an item; the item's sha256 is the entry's first object.
SEAL_ACTIONS = frozenset({"add", "derive"})


def _opt_str(d: Mapping[str, Any], key: str) -> str | None:
    v = d.get(key)
    if v is not None and not isinstance(v, str):
        raise IntegrityError(f"field {key!r} is not a string")
    return v


def _req(d: Mapping[str, Any], key: str, typ: type | tuple[type, ...]) -> Any:
    v = d.get(key)
    if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
        raise IntegrityError(f"field {key!r} is missing or has the wrong type")
    return v


@dataclass(frozen=True)
class MediaInfo:
    """Non-sensitive metadata extracted from a media file (all optional)."""

    kind: str = "other"  # image | video | audio | other
    container: str | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    rotation: int | None = None
    codecs: tuple[str, ...] = ()
    camera_make: str | None = None
    camera_model: str | None = None
    capture_time: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "container": self.container,
            "width": self.width,
            "height": self.height,
            "duration_s": self.duration_s,
            "rotation": self.rotation,
            "codecs": list(self.codecs),
            "camera_make": self.camera_make,
            "camera_model": self.camera_model,
            "capture_time": self.capture_time,
            "tags": dict(self.tags),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> MediaInfo:
        dur = d.get("duration_s")
        return cls(
            kind=str(d.get("kind", "other")),
            container=_opt_str(d, "container"),
            width=d.get("width"),
            height=d.get("height"),
            duration_s=float(dur) if dur is not None else None,
            rotation=d.get("rotation"),
            codecs=tuple(d.get("codecs") or ()),
            camera_make=_opt_str(d, "camera_make"),
            camera_model=_opt_str(d, "camera_model"),
            capture_time=_opt_str(d, "capture_time"),
            tags=dict(d.get("tags") or {}),
            warnings=tuple(d.get("warnings") or ()),
        )


@dataclass(frozen=True)
class SensitiveRef:
    """Pointer from a record to its separately encrypted sensitive metadata (GPS, serials)."""

    sha256: str  # of the plaintext canonical JSON
    fields: tuple[str, ...]  # which kinds are present, e.g. ("gps", "serials"); never values

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "fields": list(self.fields)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SensitiveRef:
        return cls(sha256=_req(d, "sha256", str), fields=tuple(d.get("fields") or ()))


@dataclass(frozen=True)
class Derivation:
    """How a derived item (e.g. a redacted copy) was made from its parent."""

    kind: str
    method: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "method": self.method}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Derivation:
        return cls(kind=_req(d, "kind", str), method=_req(d, "method", str))


@dataclass(frozen=True)
class ItemRecord:
    """The signed record of one sealed item (original or derivative)."""

    sha256: str
    sha512: str
    size: int
    media_type: str
    name: str
    received_at: str
    tool: str
    encrypted: bool
    source: str | None = None
    note: str | None = None
    captured_at: str | None = None
    place: str | None = None
    name_bytes_b64: str | None = None  # the raw file name when it was not valid UTF-8
    metadata: MediaInfo = field(default_factory=MediaInfo)
    sensitive: SensitiveRef | None = None
    parent: str | None = None
    derivation: Derivation | None = None
    sidecars: Mapping[str, str] = field(default_factory=dict)  # file name -> sha256
    format: str = RECORD_FORMAT

    @property
    def id(self) -> str:
        """The item id: its sha256."""
        return self.sha256

    @property
    def raw_name(self) -> bytes:
        """The original file name as bytes (exact even when it was not UTF-8)."""
        if self.name_bytes_b64 is not None:
            return base64.b64decode(self.name_bytes_b64)
        return self.name.encode("utf-8")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "sha256": self.sha256,
            "sha512": self.sha512,
            "size": self.size,
            "media_type": self.media_type,
            "name": self.name,
            "name_bytes_b64": self.name_bytes_b64,
            "received_at": self.received_at,
            "source": self.source,
            "note": self.note,
            "captured_at": self.captured_at,
            "place": self.place,
            "tool": self.tool,
            "encrypted": self.encrypted,
            "metadata": self.metadata.to_json(),
            "sensitive": self.sensitive.to_json() if self.sensitive else None,
            "parent": self.parent,
            "derivation": self.derivation.to_json() if self.derivation else None,
            "sidecars": dict(self.sidecars),
        }

    def summary(self) -> dict[str, Any]:
        """The fields ``list --json`` prints."""
        return {
            "sha256": self.sha256,
            "name": self.name,
            "media_type": self.media_type,
            "size": self.size,
            "received_at": self.received_at,
            "parent": self.parent,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ItemRecord:
        """Build from a parsed record.

        Raises:
            IntegrityError: A field is missing or has the wrong type.
        """
        if d.get("format") != RECORD_FORMAT:
            raise IntegrityError(f"unknown record format {d.get('format')!r}")
        sens = d.get("sensitive")
        der = d.get("derivation")
        return cls(
            format=RECORD_FORMAT,
            sha256=_req(d, "sha256", str),
            sha512=_req(d, "sha512", str),
            size=_req(d, "size", int),
            media_type=_req(d, "media_type", str),
            name=_req(d, "name", str),
            name_bytes_b64=_opt_str(d, "name_bytes_b64"),
            received_at=_req(d, "received_at", str),
            source=_opt_str(d, "source"),
            note=_opt_str(d, "note"),
            captured_at=_opt_str(d, "captured_at"),
            place=_opt_str(d, "place"),
            tool=_req(d, "tool", str),
            encrypted=_req(d, "encrypted", bool),
            metadata=MediaInfo.from_json(d.get("metadata") or {}),
            sensitive=SensitiveRef.from_json(sens) if sens else None,
            parent=_opt_str(d, "parent"),
            derivation=Derivation.from_json(der) if der else None,
            sidecars=dict(d.get("sidecars") or {}),
        )


@dataclass(frozen=True)
class LogEntry:
    """One custody log entry. ``seq`` is its 0-based leaf index in the Merkle tree."""

    seq: int
    time: str
    action: str
    actor: str
    objects: tuple[str, ...]
    details: Mapping[str, Any]
    prev: str  # sha256 hex of the previous entry's bytes; 64 zeros for the first
    format: str = ENTRY_FORMAT

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "seq": self.seq,
            "time": self.time,
            "action": self.action,
            "actor": self.actor,
            "objects": list(self.objects),
            "details": dict(self.details),
            "prev": self.prev,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LogEntry:
        """Raises:
        IntegrityError: A field is missing or has the wrong type.
        """
        if d.get("format") != ENTRY_FORMAT:
            raise IntegrityError(f"unknown log entry format {d.get('format')!r}")
        objs = _req(d, "objects", list)
        if not all(isinstance(o, str) for o in objs):
            raise IntegrityError("log entry objects must be strings")
        return cls(
            seq=_req(d, "seq", int),
            time=_req(d, "time", str),
            action=_req(d, "action", str),
            actor=_req(d, "actor", str),
            objects=tuple(objs),
            details=_req(d, "details", dict),
            prev=_req(d, "prev", str),
        )


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the custody log's size and Merkle root at one moment."""

    tree_size: int
    root_hash: str  # hex
    time: str
    archive_id: str
    key_id: str  # sha256 hex of the signing public key (DER SubjectPublicKeyInfo)
    frontier: tuple[str, ...] = ()  # hex subtree roots; lets writers extend without a re-read
    format: str = CHECKPOINT_FORMAT

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "time": self.time,
            "archive_id": self.archive_id,
            "key_id": self.key_id,
            "frontier": list(self.frontier),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Checkpoint:
        """Raises:
        IntegrityError: A field is missing or has the wrong type.
        """
        if d.get("format") != CHECKPOINT_FORMAT:
            raise IntegrityError(f"unknown checkpoint format {d.get('format')!r}")
        return cls(
            tree_size=_req(d, "tree_size", int),
            root_hash=_req(d, "root_hash", str),
            time=_req(d, "time", str),
            archive_id=_req(d, "archive_id", str),
            key_id=_req(d, "key_id", str),
            frontier=tuple(d.get("frontier") or ()),
        )


@dataclass(frozen=True)
class InclusionProof:
    """Proof that one log entry is in the tree a signed checkpoint commits to.

    Self-contained: the entry bytes, the audit path and the checkpoint with its signature,
    so :func:`witnessbox.ledger.verify.verify_inclusion_proof` needs only the public key.
    """

    leaf_index: int
    tree_size: int
    entry_b64: str
    audit_path: tuple[str, ...]  # hex, bottom-up
    checkpoint_b64: str  # the checkpoint's exact signed bytes
    checkpoint_sig_b64: str
    format: str = PROOF_FORMAT

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "entry_b64": self.entry_b64,
            "audit_path": list(self.audit_path),
            "checkpoint_b64": self.checkpoint_b64,
            "checkpoint_sig_b64": self.checkpoint_sig_b64,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> InclusionProof:
        """Raises:
        IntegrityError: A field is missing or has the wrong type.
        """
        if d.get("format") != PROOF_FORMAT:
            raise IntegrityError(f"unknown proof format {d.get('format')!r}")
        path = _req(d, "audit_path", list)
        return cls(
            leaf_index=_req(d, "leaf_index", int),
            tree_size=_req(d, "tree_size", int),
            entry_b64=_req(d, "entry_b64", str),
            audit_path=tuple(str(p) for p in path),
            checkpoint_b64=_req(d, "checkpoint_b64", str),
            checkpoint_sig_b64=_req(d, "checkpoint_sig_b64", str),
        )
