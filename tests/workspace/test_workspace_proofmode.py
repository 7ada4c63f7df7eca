"""ProofMode bundles through `add`: proof files kept unchanged as sidecars (never items of
their own), the OpenPGP check reported and logged; ProofMode zips unpacked; and the public
Workspace calls that other use cases build on (sign, verified_passphrase, log by any id)."""

from __future__ import annotations

import hashlib
import io
import json
import warnings
import zipfile
from pathlib import Path

import pytest
from workspace_helpers import PASSPHRASE

from witnessbox.errors import PassphraseError, UsageError
from witnessbox.ledger.verify import verify_signature
from witnessbox.media import proofmode
from witnessbox.workspace import Workspace

warnings.simplefilter("ignore")
pgpy = pytest.importorskip("pgpy")
from pgpy.constants import EllipticCurveOID, HashAlgorithm, KeyFlags, PubKeyAlgorithm  # noqa: E402


@pytest.fixture(scope="module")
def device_key() -> pgpy.PGPKey:
    key = pgpy.PGPKey.new(PubKeyAlgorithm.ECDSA, EllipticCurveOID.NIST_P256)
    key.add_uid(pgpy.PGPUID.new("ProofMode test device"), usage={KeyFlags.Sign}, hashes=[HashAlgorithm.SHA256])
    return key


def _sig(key: pgpy.PGPKey, data: bytes) -> str:
    return str(key.sign(pgpy.PGPMessage.new(data, file=True), detached=True))


