"""Evidence packages end to end: standard tools accept a clean package; any change is caught
and named; deterministic; atomic; timestamped by a local TSA; credentials and sidecars kept."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import bagit
import pytest

from witnessbox.errors import ExportError, NotFoundError, PassphraseError, UsageError
from witnessbox.export import bag_verifier as bv
from witnessbox.media import credentials as cr

PY = sys.executable


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def _copy(bag: Path, tmp: Path) -> Path:
    dst = tmp / "bag"
    shutil.copytree(bag, dst)
    return dst


def _rel(bag: Path, pattern: str) -> str:
    hits = sorted(p.relative_to(bag).as_posix() for p in bag.glob(pattern) if p.is_file())
    assert hits, pattern
    return hits[0]


def _rewrite_manifests(bag: Path) -> None:
    """What a forger would do after changing files: recompute both manifests."""
    def line(rel: str) -> str:
        return f"{hashlib.sha256((bag / rel).read_bytes()).hexdigest()}  {rel}\n"

    payload = sorted(p.relative_to(bag).as_posix() for p in (bag / "data").rglob("*") if p.is_file())
    (bag / "manifest-sha256.txt").write_text("".join(line(r) for r in payload))
    octets = sum((bag / r).stat().st_size for r in payload)
    info = (bag / "bag-info.txt").read_text().splitlines()
    (bag / "bag-info.txt").write_text("".join((f"Payload-Oxum: {octets}.{len(payload)}" if ln.startswith("Payload-Oxum") else ln) + "\n" for ln in info))
    tags = sorted(p.relative_to(bag).as_posix() for p in bag.rglob("*") if p.is_file() and not p.relative_to(bag).as_posix().startswith("data/") and p.name != "tagmanifest-sha256.txt")
    (bag / "tagmanifest-sha256.txt").write_text("".join(line(r) for r in tags))


# --------------------------------------------------------------------------- clean


def test_clean_package_passes_every_standard_tool(clean_bag: Path) -> None:
    for m in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        r = _run(["sha256sum", "--strict", "-c", m], clean_bag)
        assert r.returncode == 0, r.stdout + r.stderr
    sigs = sorted(clean_bag.glob("data/**/*.sig"))
    assert len(sigs) == 5  # export.json, three records and the checkpoint
    for sig in sigs:
        target = sig.relative_to(clean_bag).as_posix()[: -len(".sig")]
        r = _run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", bv.PUBLIC_KEY, "-rawin", "-in", target, "-sigfile", target + ".sig"], clean_bag)
        assert r.returncode == 0 and "Signature Verified Successfully" in r.stdout, target
    r = _run(["python3", "verify.py"], clean_bag)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK: every check passed" in r.stdout and "openssl" in r.stdout
    bagit.Bag(str(clean_bag)).validate()


def test_verify_py_runs_without_openssl(clean_bag: Path) -> None:
    r = _run([PY, "-I", "-S", "verify.py", "--no-openssl", "--json"], clean_bag)  # no site-packages at all
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["ok"], out
    assert any("built-in RFC 8032" in n for n in out["notes"])


def test_every_verify_txt_command_passes(clean_bag: Path) -> None:
    cmds = [ln.strip() for ln in (clean_bag / "VERIFY.txt").read_text().splitlines() if ln.strip().startswith(("sha256sum", "openssl pkeyutl", "python3", "for f in"))]
    assert len(cmds) >= 6
    for c in cmds:
        r = subprocess.run(["bash", "-c", c], cwd=clean_bag, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "FAILED" not in r.stdout, (c, r.stdout, r.stderr)


def test_contents(sample, clean_bag: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((clean_bag / "data/export.json").read_bytes())
    roles = {it["sha256"]: it["role"] for it in manifest["items"]}
    assert roles == {sample.photo: "original", sample.doc: "original", sample.redacted: "derivative"}
    assert manifest["recipient"] == "test court"
    with sample.ws.open_original(sample.photo) as f:
        assert (clean_bag / f"data/originals/{sample.photo}.jpg").read_bytes() == f.read()
    # Records exactly as stored; the original's name is in the record, not the file name.
    stored = sample.ws.record_path(sample.photo).read_bytes()
    assert (clean_bag / f"data/records/{sample.photo}.json").read_bytes() == stored
    assert json.loads(stored)["name"] == "protest.jpg"
    # Redacted copy with its regions file and content credentials readable by C2PA readers.
    assert (clean_bag / f"data/derivatives/{sample.redacted}.sidecars/redacted.jpg.regions.json").is_file()
    got = cr.read_credentials((clean_bag / f"data/derivatives/{sample.redacted}.jpg").read_bytes(), "image/jpeg",
                              trust_anchor_pem=(clean_bag / "keys/c2pa-ca.cert.pem").read_bytes())
    assert got is not None and got.validation_state == "Trusted" and got.parent_sha256 == sample.photo
    # ProofMode proof files kept as sidecars, unchanged; the check was logged and exported.
    side = sorted(p.name for p in (clean_bag / f"data/originals/{sample.doc}.sidecars").iterdir())
    assert side == sorted([f"{sample.doc}.asc", f"{sample.doc}.proof.json", f"{sample.doc}.proof.json.asc", "pubkey.asc"])
    actions = [json.loads(p.read_bytes())["action"] for p in sorted((clean_bag / "data/custody/entries").iterdir())]
    assert actions.count("add") == 2 and "derive" in actions and actions.count("attach") == 4 and "proofmode-check" in actions
    assert "export" not in actions


def test_export_is_logged(sample, clean_bag: Path) -> None:  # type: ignore[no-untyped-def]
    logged = [e for e in sample.ws.log(sample.photo) if e.action == "export"]
    assert logged and logged[0].details["recipient"] == "test court"
    assert logged[0].details["manifest_sha256"] == hashlib.sha256((clean_bag / "manifest-sha256.txt").read_bytes()).hexdigest()


def test_verify_export_runs_all(sample, clean_bag: Path) -> None:  # type: ignore[no-untyped-def]
    v = sample.ws.exports.verify(clean_bag)
    assert v.ok, v.to_json()
    assert [t.command.split()[0] for t in v.tools] == ["sha256sum", "sha256sum", "openssl"]


# --------------------------------------------------------------------------- tampering


def _flip(bag: Path, rel: str) -> None:
    p = bag / rel
    data = bytearray(p.read_bytes())
    i = len(data) // 2
    # Stay printable in text files so the change is "one byte", not an encoding error.
    data[i] = ord("x") if data[i] != ord("x") else ord("y")
    p.write_bytes(bytes(data))


KINDS: dict[str, str] = {
    "original": "data/originals/*.jpg",
    "derivative": "data/derivatives/*.jpg",
    "regions sidecar": "data/derivatives/*.sidecars/*.regions.json",
    "proofmode sidecar": "data/originals/*.sidecars/*.proof.json",
    "record": "data/records/*.json",
    "record signature": "data/records/*.json.sig",
    "log entry": "data/custody/entries/*.json",
    "inclusion proof": "data/custody/proofs/*.json",
    "checkpoint": "data/custody/checkpoint.json",
    "checkpoint signature": "data/custody/checkpoint.json.sig",
    "export.json": "data/export.json",
    "export.json signature": "data/export.json.sig",
    "public key": "keys/archive-signing.pub.pem",
    "c2pa ca": "keys/c2pa-ca.cert.pem",
    "bagit.txt": "bagit.txt",
    "bag-info.txt": "bag-info.txt",
    "manifest": "manifest-sha256.txt",
    "tag manifest": "tagmanifest-sha256.txt",
    "VERIFY.txt": "VERIFY.txt",
    "verify.py": "verify.py",
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_one_changed_byte_is_caught_and_named(clean_bag: Path, tmp_path: Path, kind: str) -> None:
    bag = _copy(clean_bag, tmp_path)
    rel = _rel(bag, KINDS[kind])
    _flip(bag, rel)
    report = bv.verify_bag(bag)
    assert not report.ok
    named = report.failed_paths() + [f.reason for f in report.failures]
    assert any(rel in n for n in named), (rel, report.failures)
    if rel != "tagmanifest-sha256.txt":  # nothing covers the tag manifest but itself
        listed = "manifest-sha256.txt" if rel.startswith("data/") else "tagmanifest-sha256.txt"
        r = _run(["sha256sum", "-c", listed], bag)
        assert r.returncode != 0 and f"{rel}: FAILED" in r.stdout


@pytest.mark.parametrize(
    "kind",
    ["original", "record", "log entry", "checkpoint", "record signature", "regions sidecar", "proofmode sidecar", "inclusion proof"],
)
def test_changes_with_recomputed_manifests_are_still_caught(clean_bag: Path, tmp_path: Path, kind: str) -> None:
    """A forger who also rewrites the BagIt manifests still fails the signatures, the
    canonical form or the Merkle proofs, and verify.py names the file."""
    bag = _copy(clean_bag, tmp_path)
    rel = _rel(bag, KINDS[kind])
    _flip(bag, rel)
    _rewrite_manifests(bag)
    assert _run(["sha256sum", "-c", "manifest-sha256.txt"], bag).returncode == 0
    r = _run(["python3", "verify.py", "--json"], bag)
    out = json.loads(r.stdout)
    assert r.returncode == 1
    assert any(rel in f["path"] or rel in f["reason"] for f in out["failures"]), out["failures"]


def test_item_removed_with_its_listing_is_caught(sample, clean_bag: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Taking an item out entirely (files, export.json entry, manifests) breaks export.json's signature."""
    bag = _copy(clean_bag, tmp_path)
    m = json.loads((bag / "data/export.json").read_bytes())
    m["items"] = [it for it in m["items"] if it["sha256"] != sample.doc]
    (bag / "data/export.json").write_bytes(bv.canonical_json(m))
    for p in [*bag.glob(f"data/*/{sample.doc}*"), *bag.glob(f"data/originals/{sample.doc}.sidecars/*")]:
        if p.is_file():
            p.unlink()
    shutil.rmtree(bag / f"data/originals/{sample.doc}.sidecars")
    _rewrite_manifests(bag)
    report = bv.verify_bag(bag)
    assert "data/export.json" in report.failed_paths(), report.failures


