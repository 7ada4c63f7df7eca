"""Redaction inside an archive: the copy is sealed as a derivative with its regions file, logged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from witnessbox.errors import UnsupportedMediaError
from witnessbox.workspace import Workspace

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, face_photo: Path) -> tuple[Workspace, str]:
    root = tmp_path_factory.mktemp("arch") / "a"
    ws = Workspace.init(root, PASSPHRASE)
    rep = ws.add([face_photo])
    return ws, rep.added[0].sha256


def test_redact_item_seals_a_derivative(archive: tuple[Workspace, str]) -> None:
    ws, sha = archive
    rec = ws.redaction.redact_item(sha[:12])
    assert rec.parent == sha and rec.sha256 != sha
    assert rec.derivation is not None and rec.derivation.kind == "redacted"
    assert "fill=solid" in rec.derivation.method
    name = rec.name + ".regions.json"
    side = ws.sidecars(rec.sha256)
    assert name in side and name in rec.sidecars
    doc = json.loads(side[name].read_text())
    assert doc["source_sha256"] == sha and doc["regions"]
    actions = [e.action for e in ws.log(rec.sha256)]
    assert "redact" in actions


def test_unsupported_item_refused(archive: tuple[Workspace, str], tmp_path: Path) -> None:
    ws, _ = archive
    doc = tmp_path / "statement.txt"
    doc.write_text("a testimony")
    added = ws.add([doc]).added[0]
    before = len(ws.items())
    with pytest.raises(UnsupportedMediaError):
        ws.redaction.redact_item(added.sha256)
    assert len(ws.items()) == before


def test_redacted_copy_carries_content_credentials_naming_only_the_original_hash(
    archive: tuple[Workspace, str],
) -> None:
    from witnessbox.media.credentials import read_credentials

    ws, sha = archive
    rec = ws.redaction.redact_item(sha)
    with ws.open_original(rec.sha256) as f:
        data = f.read()
    cc = read_credentials(data, rec.media_type)
    assert cc is not None and cc.validation_state in ("Valid", "Trusted")
    assert cc.parent_sha256 == sha
    assert "org.witnessbox.redacted" in cc.actions
    with ws.open_original(sha) as f:
        original = f.read()
    assert original[:4096] not in data  # no pixels or metadata of the original ride along
    assert ws.log(rec.sha256)[-1].details["content_credentials"] is True