def make_bundle(folder: Path, key: pgpy.PGPKey, media: bytes, name: str = "IMG_0001.jpg", *, sign_other: bool = False) -> dict[str, bytes]:
    """A ProofMode bundle as the app writes it (named by the media's sha256); returns the
    proof files' bytes by name. ``sign_other``: the media signature covers other bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(media)
    h = hashlib.sha256(media).hexdigest()
    proof = json.dumps({"File Hash SHA256": h, "Proof Generated": "2026-01-01T10:00:00Z"}).encode()
    files = {
        f"{h}.proof.json": proof,
        f"{h}.proof.json.asc": _sig(key, proof).encode(),
        f"{h}.asc": _sig(key, b"other bytes" if sign_other else media).encode(),
        f"{h}.ots": b"\x00OpenTimestamps\x00\x00Proof\x00 fake",
        proofmode.PUBKEY: str(key.pubkey).encode(),
    }
    for n, data in files.items():
        (folder / n).write_bytes(data)
    return files


def _jpeg(seed: int) -> bytes:
    from PIL import Image

    b = io.BytesIO()
    Image.new("RGB", (24, 16), (seed * 40 % 256, 90, 10)).save(b, "JPEG", quality=90)
    return b.getvalue()


def _actions(ws: Workspace, sha: str) -> list[str]:
    return [e.action for e in ws.log(sha)]


def test_folder_with_a_bundle_keeps_proofs_as_sidecars(ws: Workspace, device_key: pgpy.PGPKey, tmp_path: Path) -> None:
    folder = tmp_path / "phone"
    media = _jpeg(1)
    proofs = make_bundle(folder, device_key, media)
    (folder / "note.txt").write_bytes(b"an unrelated file\n")

    rep = ws.add([folder])

    assert rep.ok and not rep.warnings, rep.to_json()
    assert sorted(r.name for r in rep.added) == ["IMG_0001.jpg", "note.txt"]  # proof files are no items
    sha = hashlib.sha256(media).hexdigest()
    [pm] = rep.proofmode
    assert pm.sha256 == sha and pm.check.ok and pm.check.media_signature == proofmode.VALID
    assert set(pm.sidecars) == set(proofs)
    side = ws.sidecars(sha)
    assert {n: p.read_bytes() for n, p in side.items()} == proofs  # unchanged, byte for byte
    entry = [e for e in ws.log(sha) if e.action == "proofmode-check"][-1]
    assert entry.details["ok"] is True and entry.details["signer_fingerprint"] == pm.check.signer_fingerprint
    assert json.loads(json.dumps(rep.to_json()))["proofmode"][0]["check"]["ok"] is True
    assert ws.verify().ok


def test_a_bundle_that_does_not_verify_is_kept_and_warned(ws: Workspace, device_key: pgpy.PGPKey, tmp_path: Path) -> None:
    media = _jpeg(2)
    make_bundle(tmp_path / "in", device_key, media, sign_other=True)

    rep = ws.add([tmp_path / "in" / "IMG_0001.jpg"])  # the media alone: its bundle is found beside it

    sha = hashlib.sha256(media).hexdigest()
    assert [r.sha256 for r in rep.added] == [sha]
    [pm] = rep.proofmode
    assert not pm.check.ok and pm.check.media_signature == proofmode.INVALID
    assert any("ProofMode" in w and "media signature invalid" in w for w in rep.warnings)
    assert len(ws.sidecars(sha)) == 5
    assert [e.details["ok"] for e in ws.log(sha) if e.action == "proofmode-check"] == [False]


def test_duplicate_media_reports_the_bundle_again_without_reattaching(ws: Workspace, device_key: pgpy.PGPKey, tmp_path: Path) -> None:
    media = _jpeg(3)
    make_bundle(tmp_path / "in", device_key, media)
    ws.add([tmp_path / "in"])
    rep = ws.add([tmp_path / "in"])
    sha = hashlib.sha256(media).hexdigest()
    assert [d.sha256 for d in rep.duplicates] == [sha] and not rep.added
    assert rep.proofmode[0].check.ok
    assert _actions(ws, sha).count("attach") == 5 and _actions(ws, sha).count("proofmode-check") == 2


def test_a_changed_proof_file_is_kept_beside_the_first(ws: Workspace, device_key: pgpy.PGPKey, tmp_path: Path) -> None:
    media = _jpeg(6)
    proofs = make_bundle(tmp_path / "in", device_key, media)
    ws.add([tmp_path / "in"])
    sha = hashlib.sha256(media).hexdigest()
    ots = next(n for n in proofs if n.endswith(".ots"))
    (tmp_path / "in" / ots).write_bytes(b"an upgraded timestamp proof")
    rep = ws.add([tmp_path / "in"])
    side = ws.sidecars(sha)
    renamed = f"{hashlib.sha256(b'an upgraded timestamp proof').hexdigest()[:12]}-{ots}"
    assert side[ots].read_bytes() == proofs[ots] and side[renamed].read_bytes() == b"an upgraded timestamp proof"
    assert renamed in rep.proofmode[0].sidecars and ots not in rep.proofmode[0].sidecars
    last = [e for e in ws.log(sha) if e.action == "proofmode-check"][-1]
    assert renamed in last.details["files"]


def test_proof_files_without_their_media_are_sealed_as_items(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "letter.txt").write_bytes(b"a signed letter\n")
    (folder / "letter.txt.asc").write_bytes(b"-----BEGIN PGP SIGNATURE-----\nnot really\n")
    rep = ws.add([folder])
    # letter.txt.asc names letter.txt, so it is a "bundle" without pubkey: kept as its sidecar.
    assert [r.name for r in rep.added] == ["letter.txt"]
    assert not rep.proofmode[0].check.ok and "no pubkey.asc" in rep.proofmode[0].check.problems[0]
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "pubkey.asc").write_bytes(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    rep2 = ws.add([lone])
    assert [r.name for r in rep2.added] == ["pubkey.asc"]  # nothing claims it: never dropped


def test_proofmode_zip_is_unpacked_and_logged(ws: Workspace, device_key: pgpy.PGPKey, tmp_path: Path) -> None:
    media = _jpeg(4)
    proofs = make_bundle(tmp_path / "b", device_key, media)
    zpath = tmp_path / "proofmode-export.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted((tmp_path / "b").iterdir()):
            zf.write(p, p.name)

    rep = ws.add([zpath])

    sha = hashlib.sha256(media).hexdigest()
    assert rep.ok and [r.sha256 for r in rep.added] == [sha] and rep.added[0].name == "IMG_0001.jpg"
    assert rep.proofmode[0].check.ok and rep.proofmode[0].path.startswith(str(zpath))
    assert {n: p.read_bytes() for n, p in ws.sidecars(sha).items()} == proofs
    unzip = [e for e in ws.log(sha) if e.action == "proofmode-unzip"]
    assert unzip and unzip[0].details["sha256"] == hashlib.sha256(zpath.read_bytes()).hexdigest()
    assert list((ws.root / "tmp").iterdir()) == []  # the unpacked copy is gone


def test_unsafe_zip_fails_and_leaves_nothing(ws: Workspace, tmp_path: Path) -> None:
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("a/pubkey.asc", "k")
        zf.writestr("b/pubkey.asc", "k")  # the same base name twice
        zf.writestr("x.proof.json", "{}")
    rep = ws.add([zpath])
    assert not rep.added and len(rep.failed) == 1 and "duplicate member" in rep.failed[0].error
    assert list((ws.root / "tmp").iterdir()) == []


def test_recovery_removes_an_unpacked_zip_of_a_dead_process(ws: Workspace) -> None:
    dead = ws.root / "tmp" / "plain-999999999-proofmode-abc"
    dead.mkdir()
    (dead / "IMG.jpg").write_bytes(b"x")
    with ws.transaction():
        pass
    assert not dead.exists()


def test_cli_add_json_reports_proofmode(archive_path: Path, device_key: pgpy.PGPKey, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from witnessbox.cli import main

    make_bundle(tmp_path / "in", device_key, _jpeg(5))
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", PASSPHRASE)
    try:
        main(["add", str(tmp_path / "in"), "--archive", str(archive_path), "--json"])
    except SystemExit as e:
        assert not e.code
    out = json.loads(capsys.readouterr().out)
    assert len(out["added"]) == 1 and out["proofmode"][0]["check"]["ok"] is True
    assert len(out["proofmode"][0]["sidecars"]) == 5


# -- public Workspace calls ------------------------------------------------------------------
def test_sign_and_verified_passphrase(ws: Workspace, archive_path: Path) -> None:
    sig = ws.sign(b"payload")
    assert len(sig) == 64
    verify_signature(b"payload", sig, ws.public_key_pem, what="test")
    assert ws.verified_passphrase() == PASSPHRASE
    with Workspace.open(archive_path, "wrong passphrase") as bad, pytest.raises(PassphraseError):
        bad.verified_passphrase()


def test_log_accepts_any_logged_object_id(ws: Workspace, files: Path) -> None:
    sha = ws.add([files / "a.txt"]).added[0].sha256
    ws.log_action("catalog.incident.add", ["INC-2026-001"], {"title": "t"})
    ws.log_action("note", [sha[:8]], {})  # an id that is also an item prefix
    assert [e.action for e in ws.log("INC-2026-001")] == ["catalog.incident.add"]
    assert ws.log("no-such-id") == []
    assert [e.action for e in ws.log(sha[:8])] == ["add"]  # a prefix resolves to the item
    assert [e.action for e in ws.log(sha[:8], exact=True)] == ["note"]
    sizes = ws.checkpoint_sizes()
    cp, cp_sig = ws.read_checkpoint(sizes[-1])
    verify_signature(cp, cp_sig, ws.public_key_pem, what="checkpoint")
    assert len(ws.log_leaves(sizes[-1])) == sizes[-1]
    assert ws.log_entry_bytes(0).startswith(b"{")


def test_log_prefix_of_several_items_is_refused(ws: Workspace, tmp_path: Path) -> None:
    # Find two contents whose sha256 share a first hex digit (always within 17 tries).
    seen: dict[str, bytes] = {}
    for i in range(17):
        data = f"content {i}\n".encode()
        h = hashlib.sha256(data).hexdigest()[0]
        if h in seen:
            (tmp_path / "x.txt").write_bytes(seen[h])
            (tmp_path / "y.txt").write_bytes(data)
            break
        seen[h] = data
    ws.add([tmp_path / "x.txt", tmp_path / "y.txt"])
    with pytest.raises(UsageError):
        ws.log(h)
