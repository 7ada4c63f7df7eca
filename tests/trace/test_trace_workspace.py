"""Tracing in an archive: fingerprints stored at sealing, match, copies, reindex, the CLI."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _servers import copy_archive
from PIL import Image

from witnessbox.workspace import Workspace

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trace-template") / "archive"
    # An S3 run (WITNESSBOX_TEST_STORE=s3) holds ciphertext only: the same tests, encrypted.
    Workspace.init(root, PASSPHRASE, encrypted=os.environ.get("WITNESSBOX_TEST_STORE") == "s3").close()
    return root


@pytest.fixture
def ws(_template: Path, tmp_path: Path) -> Iterator[Workspace]:
    root = copy_archive(_template, tmp_path / "archive")
    w = Workspace.open(root, PASSPHRASE)
    yield w
    w.close()


@pytest.fixture
def media(photos: dict[str, Path], clips: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """An original photo, a mirrored re-upload, a cropped screenshot, an unrelated photo, bad files."""
    d = tmp_path / "in"
    d.mkdir()
    rgb = np.asarray(Image.open(photos["astronaut"]).convert("RGB"))
    out = {"orig": shutil.copy(photos["astronaut"], d / "orig.png")}
    Image.fromarray(np.ascontiguousarray(rgb[:, ::-1])).save(d / "reupload.jpg", quality=60)
    Image.fromarray(rgb[50:470, 20:480]).save(d / "screenshot.jpg", quality=80)
    out["reupload"] = d / "reupload.jpg"
    out["screenshot"] = d / "screenshot.jpg"
    out["other"] = shutil.copy(photos["coffee"], d / "other.png")
    Image.new("RGB", (64, 64)).save(d / "black.png")
    out["black"] = d / "black.png"
    out["video"] = shutil.copy(clips["rocket"], d / "rocket.mp4")
    return {k: Path(v) for k, v in out.items()}


def _add(ws: Workspace, path: Path) -> str:
    rep = ws.add([path])
    assert rep.added, rep
    return rep.added[0].sha256


def test_sealing_stores_fingerprints_and_reasons(ws: Workspace, media: dict[str, Path]) -> None:
    orig = _add(ws, media["orig"])
    black = _add(ws, media["black"])
    video = _add(ws, media["video"])
    fps = ws.tracing.fingerprints(orig)
    assert fps is not None and fps.kind == "photo" and fps.usable
    assert fps.features and fps.hashes
    bad = ws.tracing.fingerprints(black)
    assert bad is not None and bad.reason is not None and "blank" in bad.reason
    vid = ws.tracing.fingerprints(video)
    assert vid is not None and vid.kind == "video" and vid.duration > 2
    assert ws.take_warnings() == []


def test_match_file_and_item_with_receipt_time(ws: Workspace, media: dict[str, Path]) -> None:
    orig = _add(ws, media["orig"])
    _add(ws, media["other"])
    rep = ws.tracing.match(media["reupload"])
    assert [m.sha256 for m in rep.matches] == [orig]
    assert rep.matches[0].match.flipped and rep.matches[0].received_at
    screenshot = _add(ws, media["screenshot"])
    by_id = ws.tracing.match(screenshot[:10])
    assert [m.sha256 for m in by_id.matches] == [orig]
    assert by_id.to_json()["matches"][0]["method"] in ("pdq", "features")  # type: ignore[index]


def test_match_of_bad_media_says_why(ws: Workspace, media: dict[str, Path]) -> None:
    _add(ws, media["orig"])
    rep = ws.tracing.match(media["black"])
    assert rep.matches == () and rep.reason and "blank" in rep.reason


def test_copies_group_with_earliest_marked(ws: Workspace, media: dict[str, Path]) -> None:
    first = _add(ws, media["reupload"])
    _add(ws, media["other"])
    _add(ws, media["orig"])
    _add(ws, media["screenshot"])
    groups = ws.tracing.copies()
    assert len(groups) == 1
    members = groups[0].members
    assert len(members) == 3 and members[0].sha256 == first and members[0].earliest
    assert [m.earliest for m in members[1:]] == [False, False]
    assert ws.tracing.copies(first[:8])[0].members[0].sha256 == first
    other = ws.items()[1].sha256
    assert ws.tracing.copies(other) == []


def test_reindex_recomputes_fingerprints(ws: Workspace, media: dict[str, Path]) -> None:
    orig = _add(ws, media["orig"])
    before = ws.tracing.fingerprints(orig)
    with ws.engine.begin() as c:
        c.exec_driver_sql("DELETE FROM trace_items")
    assert ws.tracing.fingerprints(orig) is None
    assert ws.tracing.reindex() == 1
    assert ws.tracing.fingerprints(orig) == before
    ws.reindex()
    assert ws.tracing.fingerprints(orig) == before


def test_cli_match_and_copies_json(ws: Workspace, media: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from witnessbox.cli import main

    orig = _add(ws, media["orig"])
    _add(ws, media["reupload"])
    ws.close()
    env = {"WITNESSBOX_ARCHIVE": str(ws.root), "WITNESSBOX_PASSPHRASE": PASSPHRASE}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with pytest.raises(SystemExit) as e:
            main(["match", str(media["screenshot"]), "--json"])
        assert e.value.code == 0
        out = json.loads(capsys.readouterr().out)
        assert out["kind"] == "photo" and {m["id"] for m in out["matches"]} >= {orig}
        with pytest.raises(SystemExit) as e:
            main(["copies", "--json"])
        assert e.value.code == 0
        groups = json.loads(capsys.readouterr().out)
        assert groups[0]["earliest"] == orig and len(groups[0]["items"]) == 2
        with pytest.raises(SystemExit) as e:
            main(["match", "ffffffffffff"])
        assert e.value.code != 0
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_derived_copies_are_recorded_as_not_traced(ws: Workspace, media: dict[str, Path]) -> None:
    orig = _add(ws, media["orig"])
    rec = ws.add_derivative(orig, media["reupload"], kind="redacted", method="test", sidecars={})
    fps = ws.tracing.fingerprints(rec.sha256)
    assert fps is not None and fps.reason is not None and "derived" in fps.reason
    assert ws.tracing.copies() == []
