"""The `witnessbox dropbox` commands, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dropbox_helpers import PASSPHRASE
from test_dropbox_inbox import make_inbox, new_source, send


def wb(archive: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WITNESSBOX_PASSPHRASE": PASSPHRASE, "WITNESSBOX_ARCHIVE": str(archive)}
    return subprocess.run([sys.executable, "-m", "witnessbox", "dropbox", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_cli_recipient_import_list_reply(archive: Path, tmp_path: Path) -> None:
    r = wb(archive, "recipient", "-o", str(tmp_path / "r.txt"))
    assert r.returncode == 0, r.stderr
    rcpt = (tmp_path / "r.txt").read_text().strip()
    assert rcpt.startswith("age1")
    inbox = make_inbox(tmp_path, tmp_path / "r.txt")
    _, keys = new_source(inbox)
    state = send(inbox, keys, [("[red]markup[/red].txt", b"x")])
    half = inbox.new_submission(keys, language="ru")
    half.add_file("y", strip_metadata=False).write(b"partial")

    r = wb(archive, "list", "--inbox", str(inbox.root), "--json")
    rows = {row["id"]: row for row in json.loads(r.stdout)}
    assert rows[state.id]["committed"] and not rows[state.id]["imported"] and not rows[half.id]["committed"]

    r = wb(archive, "import", str(inbox.root))
    assert r.returncode == 18  # the half-written one is refused (and reported), the other imported
    assert f"imported {state.id}" in r.stdout and f"REFUSED {half.id}" in r.stdout
    r = wb(archive, "import", str(inbox.root), "--json")
    data = json.loads(r.stdout)
    assert data["imported"] == [] and data["already_imported"] == [state.id]

    r = wb(archive, "list", "--json")
    [row] = json.loads(r.stdout)
    assert row["id"] == state.id and row["imported"] and row["files"] == 1

    (tmp_path / "msg.txt").write_text("Спасибо, получили.", encoding="utf-8")
    r = wb(archive, "reply", state.id, "--message-file", str(tmp_path / "msg.txt"))
    assert r.returncode == 0, r.stderr
    assert [x.text for x in inbox.replies(keys)] == ["Спасибо, получили."]
    r = wb(archive, "reply", "2026-01-01-0000000000000000", "--message-file", str(tmp_path / "msg.txt"))
    assert r.returncode == 4 and "was not imported" in r.stderr and "\n" == r.stderr[-1] and r.stderr.count("\n") == 1
