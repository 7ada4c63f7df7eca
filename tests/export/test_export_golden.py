"""The golden package guards the export format: rebuilt byte-for-byte by
scripts/make_golden_bag.py, and the checked-in copy still verifies with today's tools."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import bagit

from witnessbox.export import bag_verifier as bv

PROJECT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "package"
HINT = "the export format changed: if deliberate, run `.venv/bin/python scripts/make_golden_bag.py` and commit"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_golden_package_is_rebuilt_identically(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_golden_bag", PROJECT / "scripts" / "make_golden_bag.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fresh = _files(mod.build(tmp_path / "package"))
    golden = _files(GOLDEN)
    assert sorted(fresh) == sorted(golden), HINT
    changed = [rel for rel in golden if golden[rel] != fresh[rel]]
    assert not changed, f"{changed}: {HINT}"


def test_golden_package_verifies_with_standard_tools() -> None:
    for m in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        assert subprocess.run(["sha256sum", "--strict", "--quiet", "-c", m], cwd=GOLDEN).returncode == 0
    r = subprocess.run(["python3", "verify.py"], cwd=GOLDEN, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout
    report = bv.verify_bag(GOLDEN, use_openssl=False)
    assert report.ok, report.failures
    bagit.Bag(str(GOLDEN)).validate()