def test_missing_file(clean_bag: Path, tmp_path: Path) -> None:
    bag = _copy(clean_bag, tmp_path)
    rel = _rel(bag, "data/originals/*.jpg")
    (bag / rel).unlink()
    report = bv.verify_bag(bag)
    assert rel in report.failed_paths()
    assert f"{rel}: FAILED open or read" in _run(["sha256sum", "-c", "manifest-sha256.txt"], bag).stdout


@pytest.mark.parametrize("rel", ["data/extra.txt", "data/originals/extra.jpg", "keys/another.pem", "notes.txt"])
def test_extra_file(clean_bag: Path, tmp_path: Path, rel: str) -> None:
    bag = _copy(clean_bag, tmp_path)
    (bag / rel).write_bytes(b"planted\n")
    assert rel in bv.verify_bag(bag).failed_paths()
    if rel.startswith("data/"):
        _rewrite_manifests(bag)  # even when listed in the manifest, export.json does not name it
        assert rel in bv.verify_bag(bag).failed_paths()


def test_reordered_log(clean_bag: Path, tmp_path: Path) -> None:
    bag = _copy(clean_bag, tmp_path)
    a, b = sorted((bag / "data/custody/entries").iterdir())[:2]
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    _rewrite_manifests(bag)
    failed = bv.verify_bag(bag).failed_paths()
    assert a.relative_to(bag).as_posix() in failed and b.relative_to(bag).as_posix() in failed


