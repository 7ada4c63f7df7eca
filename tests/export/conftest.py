"""Fixtures for export tests: one small archive with originals, a redacted copy with content
credentials and a regions sidecar, a ProofMode bundle; a clean package of it; a local TSA."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _tsa_impl import LocalTSA, local_tsa  # noqa: E402

from witnessbox.media import proofmode  # noqa: E402

PASS = "correct horse battery staple"


@dataclass
class Sample:
    ws: object
    root: Path
    photo: str  # sha256 of an original JPEG
    doc: str  # sha256 of an original text document with a ProofMode bundle
    redacted: str  # sha256 of the redacted copy of `photo`


def _jpeg(color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    b = io.BytesIO()
    Image.new("RGB", (48, 32), color).save(b, "JPEG", quality=90)
    return b.getvalue()


def _proofmode_bundle(folder: Path, media: bytes) -> Path:
    warnings.simplefilter("ignore")
    import pgpy
    from pgpy.constants import EllipticCurveOID, HashAlgorithm, KeyFlags, PubKeyAlgorithm

    key = pgpy.PGPKey.new(PubKeyAlgorithm.ECDSA, EllipticCurveOID.NIST_P256)
    key.add_uid(pgpy.PGPUID.new("device"), usage={KeyFlags.Sign}, hashes=[HashAlgorithm.SHA256])
    folder.mkdir(parents=True)
    m = folder / "IMG_0002.jpg"
    m.write_bytes(media)
    h = hashlib.sha256(media).hexdigest()
    proof = json.dumps({"File Hash SHA256": h}).encode()
    (folder / f"{h}.proof.json").write_bytes(proof)
    (folder / f"{h}.proof.json.asc").write_text(str(key.sign(pgpy.PGPMessage.new(proof, file=True), detached=True)))
    (folder / f"{h}.asc").write_text(str(key.sign(pgpy.PGPMessage.new(media, file=True), detached=True)))
    (folder / "pubkey.asc").write_text(str(key.pubkey))
    return m


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    from witnessbox.workspace import Workspace

    base = tmp_path_factory.mktemp("archive")
    ws = Workspace.init(base / "arch", PASS)
    inputs = base / "in"
    inputs.mkdir()
    (inputs / "protest.jpg").write_bytes(_jpeg((200, 40, 40)))
    rep = ws.add([inputs / "protest.jpg"], source="test", note="synthetic")
    photo = rep.added[0].sha256
    media = _proofmode_bundle(base / "pm", _jpeg((10, 90, 10)))
    rep2 = ws.add([media])
    doc = rep2.added[0].sha256
    bundle = proofmode.find_bundle(media, sha256=doc)
    assert bundle is not None
    assert proofmode.import_bundle(ws, doc, bundle).ok  # type: ignore[arg-type]
    copy = ws.exports.sign_redacted_copy(_jpeg((0, 0, 0)), "image/jpeg", parent_sha256=photo, method="solid", description="1 face hidden")
    (base / "redacted.jpg").write_bytes(copy)
    (base / "regions.json").write_text('{"regions": [[1, 2, 3, 4]]}')
    rec = ws.add_derivative(photo, base / "redacted.jpg", kind="redacted", method="solid", sidecars={"redacted.jpg.regions.json": base / "regions.json"})
    return Sample(ws=ws, root=base / "arch", photo=photo, doc=doc, redacted=rec.sha256)


@pytest.fixture(scope="session")
def clean_bag(sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bags") / "package"
    sample.ws.exports.export([sample.photo, sample.doc], out, recipient="test court", bagging_date="2026-01-02")  # type: ignore[attr-defined]
    return out


@pytest.fixture(scope="session")
def tsa() -> Iterator[LocalTSA]:
    with local_tsa() as t:
        yield t
