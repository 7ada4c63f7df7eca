"""Tamper tests: one byte changed anywhere that matters, and `verify` names the object."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from media_samples import jpeg_with_exif
from workspace_helpers import delete_blob, read_blob, rewrite, write_blob

from witnessbox.workspace import Workspace


def _flip(path: Path, offset: int = -20) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def sealed(ws: Workspace, tmp_path: Path) -> tuple[Workspace, str, str]:
    a = tmp_path / "a.txt"
    a.write_text("the original")
    photo = jpeg_with_exif(tmp_path / "p.jpg")
    rep = ws.add([a, photo])
    ws.attach_sidecar(rep.added[0].sha256, "proof.txt", b"a proof file")
    assert ws.verify().ok
    return ws, rep.added[0].sha256, rep.added[1].sha256


Case = Callable[[Workspace, str, str], tuple[Path, str]]

CASES: dict[str, Case] = {
    "original": lambda ws, a, p: (ws.store.blob_path(a), f"item {a}"),  # flipped by write_blob
    "record": lambda ws, a, p: (ws.record_path(a), f"item {a}"),
    "record signature": lambda ws, a, p: (ws.record_path(a).with_name(f"{a}.json.sig"), f"item {a}"),
    "sensitive metadata": lambda ws, a, p: (ws.meta_path(p), f"item {p}"),
    "log entry": lambda ws, a, p: (ws.log_store.entry_path(1), "log entry"),
    "checkpoint": lambda ws, a, p: (ws.log_store.checkpoint_path(ws.log_store.latest_checkpoint_size() or 0), "checkpoint"),
    "checkpoint signature": lambda ws, a, p: (
        ws.log_store.checkpoint_path(ws.log_store.latest_checkpoint_size() or 0).with_suffix(".json.sig"), "checkpoint"),
    "sidecar": lambda ws, a, p: (ws.sidecars(a)["proof.txt"], f"item {a}"),
    "header": lambda ws, a, p: (ws.root / "archive.json", "archive.json"),
}


@pytest.mark.parametrize("what", list(CASES))
def test_one_byte_changed_is_named(what: str, sealed: tuple[Workspace, str, str]) -> None:
    ws, a, p = sealed
    path, expected = CASES[what](ws, a, p)
    if what == "original":  # in the folder or on S3 (WITNESSBOX_TEST_STORE=s3)
        data = bytearray(read_blob(ws, a))
        data[-20] ^= 0x01
        write_blob(ws, a, bytes(data))
    else:
        def flip(b: bytes) -> bytes:
            data = bytearray(b)
            data[-20 % len(data)] ^= 0x01
            return bytes(data)

        rewrite(ws, path, flip)  # the folder's file (and on S3 its object too)
    rep = ws.verify()
    assert not rep.ok
    assert any(expected in prob.object for prob in rep.problems), rep.problems


def test_changed_log_entry_breaks_chain_and_root(sealed: tuple[Workspace, str, str]) -> None:
    ws, a, _ = sealed
    path = ws.log_store.entry_path(1)
    rewrite(ws, path, lambda b: b.replace(b'"actor":"', b'"actor":"X'))  # still canonical JSON
    rep = ws.verify()
    objs = {p.object for p in rep.problems}
    assert "log entry 2" in objs  # chain: the next entry's prev hash no longer matches
    assert any(o.startswith("checkpoint") for o in objs)  # and the signed Merkle roots differ


def test_removed_last_entry_is_detected(sealed: tuple[Workspace, str, str]) -> None:
    ws, _, _ = sealed
    last = ws.log_store.size() - 1
    rewrite(ws, ws.log_store.entry_path(last), None)
    rep = ws.verify()
    assert any("entries were removed" in p.detail for p in rep.problems)


def test_deleted_original_is_named(sealed: tuple[Workspace, str, str]) -> None:
    ws, a, _ = sealed
    delete_blob(ws, a)
    rep = ws.verify()
    assert [p.object for p in rep.problems] == [f"item {a}"] and "missing" in rep.problems[0].detail


def test_injected_record_is_named(sealed: tuple[Workspace, str, str]) -> None:
    ws, a, _ = sealed
    fake = ws.record_path("f" * 64)
    fake.parent.mkdir(parents=True, exist_ok=True)
    fake.write_bytes(ws.record_path(a).read_bytes())
    rep = ws.verify()
    assert any(p.object == f"record {'f' * 64}" for p in rep.problems)


def test_plain_archive_original_changed(plain_ws: Workspace, tmp_path: Path) -> None:
    f = tmp_path / "x.txt"
    f.write_text("plain original")
    sha = plain_ws.add([f]).added[0].sha256
    _flip(plain_ws.store.blob_path(sha), 0)
    rep = plain_ws.verify()
    assert [p.object for p in rep.problems] == [f"item {sha}"] and "does not match" in rep.problems[0].detail


def test_swapped_age_recipient_is_refused_before_anything_is_encrypted(ws: Workspace, tmp_path: Path) -> None:
    # keys/archive-age.pub is what new originals are encrypted to. Replaced by someone else's
    # key, every later item would be readable by them and not by the archive's owner. The
    # signed header names the right recipient: opening must refuse the swapped file.
    import pyrage

    from witnessbox.errors import IntegrityError

    pub = ws.root / "keys" / "archive-age.pub"
    os.chmod(pub, 0o644)
    pub.write_text(str(pyrage.x25519.Identity.generate().to_public()) + "\n")
    f = tmp_path / "new.txt"
    f.write_text("new evidence")
    with pytest.raises(IntegrityError, match="archive-age.pub"):
        Workspace.open(ws.root, "irrelevant")
    assert not list((ws.root / "records").glob("*/*.json"))
