#!/usr/bin/env python3
"""Write the golden evidence package that guards the export format (tests/export/golden/).

Everything in it is fixed: a signing key from a constant seed (Ed25519 signatures are
deterministic), fixed times, fixed tiny payloads, a fixed bagging date. Running this script
twice writes byte-identical packages; the test suite rebuilds it and compares it with the
checked-in copy, so any change of layout, file names, JSON fields, VERIFY.txt or verify.py
shows up as a failing test. After a deliberate format change, run:

    .venv/bin/python scripts/make_golden_bag.py           # rewrites tests/export/golden/package

and, if old packages no longer verify, raise FORMAT in witnessbox/export/bag_verifier.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from witnessbox.export.package import PackageEntry, PackageInput, PackageItem, write_package
from witnessbox.ledger import merkle
from witnessbox.ledger.canonical import canonical_bytes
from witnessbox.ledger.records import Checkpoint, Derivation, ItemRecord, LogEntry, MediaInfo
from witnessbox.ledger.verify import key_id

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "export" / "golden" / "package"
SEED = bytes(range(32))
TIME = "2026-01-01T12:00:00.000000Z"
ARCHIVE_ID = "00000000-0000-4000-8000-000000000000"
# A 1x1 red PNG and its "redacted" black twin, as constant bytes (no encoder involved).
PNG_RED = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
)
PNG_BLACK = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763606060000000040001f61738550000000049454e44ae426082"
)
TEXT = b"Statement scanned on 2026-01-01.\n"
REGIONS = b'{"format":"witnessbox-regions/1","regions":[[0,0,1,1]]}'
INCIDENT_ID = "2026-golden01"


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _record(data: bytes, name: str, media_type: str, *, parent: str | None = None, sidecars: dict[str, str] | None = None) -> ItemRecord:
    return ItemRecord(
        sha256=_sha(data), sha512=hashlib.sha512(data).hexdigest(), size=len(data), media_type=media_type, name=name,
        received_at=TIME, tool="witnessbox golden", encrypted=True, metadata=MediaInfo(kind="image" if "image" in media_type else "other"),
        parent=parent, derivation=Derivation("redacted", "solid") if parent else None, sidecars=sidecars or {},
    )


def build(out: Path) -> Path:
    """Write the golden package to ``out`` (which must not exist)."""
    sk = Ed25519PrivateKey.from_private_bytes(SEED)
    pub = sk.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = key_id(pub)
    side_dir = out.parent / (out.name + ".sidecars-src")
    side_dir.mkdir(parents=True, exist_ok=True)
    (side_dir / "black.png.regions.json").write_bytes(REGIONS)
    photo = _record(PNG_RED, "protest photo.png", "image/png")
    doc = _record(TEXT, "statement.txt", "text/plain")
    red = _record(PNG_BLACK, "black.png", "image/png", parent=photo.sha256, sidecars={"black.png.regions.json": _sha(REGIONS)})
    records = {r.sha256: canonical_bytes(r.to_json()) for r in (photo, doc, red)}

    actions = [
        ("init", [], {"archive_id": ARCHIVE_ID, "encrypted": True, "key_id": kid, "tool": "witnessbox golden"}),
        ("add", [photo.sha256], {"record_sha256": _sha(records[photo.sha256]), "name": photo.name}),
        ("add", [doc.sha256], {"record_sha256": _sha(records[doc.sha256]), "name": doc.name}),
        ("derive", [red.sha256, photo.sha256], {"record_sha256": _sha(records[red.sha256]), "name": red.name, "kind": "redacted", "method": "solid"}),
        ("catalog.incident.add", [INCIDENT_ID], {"title": "Golden incident"}),
        ("catalog.incident.link", [INCIDENT_ID, photo.sha256], {"role": "primary"}),
        ("export", [photo.sha256], {"recipient": "not in packages"}),
    ]
    entries: list[bytes] = []
    prev = "0" * 64
    for seq, (action, objects, details) in enumerate(actions):
        e = LogEntry(seq=seq, time=TIME, action=action, actor="golden", objects=tuple(objects), details=details, prev=prev)
        b = canonical_bytes(e.to_json())
        entries.append(b)
        prev = _sha(b)
    leaves = [merkle.leaf_hash(b) for b in entries]
    size = len(entries) - 1  # the checkpoint before the export entry, as a real export picks
    frontier = merkle.frontier_extend([], 0, leaves[:size])
    cp = Checkpoint(tree_size=size, root_hash=merkle.root_from_frontier(frontier).hex(), time=TIME,
                    archive_id=ARCHIVE_ID, key_id=kid, frontier=tuple(h.hex() for h in frontier))
    cp_bytes = canonical_bytes(cp.to_json())
    concerned = [1, 2, 3, 4, 5]

    def opener(data: bytes):  # type: ignore[no-untyped-def]
        return lambda: contextlib.nullcontext(io.BytesIO(data))

    items = [
        PackageItem(photo.sha256, "original", records[photo.sha256], sk.sign(records[photo.sha256]), ".png", opener(PNG_RED)),
        PackageItem(doc.sha256, "original", records[doc.sha256], sk.sign(records[doc.sha256]), ".txt", opener(TEXT)),
        PackageItem(red.sha256, "derivative", records[red.sha256], sk.sign(records[red.sha256]), ".png", opener(PNG_BLACK),
                    sidecars={"black.png.regions.json": side_dir / "black.png.regions.json"}, parent=photo.sha256),
    ]
    incident = {"id": INCIDENT_ID, "title": "Golden incident", "start": "2026-01-01", "end": "", "precision": "day",
                "place": "square", "region": "Region One", "categories": ["arbitrary-detention"], "description": "",
                "status": "draft", "sources": [], "coordinates": None, "observations": [],
                "links": [{"item": photo.sha256, "role": "primary"}]}
    pkg = PackageInput(
        public_key_pem=pub, items=items, checkpoint_bytes=cp_bytes, checkpoint_sig=sk.sign(cp_bytes), tree_size=size,
        entries=[PackageEntry(s, entries[s], tuple(merkle.inclusion_path(s, leaves[:size]))) for s in concerned],
        incidents=[incident], recipient="golden recipient", sign=sk.sign,
    )
    try:
        write_package(out, pkg, zip_output=False, bagging_date="2026-01-01")
    finally:
        shutil.rmtree(side_dir, ignore_errors=True)
    return out


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    build(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
