"""Evidence packages: what goes into the bag, under which name (format: docs/export-format.md).

This module lays out a package from already-gathered, typed inputs; it never opens the
archive (``witnessbox.workspace.exports`` gathers, this writes). Layout::

    bagit.txt  bag-info.txt  manifest-sha256.txt  tagmanifest-sha256.txt
    VERIFY.txt                      exact commands for standard tools
    verify.py                       standard-library verifier (witnessbox.export.bag_verifier)
    keys/archive-signing.pub.pem    the archive's Ed25519 public key
    keys/c2pa-ca.cert.pem           CA of the content credentials (when derivatives carry them)
    keys/tsa-certs.pem              certificates the timestamp authority sent (with --tsa)
    data/export.json                what is in the package and how the pieces relate
    data/originals/<sha256><.ext>   originals, decrypted, byte-identical to what was received
    data/derivatives/<sha256><.ext> redacted copies
    data/<originals|derivatives>/<sha256>.sidecars/<name>   regions files, ProofMode proofs
    data/records/<sha256>.json(.sig)                        signed records, exactly as stored
    data/custody/checkpoint.json(.sig)                      one signed checkpoint
    data/custody/checkpoint.json.tsr                        RFC 3161 timestamp (with --tsa)
    data/custody/entries/<seq>.json, proofs/<seq>.json      entries and their inclusion proofs
    data/incident.json                                      exported incidents (if any)
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ExportError
from ..ledger.canonical import canonical_bytes
from ..ledger.verify import key_id
from . import bag_verifier
from .bag import BagWriter
from .timestamp import Timestamp

FORMAT = bag_verifier.FORMAT
PUBLIC_KEY = bag_verifier.PUBLIC_KEY
C2PA_CA = "keys/c2pa-ca.cert.pem"
TSA_CERTS = "keys/tsa-certs.pem"
CHECKPOINT = "data/custody/checkpoint.json"
TIMESTAMP = CHECKPOINT + ".tsr"
INCIDENTS = "data/incident.json"
PROOF_FORMAT = "witnessbox-bag-inclusion-proof/1"
_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")

OpenStream = Callable[[], contextlib.AbstractContextManager[BinaryIO]]


@dataclass(frozen=True)
class PackageItem:
    """One item to export, with everything needed to write its files."""

    sha256: str
    role: str  # "original" | "derivative"
    record_bytes: bytes  # exactly as stored
    record_sig: bytes
    suffix: str  # e.g. ".jpg" (from the record's name), or ""
    open_plaintext: OpenStream
    sidecars: Mapping[str, Path] = field(default_factory=dict)  # name -> readable file
    parent: str | None = None
    size: int = 0  # plaintext bytes, for progress only


@dataclass(frozen=True)
class PackageEntry:
    """One custody log entry with its audit path into the package's checkpoint."""

    seq: int
    entry_bytes: bytes
    audit_path: tuple[bytes, ...]


@dataclass(frozen=True)
class PackageInput:
    """Everything a package holds, gathered from the archive."""

    public_key_pem: bytes
    items: Sequence[PackageItem]
    checkpoint_bytes: bytes
    checkpoint_sig: bytes
    tree_size: int
    entries: Sequence[PackageEntry]
    incidents: Sequence[Mapping[str, Any]] | None = None
    recipient: str | None = None
    c2pa_ca_pem: bytes | None = None
    timestamp: Timestamp | None = None
    #: Signs with the archive key: export.json gets a detached signature, so removing an
    #: item from the package (and from export.json) breaks a signature.
    sign: Callable[[bytes], bytes] | None = None


@dataclass(frozen=True)
class PackageSummary:
    """What was written."""

    path: Path
    originals: int
    derivatives: int
    entries: int
    tree_size: int
    payload_files: int
    payload_bytes: int
    manifest_sha256: str  # SHA-256 of manifest-sha256.txt: names the payload exactly
    timestamp_time: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "originals": self.originals,
            "derivatives": self.derivatives,
            "entries": self.entries,
            "tree_size": self.tree_size,
            "payload_files": self.payload_files,
            "payload_bytes": self.payload_bytes,
            "manifest_sha256": self.manifest_sha256,
            "timestamp_time": self.timestamp_time,
        }


def item_suffix(name: str) -> str:
    """A safe lower-case extension from an original file name (or "")."""
    s = Path(name).suffix.lower()
    return s if _SUFFIX.fullmatch(s) else ""


def _item_paths(it: PackageItem) -> tuple[str, str]:
    folder = "data/originals" if it.role == "original" else "data/derivatives"
    return f"{folder}/{it.sha256}{it.suffix}", f"{folder}/{it.sha256}.sidecars"


#: ``progress(advance_bytes, total_bytes_or_None, label)``, as the workspace's use cases take.
Progress = Callable[[int, int | None, str], None]


