"""`witnessbox demo`: the whole chain, end to end, as `make demo` runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from witnessbox.workspace import Workspace


@pytest.mark.slow
def test_demo_runs_the_whole_chain(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, "-m", "witnessbox", "demo", str(out)], capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr
    assert "verifies" in run.stdout and "archive OK" in run.stdout
    assert (out / "site" / "index.html").is_file()
    assert (out / "site" / "units" / "demo-riot-police.html").is_file()
    # It says how to open the web app, with an account whose sign-in is in a private file.
    assert "serve" in run.stdout and "http://127.0.0.1:8484/" in run.stdout
    sign_in = (out / "web-sign-in.txt")
    assert sign_in.stat().st_mode & 0o077 == 0
    assert "demo-admin" in sign_in.read_text() and "otpauth://" in sign_in.read_text()

    ws = Workspace.open(out / "archive", "demo only - not a secret")
    assert ws.verify().ok
    assert [a.name for a in ws.accounts.list()] == ["demo-admin"]
    items = ws.items()
    originals = [r for r in items if r.parent is None]
    copies = [r for r in items if r.parent is not None]
    assert len(originals) == 3 and len(copies) == 3
    assert {c.parent for c in copies} == {o.sha256 for o in originals}
    # Each copy was approved by the demo reviewer after a completed review (nothing undecided,
    # every frame shown), as approval requires on every path.
    for c in copies:
        assert ws.review.approvers(c.sha256) == ("demo-reviewer",)
        assert ws.review.status(c.sha256, "demo-reviewer").ready
    acts = [(e.action, e.actor) for e in ws.log()]
    assert ("review.approve", "demo-reviewer") in acts and ("review.open", "demo-reviewer") in acts

    # Nothing published equals an original, and the photo's GPS and camera never reach the site.
    published = [p for p in (out / "site").rglob("*") if p.is_file()]
    original_bytes = {(out / "samples" / o.name).read_bytes() for o in originals}
    for p in published:
        data = p.read_bytes()
        assert data not in original_bytes, p
        assert b"DemoPhone" not in data, p
        assert b"+53.9000+027.5500" not in data, p
    manifest = json.loads((out / "site" / "manifest.json").read_text())
    assert manifest

    # A second run replaces the demo folder instead of failing.
    again = subprocess.run(
        [sys.executable, "-m", "witnessbox", "demo", str(out)], capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert again.returncode == 0, again.stderr


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("not a demo")
    run = subprocess.run(
        [sys.executable, "-m", "witnessbox", "demo", str(tmp_path)], capture_output=True, text=True, timeout=120,
    )
    assert run.returncode != 0
    assert (tmp_path / "precious.txt").read_text() == "not a demo"