def test_reordered_listing_in_export_json(clean_bag: Path, tmp_path: Path) -> None:
    bag = _copy(clean_bag, tmp_path)
    m = json.loads((bag / "data/export.json").read_bytes())
    m["custody"]["entries"].reverse()
    (bag / "data/export.json").write_bytes(bv.canonical_json(m))
    _rewrite_manifests(bag)
    report = bv.verify_bag(bag)
    assert any("out of order" in f.reason for f in report.failures)


def test_forged_checkpoint(clean_bag: Path, tmp_path: Path) -> None:
    """A checkpoint over another root, signed by another key that replaces the public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    bag = _copy(clean_bag, tmp_path)
    cp_rel = "data/custody/checkpoint.json"
    cp = json.loads((bag / cp_rel).read_bytes())
    cp["root_hash"] = hashlib.sha256(b"another history").hexdigest()
    data = bv.canonical_json(cp)
    (bag / cp_rel).write_bytes(data)
    # First with the real key: the signature fails.
    _rewrite_manifests(bag)
    report = bv.verify_bag(bag)
    assert cp_rel in report.failed_paths()
    # Then a forger's key in keys/: the signature passes, but the key is not the one the
    # checkpoint names and every entry's Merkle proof fails against the forged root.
    forger = Ed25519PrivateKey.generate()
    (bag / (cp_rel + ".sig")).write_bytes(forger.sign(data))
    (bag / bv.PUBLIC_KEY).write_bytes(forger.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    _rewrite_manifests(bag)
    report = bv.verify_bag(bag)
    assert cp_rel in report.failed_paths()
    assert any(p.startswith("data/custody/entries/") for p in report.failed_paths())
    assert any(p.startswith("data/records/") for p in report.failed_paths())


# --------------------------------------------------------------------------- export behaviour


def test_same_export_twice_differs_only_by_date(sample, clean_bag: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    again = tmp_path / "again"
    sample.ws.exports.export([sample.doc, sample.photo], again, recipient="test court", bagging_date="2026-03-04")
    files = sorted(p.relative_to(clean_bag).as_posix() for p in clean_bag.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again).as_posix() for p in again.rglob("*") if p.is_file())
    differ = [f for f in files if (clean_bag / f).read_bytes() != (again / f).read_bytes()]
    assert differ == ["bag-info.txt", "tagmanifest-sha256.txt"]


def test_zip_is_deterministic_and_verifies(sample, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    za = sample.ws.exports.export([sample.photo], tmp_path / "a" / "pkg.zip", zip_output=True, bagging_date="2026-01-02")
    zb = sample.ws.exports.export([sample.photo], tmp_path / "b" / "pkg.zip", zip_output=True, bagging_date="2026-01-02")
    assert za.path.read_bytes() == zb.path.read_bytes()
    assert sample.ws.exports.verify(za.path).ok


def test_wrong_passphrase_writes_nothing(sample, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from witnessbox.workspace import Workspace

    ws = Workspace.open(sample.root, "wrong passphrase")
    size = len(ws.log())
    with pytest.raises(PassphraseError):
        ws.exports.export([sample.photo], tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
    assert len(Workspace.open(sample.root).log()) == size


@pytest.mark.parametrize("selectors, error", [([], UsageError), (["ffffffffffff"], NotFoundError), (["not-hex!"], NotFoundError)])
def test_bad_selectors_write_nothing(sample, tmp_path: Path, selectors: list[str], error: type[Exception]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        sample.ws.exports.export(selectors, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_existing_destination_is_refused(sample, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "out").mkdir()
    with pytest.raises(ExportError):
        sample.ws.exports.export([sample.photo], tmp_path / "out")


def test_damaged_original_writes_nothing(sample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import contextlib
    import io

    @contextlib.contextmanager
    def damaged(sha: str):  # type: ignore[no-untyped-def]
        yield io.BytesIO(b"not the sealed bytes")

    monkeypatch.setattr(sample.ws, "open_original", damaged)
    with pytest.raises(ExportError):
        sample.ws.exports.export([sample.photo], tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_timestamp_from_a_local_tsa(sample, tsa, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    s = sample.ws.exports.export([sample.photo], tmp_path / "ts", tsa_url=tsa.url)
    bag = s.path
    assert s.timestamp_time and (bag / "data/custody/checkpoint.json.tsr").is_file()
    assert _run(["python3", "verify.py"], bag).returncode == 0
    (tmp_path / "root.pem").write_bytes(tsa.root_pem)
    r = _run(["openssl", "ts", "-verify", "-data", "data/custody/checkpoint.json", "-in", "data/custody/checkpoint.json.tsr",
              "-CAfile", str(tmp_path / "root.pem"), "-untrusted", "keys/tsa-certs.pem"], bag)
    assert r.returncode == 0 and "Verification: OK" in r.stdout, r.stdout + r.stderr
    assert "openssl ts -verify" in (bag / "VERIFY.txt").read_text()
    v = sample.ws.exports.verify(bag, tsa_root_pem=tsa.root_pem)
    assert v.ok and any("trusted timestamp" in n for n in v.notes)
    other = tmp_path / "ts2"
    shutil.copytree(bag, other)
    _flip(other, "data/custody/checkpoint.json.tsr")
    assert not sample.ws.exports.verify(other, tsa_root_pem=tsa.root_pem).ok


def test_unreachable_tsa_writes_nothing(sample, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ExportError):
        sample.ws.exports.export([sample.photo], tmp_path / "out", tsa_url="http://127.0.0.1:9/tsr")
    assert list(tmp_path.iterdir()) == []


def test_verify_export_cli(sample, clean_bag: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = dict(os.environ, WITNESSBOX_PASSPHRASE="correct horse battery staple")
    wb = [PY, "-m", "witnessbox"]
    r = subprocess.run([*wb, "verify-export", str(clean_bag)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr
    bag = _copy(clean_bag, tmp_path)
    _flip(bag, _rel(bag, "data/records/*.json"))
    r = subprocess.run([*wb, "verify-export", str(bag), "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 10 and not json.loads(r.stdout)["ok"]
    out = tmp_path / "cli.zip"
    r = subprocess.run([*wb, "export", "-A", str(sample.root), sample.photo[:12], "-o", str(out), "--zip", "--recipient", "court", "--json"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["originals"] == 1 and out.is_file()


def test_progress_reports_every_byte(sample, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[int, int | None, str]] = []
    s = sample.ws.exports.export([sample.photo], tmp_path / "p", progress=lambda n, total, label: seen.append((n, total, label)))
    sizes = sample.ws.item(sample.photo).size + sample.ws.item(sample.redacted).size
    assert sum(n for n, _, _ in seen) == sizes and {t for _, t, _ in seen} == {sizes}
    assert s.originals == 1 and s.derivatives == 1


def test_unlogged_export_is_removed(sample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from witnessbox.errors import ArchiveError

    def refuse(*a: object, **k: object) -> None:
        raise ArchiveError("disk full while writing the log")

    monkeypatch.setattr(sample.ws, "log_action", refuse)
    with pytest.raises(ArchiveError):
        sample.ws.exports.export([sample.photo], tmp_path / "p")
    assert list(tmp_path.iterdir()) == []


def test_symlink_in_bag_is_refused(clean_bag: Path, tmp_path: Path) -> None:
    bag = _copy(clean_bag, tmp_path)
    rel = _rel(bag, "data/originals/*.jpg")
    (tmp_path / "outside.jpg").write_bytes((bag / rel).read_bytes())
    (bag / rel).unlink()
    (bag / rel).symlink_to(tmp_path / "outside.jpg")
    report = bv.verify_bag(bag)
    assert any(f.path == rel and "symbolic link" in f.reason for f in report.failures)


def test_verify_export_cli_survives_hostile_names(clean_bag: Path, tmp_path: Path) -> None:
    """Names quoted from a hostile package are printed as text: no rich markup crash, no
    terminal escape sequences; the package is reported as failing, naming the entry."""
    bag = _copy(clean_bag, tmp_path)
    with open(bag / "manifest-sha256.txt", "a", encoding="utf-8") as f:
        f.write("0" * 64 + "  data/[/x]\x1b[2Kevil\n")
    env = dict(os.environ, WITNESSBOX_PASSPHRASE="unused")
    r = subprocess.run([PY, "-m", "witnessbox", "verify-export", str(bag)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 10, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "MarkupError" not in r.stderr
    assert "data/[/x]" in r.stdout and "\x1b" not in r.stdout