def write_package(
    target: Path, pkg: PackageInput, *, zip_output: bool, bagging_date: str, progress: Progress | None = None
) -> PackageSummary:
    """Write the package as a bag at ``target`` (a folder, or a zip with ``zip_output``).

    Nothing appears at ``target`` unless every file was written and every original's bytes
    hash to the SHA-256 its record states.

    Raises:
        ExportError: ``target`` exists, an original does not match its record, or the disk
            refused (nothing was written).
    """
    with BagWriter(target, zip_output=zip_output) as bag:
        manifest = _write_payload(bag, pkg, progress)
        export_json = canonical_bytes(manifest)
        bag.add_bytes("data/export.json", export_json)
        if pkg.sign is None:
            raise ExportError("internal: a package must be signed")  # pragma: no cover
        bag.add_bytes("data/export.json.sig", pkg.sign(export_json))
        bag.add_bytes(PUBLIC_KEY, pkg.public_key_pem)
        if pkg.c2pa_ca_pem:
            bag.add_bytes(C2PA_CA, pkg.c2pa_ca_pem)
        if pkg.timestamp and pkg.timestamp.certificates_pem:
            bag.add_bytes(TSA_CERTS, pkg.timestamp.certificates_pem)
        bag.add_bytes("verify.py", resources.files(__package__).joinpath("bag_verifier.py").read_bytes())
        bag.add_bytes("VERIFY.txt", verify_text(manifest, pkg).encode("utf-8"))
        payload_files, payload_bytes = bag.payload_files, bag.payload_bytes
        digest = hashlib.sha256(bag.payload_manifest()).hexdigest()
        bag.finish(bagging_date=bagging_date)
    roles = [it.role for it in pkg.items]
    return PackageSummary(
        path=Path(target),
        originals=roles.count("original"),
        derivatives=roles.count("derivative"),
        entries=len(pkg.entries),
        tree_size=pkg.tree_size,
        payload_files=payload_files,
        payload_bytes=payload_bytes,
        manifest_sha256=digest,
        timestamp_time=pkg.timestamp.gen_time if pkg.timestamp else None,
    )


def _write_payload(bag: BagWriter, pkg: PackageInput, progress: Progress | None) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    total = sum(it.size for it in pkg.items) or None
    for it in sorted(pkg.items, key=lambda i: (i.role != "original", i.sha256)):
        file_rel, sidecar_dir = _item_paths(it)
        tick = (lambda n, label=file_rel: progress(n, total, label)) if progress else None
        with it.open_plaintext() as stream:
            got = bag.add_stream(file_rel, stream, tick)
        if got != it.sha256:
            raise ExportError(f"item {it.sha256} decrypts to bytes with SHA-256 {got}: run `witnessbox verify`")
        rec_rel = f"data/records/{it.sha256}.json"
        bag.add_bytes(rec_rel, it.record_bytes)
        bag.add_bytes(rec_rel + ".sig", it.record_sig)
        sidecars = []
        for name in sorted(it.sidecars):
            sc_rel = f"{sidecar_dir}/{name}"
            with open(it.sidecars[name], "rb") as f:
                sidecars.append({"name": name, "file": sc_rel, "sha256": bag.add_stream(sc_rel, f)})
        items.append(
            {"sha256": it.sha256, "role": it.role, "parent": it.parent, "file": file_rel, "record": rec_rel, "sidecars": sidecars}
        )
    bag.add_bytes(CHECKPOINT, pkg.checkpoint_bytes)
    bag.add_bytes(CHECKPOINT + ".sig", pkg.checkpoint_sig)
    entries = []
    for e in sorted(pkg.entries, key=lambda e: e.seq):
        entry_rel = f"data/custody/entries/{e.seq:012d}.json"
        proof_rel = f"data/custody/proofs/{e.seq:012d}.json"
        bag.add_bytes(entry_rel, e.entry_bytes)
        proof = {"format": PROOF_FORMAT, "leaf_index": e.seq, "tree_size": pkg.tree_size, "audit_path": [h.hex() for h in e.audit_path]}
        bag.add_bytes(proof_rel, canonical_bytes(proof))
        entries.append({"seq": e.seq, "entry": entry_rel, "proof": proof_rel})
    custody: dict[str, Any] = {"checkpoint": CHECKPOINT, "entries": entries, "timestamp": None}
    if pkg.timestamp:
        bag.add_bytes(TIMESTAMP, pkg.timestamp.response_der)
        custody["timestamp"] = TIMESTAMP
    incidents = None
    incidents_sha256 = None
    if pkg.incidents is not None:
        # Its sha256 goes into the signed export.json: the bag manifests alone are unsigned,
        # so without it the incident file could be edited and the manifests recomputed.
        incidents_sha256 = bag.add_bytes(
            INCIDENTS, canonical_bytes({"format": "witnessbox-incidents/1", "incidents": list(pkg.incidents)})
        )
        incidents = INCIDENTS
    return {
        "format": FORMAT,
        "public_key": PUBLIC_KEY,
        "recipient": pkg.recipient,
        "items": items,
        "custody": custody,
        "incidents": incidents,
        "incidents_sha256": incidents_sha256,
        "content_credentials_ca": C2PA_CA if pkg.c2pa_ca_pem else None,
    }


