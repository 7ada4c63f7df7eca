"""The archive commands end to end through `witnessbox.cli.main` (in-process)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from witnessbox.cli import app, main

PASSPHRASE = "correct horse battery staple"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "archive-format.md"
COMMANDS = ["init", "add", "list", "show", "log", "verify", "extract", "reindex", "proof"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from witnessbox.workspace import Workspace

    root = tmp_path_factory.mktemp("cli") / "archive"
    Workspace.init(root, PASSPHRASE).close()
    return root


@pytest.fixture
def archive(_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import shutil

    root = Path(shutil.copytree(_template, tmp_path / "archive"))
    monkeypatch.setenv("WITNESSBOX_ARCHIVE", str(root))
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", PASSPHRASE)
    return root


def test_init_creates_an_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", PASSPHRASE)
    code, _, err = run(capsys, "init", str(tmp_path / "new"), "--no-encryption")
    assert code == 0 and "created archive" in err
    assert json.loads((tmp_path / "new" / "archive.json").read_bytes())["encrypted"] is False
    code, _, err = run(capsys, "init", str(tmp_path / "new"))
    assert code == 2 and "already exists" in err


def test_whole_workflow(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("beta")
    code, out, _ = run(capsys, "add", str(src), "--source", "signal", "--note", "n", "--json")
    assert code == 0
    added = json.loads(out)["added"]
    assert {a["name"] for a in added} == {"a.txt", "b.txt"}

    code, out, _ = run(capsys, "list", "--json")
    items = json.loads(out)
    assert code == 0 and len(items) == 2
    for it in items:
        assert {"sha256", "name", "media_type", "size", "received_at", "parent"} <= set(it)
    sha = next(i["sha256"] for i in items if i["name"] == "a.txt")

    code, out, _ = run(capsys, "show", sha[:7], "--json")
    assert code == 0 and json.loads(out)["source"] == "signal"
    code, out, _ = run(capsys, "show", sha[:7])
    assert code == 0 and "a.txt" in out

    code, out, _ = run(capsys, "add", str(src / "a.txt"))
    assert code == 0 and "duplicate" in out

    code, out, _ = run(capsys, "extract", sha[:10], "-o", str(tmp_path / "x.txt"))
    assert code == 0 and (tmp_path / "x.txt").read_text() == "alpha"

    code, out, _ = run(capsys, "log", sha[:10], "--json")
    assert [e["action"] for e in json.loads(out)] == ["add", "receive-duplicate", "extract"]
    code, out, _ = run(capsys, "log")
    assert code == 0 and "init" in out and "extract" in out

    code, out, _ = run(capsys, "verify", "--json")
    rep = json.loads(out)
    assert code == 0 and rep["ok"] and rep["items_checked"] == 2

    code, out, _ = run(capsys, "proof", "1")
    assert code == 0 and json.loads(out)["leaf_index"] == 1

    (archive / "catalog.sqlite").unlink()
    code, _, err = run(capsys, "reindex")
    assert code == 0 and "2 items" in err


def test_bad_input_exits_non_zero_but_seals_the_rest(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.txt"
    good.write_text("good")
    empty = tmp_path / "empty\nname.txt"
    empty.write_bytes(b"")
    code, out, err = run(capsys, "add", str(good), str(empty), str(tmp_path / "missing.jpg"))
    assert code == 3
    assert "good.txt" in out
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert any("empty\\nname.txt" in ln and "zero-byte" in ln for ln in lines)
    assert any("missing.jpg" in ln for ln in lines)


def test_wrong_passphrase(archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", "nope")
    f = tmp_path / "f.txt"
    f.write_text("x")
    code, _, err = run(capsys, "add", str(f))
    assert code == 6 and "Wrong passphrase" in err
    assert not list((archive / "records").iterdir())


def test_no_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WITNESSBOX_ARCHIVE", str(tmp_path / "none"))
    code, _, err = run(capsys, "list")
    assert code == 5 and "witnessbox init" in err


def test_bad_ids(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "show", "not-hex")[0] == 2
    assert run(capsys, "show", "abcdef")[0] == 4


def test_verify_names_a_tampered_item(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "f.txt"
    f.write_text("evidence")
    run(capsys, "add", str(f))
    rec = next((archive / "records").glob("*/*.json"))
    os.chmod(rec, 0o644)
    rec.write_bytes(rec.read_bytes().replace(b"f.txt", b"g.txt"))
    code, out, err = run(capsys, "verify")
    assert code == 10
    assert f"item {rec.stem}" in out and "signature" in out


def test_every_command_is_documented() -> None:
    names = {c.name for c in app.registered_commands}
    assert set(COMMANDS) <= names
    text = DOCS.read_text()
    for c in COMMANDS:
        assert re.search(rf"`witnessbox {c}\b", text), f"`witnessbox {c}` is not documented in {DOCS.name}"


@pytest.mark.parametrize("name", ["[red]y.txt", "[bold]b[i].txt", "[link=x]z"])
def test_file_names_that_look_like_markup_are_printed_verbatim(
    name: str, archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Rich markup in a file name must neither crash the CLI nor change what the user reads.
    (tmp_path / name).write_text("content of " + name)
    code, out, err = run(capsys, "add", str(tmp_path / name))
    assert code == 0, err
    assert name in out
    code, out, err = run(capsys, "list")
    assert code == 0 and name in out
    sha = next((archive / "records").glob("*/*.json")).stem
    code, out, err = run(capsys, "show", sha[:12])
    assert code == 0 and f"name: {name}" in out


def test_missing_path_with_a_markup_closing_tag_is_one_line(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "[").mkdir()
    missing = tmp_path / "[" / "]x.txt"  # displayed as ".../[/]x.txt": a rich closing tag
    code, _, err = run(capsys, "add", str(missing))
    assert code == 3 and "[/]x.txt: no such file" in err


def test_proof_into_a_missing_folder_is_one_line(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "proof", "0", "-o", str(tmp_path / "nowhere" / "p.json"))
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "proof", "0", "-o", str(tmp_path / "p.json"))
    assert code == 0 and json.loads((tmp_path / "p.json").read_bytes())["leaf_index"] == 0
