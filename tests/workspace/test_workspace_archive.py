"""Workspace core: sealing, dedup, derivatives, reading, custody log, verify, reindex."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from _servers import lose_catalog
from workspace_helpers import PASSPHRASE, read_blob, snapshot, write_blob
from media_samples import jpeg_with_exif, mp4

from witnessbox.errors import NotFoundError, PassphraseError, PassphraseRequiredError, UsageError
from witnessbox.ledger import index
from witnessbox.ledger.canonical import canonical_bytes
from witnessbox.ledger.verify import verify_inclusion_proof, verify_record
from witnessbox.workspace import Workspace


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_add_folder_seals_every_file_once(ws: Workspace, files: Path) -> None:
    rep = ws.add([files], source="signal", note="from a witness", captured_at="2026-01-01", place="square")
    assert rep.ok
    assert sorted(r.name for r in rep.added) == ["a.txt", "b.bin", "c.txt"]
    items = {r.sha256: r for r in ws.items()}
    for p in files.rglob("*"):
        if p.is_file():
            r = items[_sha(p)]
            assert r.size == p.stat().st_size
            assert r.sha512 == hashlib.sha512(p.read_bytes()).hexdigest()
            assert (r.source, r.note, r.captured_at, r.place) == ("signal", "from a witness", "2026-01-01", "square")
            assert r.received_at.endswith("Z") and r.tool.startswith("witnessbox ")
            blob = ws.store.blob_path(r.sha256)
            assert blob.name.endswith(".age") and p.read_bytes() not in read_blob(ws, r.sha256)
            if ws.store.blobs.url is None:  # in the folder: read-only
                assert not blob.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_duplicate_is_logged_not_stored_twice(ws: Workspace, files: Path, tmp_path: Path) -> None:
    ws.add([files / "a.txt"])
    copy = tmp_path / "renamed.txt"
    copy.write_bytes((files / "a.txt").read_bytes())
    rep = ws.add([copy], source="second sender")
    assert not rep.added and [d.name for d in rep.duplicates] == ["renamed.txt"]
    assert len(ws.items()) == 1
    actions = [e.action for e in ws.log(_sha(copy))]
    assert actions == ["add", "receive-duplicate"]
    assert ws.log(_sha(copy))[1].details["source"] == "second sender"


def test_record_is_signed_canonical_and_in_the_log(ws: Workspace, files: Path) -> None:
    r = ws.add([files / "a.txt"]).added[0]
    path = ws.record_path(r.sha256)
    data = path.read_bytes()
    assert data == canonical_bytes(r.to_json())
    assert verify_record(data, path.with_name(path.name + ".sig").read_bytes(), ws.public_key_pem) == r
    entry = ws.log(r.sha256)[0]
    assert entry.details["record_sha256"] == hashlib.sha256(data).hexdigest()


def test_resolve_prefixes(ws: Workspace, files: Path) -> None:
    for i in range(17):  # 17 items: two must share a first hex digit
        (files / f"n{i}.txt").write_text(f"note {i}")
    ws.add([files])
    sha = _sha(files / "a.txt")
    assert ws.resolve(sha[:5]) == sha and ws.resolve(sha.upper()) == sha
    assert ws.item(sha[:8]).name == "a.txt"
    with pytest.raises(NotFoundError):
        ws.resolve("f" * 64 if not sha.startswith("f" * 10) else "0" * 64)
    with pytest.raises(UsageError):
        ws.resolve("xyz")
    with pytest.raises(UsageError, match="several"):
        ws.resolve(_common_prefix(ws))


def _common_prefix(ws: Workspace) -> str:
    shas = sorted(r.sha256 for r in ws.items())
    for a, b in zip(shas, shas[1:]):
        if a[0] == b[0]:
            return a[0]
    raise AssertionError("unreachable with 17 items")


def test_extract_and_open_original(ws: Workspace, files: Path, tmp_path: Path) -> None:
    sha = _sha(files / "b.bin")
    ws.add([files])
    out = ws.extract(sha[:10], tmp_path / "out.bin")
    assert out.read_bytes() == (files / "b.bin").read_bytes()
    with ws.open_original(sha) as f:
        assert f.read() == (files / "b.bin").read_bytes()
        f.seek(10)
        assert f.read(5) == (files / "b.bin").read_bytes()[10:15]
    with ws.plaintext_path(sha) as p:
        assert p.read_bytes() == (files / "b.bin").read_bytes()
    assert not p.exists()
    assert [e.action for e in ws.log(sha)] == ["add", "extract"]
    with pytest.raises(UsageError, match="exists"):
        ws.extract(sha, out)
    folder = tmp_path / "dir"
    folder.mkdir()
    assert ws.extract(sha, folder).name == "b.bin"


def test_passphrase_is_asked_only_when_needed(archive_path: Path, files: Path, tmp_path: Path) -> None:
    asked: list[int] = []

    def ask() -> str:
        asked.append(1)
        return PASSPHRASE

    ws = Workspace.open(archive_path, ask)
    assert ws.items() == [] and not asked
    ws.add([files / "a.txt"])
    assert len(asked) == 1
    no = Workspace.open(archive_path)
    assert len(no.items()) == 1
    with pytest.raises(PassphraseRequiredError):
        no.extract(_sha(files / "a.txt"), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_wrong_passphrase_writes_nothing(archive_path: Path, files: Path, tmp_path: Path) -> None:
    before = snapshot(archive_path)
    ws = Workspace.open(archive_path, "wrong")
    with pytest.raises(PassphraseError):
        ws.add([files])
    with pytest.raises(PassphraseError):
        ws.log_action("note", [])
    with pytest.raises(PassphraseError):
        ws.checkpoint()
    assert snapshot(archive_path) == before


def test_unencrypted_archive(plain_ws: Workspace, files: Path) -> None:
    r = plain_ws.add([files / "a.txt"]).added[0]
    assert plain_ws.store.blob_path(r.sha256).read_bytes() == b"alpha\n"
    assert not r.encrypted and not plain_ws.encrypted
    assert json.loads((plain_ws.root / "archive.json").read_bytes())["encrypted"] is False
    assert plain_ws.verify().ok


def test_media_metadata_and_sensitive_part_encrypted(ws: Workspace, tmp_path: Path) -> None:
    jpg = jpeg_with_exif(tmp_path / "photo.jpg")
    vid = mp4(tmp_path / "clip.mp4")
    rep = ws.add([jpg, vid])
    assert rep.ok, rep.failed
    photo, clip = rep.added
    m = photo.metadata
    assert (m.kind, m.width, m.height, m.rotation, m.camera_make, m.camera_model) == ("image", 64, 48, 90, "TestCam", "X1")
    assert m.capture_time == "2024-05-01T12:30:00"
    assert photo.sensitive is not None and photo.sensitive.fields == ("gps", "serials")
    assert "48.8" not in json.dumps(photo.to_json()) and "SN12345" not in json.dumps(photo.to_json())
    meta_file = ws.meta_path(photo.sha256).read_bytes()
    assert b"SN12345" not in meta_file and b"48.8" not in meta_file
    sens = ws.sensitive_metadata(photo.sha256)
    assert sens is not None and sens["serials"] == {"body": "SN12345"}
    assert abs(sens["gps"]["latitude"] - 48.8584) < 1e-3 and abs(sens["gps"]["longitude"] - 2.2945) < 1e-3
    assert (clip.metadata.kind, clip.metadata.width, clip.metadata.height) == ("video", 64, 48)
    assert clip.metadata.duration_s and clip.metadata.duration_s > 0.5 and clip.metadata.codecs == ("video:mpeg4",)
    assert ws.verify().ok


def test_add_derivative_with_sidecars(ws: Workspace, files: Path, tmp_path: Path) -> None:
    parent = ws.add([files / "a.txt"]).added[0]
    red = tmp_path / "a.redacted.txt"
    red.write_bytes(b"al***\n")
    regions = tmp_path / "regions.json"
    regions.write_text('{"regions": []}')
    child = ws.add_derivative(parent.sha256[:8], red, kind="redacted", method="blur v1",
                              sidecars={"a.redacted.txt.regions.json": regions})
    assert child.parent == parent.sha256 and child.derivation is not None and child.derivation.kind == "redacted"
    side = ws.sidecars(child.sha256)
    assert list(side) == ["a.redacted.txt.regions.json"] and side["a.redacted.txt.regions.json"].read_text() == '{"regions": []}'
    assert [c.sha256 for c in ws.children(parent.sha256)] == [child.sha256]
    assert [e.action for e in ws.log(parent.sha256)] == ["add", "derive"]
    listed = {r.sha256: r.summary() for r in ws.items()}
    assert listed[child.sha256]["parent"] == parent.sha256 and listed[parent.sha256]["parent"] is None
    again = ws.add_derivative(parent.sha256, red, kind="redacted", method="blur v1")
    assert again == child and len(ws.items()) == 2
    with pytest.raises(NotFoundError):
        ws.add_derivative("0" * 64, red, kind="redacted", method="x")
    with pytest.raises(Exception, match="safe file name"):
        ws.add_derivative(parent.sha256, files / "b.bin", kind="k", method="m", sidecars={"../evil": regions})
    ws.attach_sidecar(child.sha256, "proof.ots", b"proof")
    assert sorted(ws.sidecars(child.sha256)) == ["a.redacted.txt.regions.json", "proof.ots"]
    assert ws.verify().ok


def test_log_action_checkpoint_and_inclusion_proof(ws: Workspace, files: Path) -> None:
    r = ws.add([files / "a.txt"]).added[0]
    n_cp = len(ws.log_store.checkpoint_sizes())
    with ws.transaction():
        e1 = ws.log_action("approve", [r.sha256], {"by": "editor"})
        e2 = ws.log_action("publish", [r.sha256])
    assert e2.seq == e1.seq + 1 and e1.actor
    assert len(ws.log_store.checkpoint_sizes()) == n_cp + 1  # one checkpoint for the whole transaction
    cp = ws.checkpoint()
    assert cp.tree_size == e2.seq + 1
    for seq in range(cp.tree_size):
        proof = canonical_bytes(ws.inclusion_proof(seq).to_json())
        entry, vcp = verify_inclusion_proof(proof, ws.public_key_pem)
        assert entry.seq == seq and vcp.root_hash == cp.root_hash
    with pytest.raises(UsageError):
        ws.log_action("add", [])
    with pytest.raises(UsageError):
        ws.log_action("Bad Action", [])
    with pytest.raises(UsageError):
        ws.log_action("note", [], {"x": float("nan")})
    with pytest.raises(NotFoundError):
        ws.inclusion_proof(10_000)


def test_verify_and_reindex(ws: Workspace, files: Path) -> None:
    ws.add([files])
    rep = ws.verify()
    assert rep.ok, rep.problems
    assert rep.items_checked == 3 and rep.tree_size == 4 and rep.checkpoints_checked >= 2
    lose_catalog(ws)
    ws.close()
    w2 = Workspace.open(ws.root, PASSPHRASE)
    assert w2.reindex() == 3
    assert sorted(r.name for r in w2.items()) == ["a.txt", "b.bin", "c.txt"]


def test_registered_migrations_run_once(ws: Workspace) -> None:
    calls: list[int] = []

    def v1(conn: sa.Connection) -> None:
        calls.append(1)
        conn.exec_driver_sql("CREATE TABLE test_things (id INTEGER PRIMARY KEY)")

    index.register_migration("test-pkg", 1, v1)
    with ws.engine.begin() as c:
        c.exec_driver_sql("INSERT INTO test_things (id) VALUES (7)")
    _ = ws.engine
    assert calls == [1]
    ws.reindex()  # rebuilt from scratch: the migration runs again on the new file
    with ws.engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM test_things").scalar_one() == 0
    with pytest.raises(ValueError):
        index.register_migration("test-pkg", 1, lambda conn: None)


class _FailingTracer:
    def on_sealed(self, record: object, path: Path) -> None:
        raise RuntimeError("index offline")


def test_after_seal_failure_never_undoes_the_seal(ws: Workspace, files: Path) -> None:
    ws.__dict__["tracing"] = _FailingTracer()
    rep = ws.add([files / "a.txt"])
    assert rep.ok and len(rep.added) == 1
    assert any("index offline" in w for w in rep.warnings)
    assert ws.verify().ok


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    with pytest.raises(UsageError):
        Workspace.init(tmp_path / "x", PASSPHRASE)
    with pytest.raises(UsageError):
        Workspace.init(tmp_path / "y", "")


def test_open_missing_archive(tmp_path: Path) -> None:
    from witnessbox.errors import NoArchiveError

    with pytest.raises(NoArchiveError):
        Workspace.open(tmp_path / "nothing")


def test_private_key_needs_the_passphrase(archive_path: Path) -> None:
    pem = (archive_path / "keys" / "archive-signing.key.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert b"AGE-SECRET-KEY" not in (archive_path / "keys" / "archive-age.key.age").read_bytes()
    assert os.stat(archive_path / "keys" / "archive-signing.key.pem").st_mode & 0o077 == 0


@pytest.mark.parametrize("objects", [[""], ["has space"], ["x" * 201], ["line\nbreak"], [7]])
def test_log_action_rejects_bad_objects(ws: Workspace, objects: list[object]) -> None:
    n = ws.log_store.size()
    with pytest.raises(UsageError):
        ws.log_action("note", objects)  # type: ignore[arg-type]
    assert ws.log_store.size() == n


def test_two_workspaces_see_each_others_writes(ws: Workspace, archive_path: Path, files: Path) -> None:
    other = Workspace.open(archive_path, PASSPHRASE)
    assert other.items() == []
    ws.add([files / "a.txt"])
    assert [r.name for r in other.items()] == ["a.txt"]
    other.log_action("note", [ws.items()[0].sha256])
    assert [e.action for e in ws.log(ws.items()[0].sha256)] == ["add", "note"]


def test_extract_into_a_folder_with_a_hostile_name(ws: Workspace, tmp_path: Path) -> None:
    d = tmp_path / "src"
    d.mkdir()
    (d / "..\nevil").write_text("x")
    sha = ws.add([d]).added[0].sha256
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = ws.extract(sha, out_dir)
    assert out.parent == out_dir and "\n" not in out.name and out.read_text() == "x"


def test_recovery_removes_stale_temporary_plaintext(ws: Workspace) -> None:
    stale = ws.root / "tmp" / "plain-999999999-x.jpg"
    stale.write_bytes(b"plaintext left by a dead reader")
    live = ws.root / "tmp" / f"plain-{os.getpid()}-y.jpg"
    live.write_bytes(b"in use")
    ws.log_action("note", [])
    assert not stale.exists() and live.exists()
    live.unlink()


def test_extract_to_a_non_utf8_name_is_logged(ws: Workspace, tmp_path: Path) -> None:
    # Every read of evidence is logged: an output name that is not UTF-8 must not skip the entry.
    src = tmp_path / "e.txt"
    src.write_text("evidence")
    sha = ws.add([src]).added[0].sha256
    out = Path(os.fsdecode(bytes(tmp_path) + b"/out\xff.txt"))
    ws.extract(sha, out)
    assert out.read_text() == "evidence"
    entries = ws.log(sha)
    assert [e.action for e in entries] == ["add", "extract"]
    assert entries[-1].details["to_name"] == "out\ufffd.txt"
    assert ws.verify().ok


def test_a_planted_blob_never_stands_in_for_a_new_original(ws: Workspace, tmp_path: Path) -> None:
    # A blob file with no sealed item (planted, or copied in by hand) at the address of a file
    # being added: the freshly hashed original must be stored, not the unknown bytes.
    src = tmp_path / "e.txt"
    src.write_text("the real evidence")
    sha = _sha(src)
    write_blob(ws, sha, b"garbage that is not the original")
    rep = ws.add([src])
    assert [r.sha256 for r in rep.added] == [sha]
    assert ws.verify().ok
    out = ws.extract(sha, tmp_path / "out.txt")
    assert out.read_text() == "the real evidence"


@pytest.mark.parametrize("where", ["root", "blob", "folder"])
def test_extract_never_writes_plaintext_into_the_archive(where: str, ws: Workspace, tmp_path: Path) -> None:
    # Plaintext under the archive defeats encryption at rest; over a blob it destroys evidence.
    from witnessbox.errors import UsageError

    src = tmp_path / "e.txt"
    src.write_text("evidence")
    sha = ws.add([src]).added[0].sha256
    target = {"root": ws.root / "copy.txt", "blob": ws.store.blob_path(sha), "folder": ws.root / "tmp"}[where]
    with pytest.raises(UsageError, match="inside the archive"):
        ws.extract(sha, target, overwrite=True)
    assert not (ws.root / "copy.txt").exists() and not list((ws.root / "tmp").iterdir())
    assert ws.verify().ok


def test_a_planted_record_does_not_make_a_new_file_a_duplicate(ws: Workspace, tmp_path: Path) -> None:
    # Only the custody log says what is sealed: a record file nobody logged must not turn the
    # real evidence into a "duplicate" that is never stored.
    src = tmp_path / "e.txt"
    src.write_text("the real evidence")
    sha = _sha(src)
    rec = ws.record_path(sha)
    rec.parent.mkdir(parents=True, exist_ok=True)
    rec.write_bytes(b'{"planted":true}')
    rep = ws.add([src])
    assert [r.sha256 for r in rep.added] == [sha] and not rep.duplicates
    assert ws.verify().ok
    assert ws.extract(sha, tmp_path / "out.txt").read_text() == "the real evidence"
    again = ws.add([src])
    assert not again.added and [d.sha256 for d in again.duplicates] == [sha]


def test_blobs_live_where_the_run_says(ws: Workspace, files: Path) -> None:
    # WITNESSBOX_TEST_STORE=s3 runs this folder with every archive's blobs on S3 (tests/conftest.py).
    on_s3 = os.environ.get("WITNESSBOX_TEST_STORE", "folder") == "s3"
    r = ws.add([files / "a.txt"]).added[0]
    assert (ws.store.blobs.url is not None) == on_s3
    assert ws.store.blob_path(r.sha256).exists() != on_s3
    assert ws.store.blobs.names() == [ws.store.blob_name(r.sha256)]
