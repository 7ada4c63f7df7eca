"""ProofMode bundles: recognised beside their media, OpenPGP signatures checked (PGPy and gpg)."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import pytest

from witnessbox.media import proofmode as pm

warnings.simplefilter("ignore")
pgpy = pytest.importorskip("pgpy")
from pgpy.constants import EllipticCurveOID, HashAlgorithm, KeyFlags, PubKeyAlgorithm  # noqa: E402


def _key() -> pgpy.PGPKey:
    key = pgpy.PGPKey.new(PubKeyAlgorithm.ECDSA, EllipticCurveOID.NIST_P256)
    key.add_uid(pgpy.PGPUID.new("ProofMode test device"), usage={KeyFlags.Sign}, hashes=[HashAlgorithm.SHA256])
    return key


def _sign(key: pgpy.PGPKey, data: bytes) -> str:
    return str(key.sign(pgpy.PGPMessage.new(data, file=True), detached=True))


def make_bundle(folder: Path, media: bytes = b"\xff\xd8 fake jpeg bytes", *, by_name: bool = False, key: pgpy.PGPKey | None = None) -> Path:
    """Write a ProofMode-like bundle (media + proof json/csv + signatures + pubkey) into ``folder``."""
    key = key or _key()
    folder.mkdir(parents=True, exist_ok=True)
    m = folder / "IMG_0001.jpg"
    m.write_bytes(media)
    h = hashlib.sha256(media).hexdigest()
    stem = m.name if by_name else h
    proof_json = json.dumps({"File Hash SHA256": h, "Proof Generated": "2026-01-01T10:00:00Z"}).encode()
    proof_csv = f"File Hash SHA256,Proof Generated\n{h},2026-01-01T10:00:00Z\n".encode()
    (folder / f"{stem}.proof.json").write_bytes(proof_json)
    (folder / f"{stem}.proof.csv").write_bytes(proof_csv)
    (folder / f"{stem}.proof.json.asc").write_text(_sign(key, proof_json))
    (folder / f"{stem}.proof.csv.asc").write_text(_sign(key, proof_csv))
    (folder / f"{stem}.asc").write_text(_sign(key, media))
    (folder / f"{stem}.ots").write_bytes(b"\x00OpenTimestamps\x00\x00Proof\x00 fake")
    (folder / pm.PUBKEY).write_text(str(key.pubkey))
    return m


@pytest.mark.parametrize("by_name", [False, True])
def test_recognises_and_verifies_a_clean_bundle(tmp_path: Path, by_name: bool) -> None:
    media = make_bundle(tmp_path, by_name=by_name)
    b = pm.find_bundle(media)
    assert b is not None
    assert pm.PUBKEY in b.files and len(b.files) == 7
    check = pm.verify_bundle(b)
    assert check.ok, check.problems
    assert check.method == "pgpy" and check.media_signature == pm.VALID
    assert set(check.proof_signatures.values()) == {pm.VALID}
    assert check.proof_names_this_media is True
    assert check.signer_fingerprint and len(check.signer_fingerprint) == 40
    assert json.loads(json.dumps(check.to_json()))["ok"] is True


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")
def test_gpg_agrees(tmp_path: Path) -> None:
    media = make_bundle(tmp_path)
    b = pm.find_bundle(media)
    assert b is not None
    assert pm.verify_bundle(b, use_gpg=True).ok
    (tmp_path / "IMG_0001.jpg").write_bytes(b"\xff\xd8 changed")
    b2 = pm.find_bundle(media, sha256=b.sha256)  # the hash the proof files are named by
    assert b2 is not None
    bad = pm.verify_bundle(b2, use_gpg=True)
    assert not bad.ok and bad.media_signature == pm.INVALID and bad.method == "gpg"


def _tamper_media(folder: Path, h: str) -> None:
    (folder / "IMG_0001.jpg").write_bytes(b"\xff\xd8 other bytes")


def _tamper_proof(folder: Path, h: str) -> None:
    p = folder / f"{h}.proof.json"
    p.write_bytes(p.read_bytes().replace(b"2026", b"2025"))


def _drop_media_sig(folder: Path, h: str) -> None:
    (folder / f"{h}.asc").unlink()


def _other_key(folder: Path, h: str) -> None:
    (folder / pm.PUBKEY).write_text(str(_key().pubkey))


def _garbage_sig(folder: Path, h: str) -> None:
    (folder / f"{h}.proof.csv.asc").write_text("-----BEGIN PGP SIGNATURE-----\n\nnot base64!\n-----END PGP SIGNATURE-----\n")


@pytest.mark.parametrize(
    "tamper, expect",
    [
        (_tamper_media, "media signature invalid"),
        (_tamper_proof, ".proof.json signature invalid"),
        (_drop_media_sig, "media signature missing"),
        (_other_key, "media signature invalid"),
        (_garbage_sig, ".proof.csv signature invalid"),
    ],
)
def test_tampered_bundles_fail_and_say_why(tmp_path: Path, tamper, expect: str) -> None:  # type: ignore[no-untyped-def]
    media = make_bundle(tmp_path)
    h = hashlib.sha256(media.read_bytes()).hexdigest()
    tamper(tmp_path, h)
    b = pm.find_bundle(media, sha256=h)
    assert b is not None
    check = pm.verify_bundle(b)
    assert not check.ok
    assert any(expect in p for p in check.problems), check.problems


def test_proof_for_another_file_is_caught(tmp_path: Path) -> None:
    key = _key()
    media = make_bundle(tmp_path, key=key)
    h = hashlib.sha256(media.read_bytes()).hexdigest()
    other = json.dumps({"File Hash SHA256": "ab" * 32}).encode()
    (tmp_path / f"{h}.proof.json").write_bytes(other)
    (tmp_path / f"{h}.proof.json.asc").write_text(_sign(key, other))
    (tmp_path / f"{h}.proof.csv").unlink()
    (tmp_path / f"{h}.proof.csv.asc").unlink()
    b = pm.find_bundle(media)
    assert b is not None
    check = pm.verify_bundle(b)
    assert check.proof_names_this_media is False and not check.ok


def test_no_pubkey_is_unchecked_not_ok(tmp_path: Path) -> None:
    media = make_bundle(tmp_path)
    (tmp_path / pm.PUBKEY).unlink()
    b = pm.find_bundle(media)
    assert b is not None
    check = pm.verify_bundle(b)
    assert not check.ok and check.media_signature == pm.UNCHECKED


def test_plain_media_has_no_bundle_and_proof_files_are_recognised(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert pm.find_bundle(tmp_path / "a.jpg") is None
    make_bundle(tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "b").iterdir() if pm.is_proof_file(p))
    assert "IMG_0001.jpg" not in names and pm.PUBKEY in names and len(names) == 7
    assert pm.find_bundle(tmp_path / "b" / pm.PUBKEY) is None


def test_proofmode_zip_is_unpacked_and_verifies(tmp_path: Path) -> None:
    import zipfile

    make_bundle(tmp_path / "b")
    z = tmp_path / "proof.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted((tmp_path / "b").iterdir()):
            zf.write(p, p.name)
    assert pm.is_proofmode_zip(z) and not pm.is_proofmode_zip(tmp_path / "b" / "IMG_0001.jpg")
    (media,) = pm.extract_zip(z, tmp_path / "out")
    assert media.name == "IMG_0001.jpg"
    b = pm.find_bundle(media)
    assert b is not None and pm.verify_bundle(b).ok


@pytest.mark.parametrize("member", ["sub/pubkey.asc", "../../h.proof.json"])
def test_duplicate_after_flattening_is_refused(tmp_path: Path, member: str) -> None:
    import zipfile

    from witnessbox.errors import InputError

    z = tmp_path / "x.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("h.proof.json", "{}")
        zf.writestr("pubkey.asc", "k")
        zf.writestr(member, "duplicate name once flattened")
    with pytest.raises(InputError):
        pm.extract_zip(z, tmp_path / "out")
