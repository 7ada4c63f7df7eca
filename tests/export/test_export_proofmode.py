"""A ProofMode bundle sealed by `add` travels in the evidence package: every proof file,
byte for byte, beside its original, and the package verifies with the standard tools."""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import pytest

from witnessbox.media import proofmode
from witnessbox.workspace import Workspace

warnings.simplefilter("ignore")
pgpy = pytest.importorskip("pgpy")
from pgpy.constants import EllipticCurveOID, HashAlgorithm, KeyFlags, PubKeyAlgorithm  # noqa: E402

PASSPHRASE = "correct horse battery staple"


def _bundle(folder: Path) -> tuple[bytes, dict[str, bytes]]:
    from PIL import Image

    key = pgpy.PGPKey.new(PubKeyAlgorithm.ECDSA, EllipticCurveOID.NIST_P256)
    key.add_uid(pgpy.PGPUID.new("device"), usage={KeyFlags.Sign}, hashes=[HashAlgorithm.SHA256])
    b = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 60, 200)).save(b, "JPEG", quality=90)
    media = b.getvalue()
    h = hashlib.sha256(media).hexdigest()
    proof = f"File Hash SHA256,Proof Generated\n{h},2026-01-01T10:00:00Z\n".encode()
    files = {
        f"{h}.proof.csv": proof,
        f"{h}.proof.csv.asc": str(key.sign(pgpy.PGPMessage.new(proof, file=True), detached=True)).encode(),
        f"{h}.asc": str(key.sign(pgpy.PGPMessage.new(media, file=True), detached=True)).encode(),
        f"{h}.ots": b"\x00OpenTimestamps fake proof",
        proofmode.PUBKEY: str(key.pubkey).encode(),
    }
    folder.mkdir(parents=True)
    (folder / "VID_0001.jpg").write_bytes(media)
    for n, data in files.items():
        (folder / n).write_bytes(data)
    return media, files


def test_export_carries_the_proofmode_sidecars_and_verifies(tmp_path: Path) -> None:
    # Encryption is tested elsewhere (and slow); S3 (WITNESSBOX_TEST_STORE=s3) holds ciphertext only.
    ws = Workspace.init(tmp_path / "arch", PASSPHRASE, encrypted=os.environ.get("WITNESSBOX_TEST_STORE") == "s3")
    media, proofs = _bundle(tmp_path / "phone")
    rep = ws.add([tmp_path / "phone"])
    sha = hashlib.sha256(media).hexdigest()
    assert [r.sha256 for r in rep.added] == [sha] and rep.proofmode[0].check.ok

    out = tmp_path / "package"
    ws.exports.export([sha[:12]], out, recipient="test court", bagging_date="2026-01-02")

    side = out / "data" / "originals" / f"{sha}.sidecars"
    assert {p.name: p.read_bytes() for p in side.iterdir()} == proofs
    v = ws.exports.verify(out)
    assert v.ok, v.to_json()
    # The custody entries about the item (its attachments and the check) are in the package.
    custody = "\n".join(p.read_text() for p in (out / "data" / "custody").rglob("*.json"))
    assert "proofmode-check" in custody and custody.count('"attach"') == len(proofs)

    # A changed proof file is caught and named.
    target = side / f"{sha}.asc"
    target.chmod(0o644)
    target.write_bytes(target.read_bytes().replace(b"-----END", b"-----end"))
    bad = ws.exports.verify(out, run_tools=False)
    assert not bad.ok and any(target.name in f for f in bad.report.failed_paths())
    assert json.dumps(bad.to_json())