def verify_text(manifest: Mapping[str, Any], pkg: PackageInput) -> str:
    """VERIFY.txt: what the package is and the exact commands that check it."""
    signed = ["data/export.json"] + [it["record"] for it in manifest["items"]] + [CHECKPOINT]
    lines = [
        "witnessbox evidence package",
        "===========================",
        "",
        "This folder is a BagIt bag (RFC 8493). Everything can be checked offline with standard",
        "tools. Run every command below from this folder (the one holding this file).",
        "",
        "1. Every file is intact (GNU coreutils; each line must say OK):",
        "",
        "   sha256sum -c manifest-sha256.txt",
        "   sha256sum -c tagmanifest-sha256.txt",
        "",
        "2. The package list (data/export.json), every record and the custody checkpoint carry a",
        f"   valid Ed25519 signature by the archive key {PUBLIC_KEY}",
        "   (OpenSSL 3; each must print 'Signature Verified Successfully'):",
        "",
    ]
    for rel in signed:
        lines.append(f"   openssl pkeyutl -verify -pubin -inkey {PUBLIC_KEY} -rawin -in {rel} -sigfile {rel}.sig")
    lines += [
        "",
        "   or all at once:",
        "",
        f"   for f in data/export.json data/records/*.json {CHECKPOINT}; do openssl pkeyutl -verify -pubin -inkey {PUBLIC_KEY} -rawin -in \"$f\" -sigfile \"$f.sig\" || echo \"FAILED: $f\"; done",
        "",
        "   The signatures prove only that the holder of that key signed. The key's id (SHA-256",
        f"   of its DER form) is {key_id(pkg.public_key_pem)};",
        "   compare it with the id the archive gave you by another channel. To print it:",
        "",
        f"   openssl pkey -pubin -in {PUBLIC_KEY} -outform DER | sha256sum",
        "",
        "3. What no standard tool checks: that each record and log entry is canonical JSON",
        "   (RFC 8785), that each custody entry is in the signed log at its position (RFC 6962",
        "   Merkle inclusion proofs to the checkpoint's root), that each original's SHA-256 is the",
        "   one its signed record states, and that nothing was added or left out. verify.py does",
        "   all of the above, and the signatures too (with openssl when present, else built in);",
        "   it needs only Python 3.8+ and its source is short enough to read:",
        "",
        "   python3 verify.py",
        "",
    ]
    n = 4
    if pkg.timestamp:
        lines += [
            f"{n}. Trusted timestamp (RFC 3161) over the checkpoint, from the timestamp authority whose",
            f"   certificates are in {TSA_CERTS}. Check it against that authority's published root",
            "   certificate (TSA_ROOT.pem below; obtain it from the authority itself):",
            "",
            f"   openssl ts -verify -data {CHECKPOINT} -in {TIMESTAMP} -CAfile TSA_ROOT.pem -untrusted {TSA_CERTS}",
            f"   openssl ts -reply -in {TIMESTAMP} -text      # shows the time",
            "",
        ]
        n += 1
    if pkg.c2pa_ca_pem:
        lines += [
            f"{n}. Redacted copies in data/derivatives carry content credentials (C2PA) naming the",
            "   original's SHA-256 and the redaction method. Any C2PA reader shows them; to see them",
            f"   as trusted, add {C2PA_CA} to the reader's trust anchors, e.g.:",
            "",
            f"   c2patool data/derivatives/FILE --trust_anchors {C2PA_CA}",
            "",
        ]
        n += 1
    lines += [
        "What the files are:",
        "  data/export.json           list of items, files, custody entries (canonical JSON, signed)",
        "  data/originals/            originals, byte-identical to what was received, named by SHA-256;",
        "                             the original file name is in the signed record",
        "  data/derivatives/          redacted copies (records in data/records say parent and method)",
        "  *.sidecars/                files kept beside an item: regions of a redaction, ProofMode proofs",
        "  data/records/              each item's signed record, exactly as the archive stores it",
        "  data/custody/              custody log entries about these items, their inclusion proofs,",
        "                             and the signed checkpoint they lead to",
        "  data/incident.json         the incidents exported with these items (no witness contacts)",
        "  bag-info.txt               Bagging-Date is the only field that differs between two exports",
        "                             of the same content",
        "",
    ]
    return "\n".join(lines)
