"""The BagIt writer on its own: RFC 8493 layout, determinism, atomic commit, safe unzip."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import bagit
import pytest

from witnessbox.errors import ArchiveError, ExportError
from witnessbox.export.bag import BagWriter, opened_bag


def _write(target: Path, *, date: str = "2026-01-02", zip_output: bool = False) -> Path:
    with BagWriter(target, zip_output=zip_output) as bag:
        bag.add_bytes("data/b.txt", b"second\n")
        bag.add_stream("data/sub/a.bin", io.BytesIO(b"\x00\x01" * 1000))
        bag.add_bytes("keys/k.pem", b"key\n")
        bag.add_bytes("VERIFY.txt", b"read me\n")
        return bag.finish(bagging_date=date)


def test_bag_is_valid_for_the_bagit_package_and_sha256sum(tmp_path: Path) -> None:
    out = _write(tmp_path / "bag")
    bagit.Bag(str(out)).validate()  # the independent validator
    assert (out / "bagit.txt").read_text() == "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    for m in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        r = subprocess.run(["sha256sum", "--strict", "-c", m], cwd=out, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    info = (out / "bag-info.txt").read_text()
    assert "Payload-Oxum: 2007.2\n" in info and "Bagging-Date: 2026-01-02\n" in info
    assert not list(tmp_path.glob(".tmp-*"))


def test_two_bags_differ_only_by_the_date(tmp_path: Path) -> None:
    a, b = _write(tmp_path / "a", date="2026-01-01"), _write(tmp_path / "b", date="2026-02-02")
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    differ = [f for f in files if (a / f).read_bytes() != (b / f).read_bytes()]
    assert differ == ["bag-info.txt", "tagmanifest-sha256.txt"]
    c = _write(tmp_path / "c", date="2026-01-01")
    assert all((a / f).read_bytes() == (c / f).read_bytes() for f in files)


def test_zip_is_deterministic_and_holds_one_top_folder(tmp_path: Path) -> None:
    z1 = _write(tmp_path / "one" / "pkg.zip", zip_output=True) if (tmp_path / "one").mkdir() is None else None
    z2 = _write(tmp_path / "two" / "pkg.zip", zip_output=True) if (tmp_path / "two").mkdir() is None else None
    assert z1 is not None and z2 is not None
    assert z1.read_bytes() == z2.read_bytes()
    with zipfile.ZipFile(z1) as zf:
        names = zf.namelist()
    assert names == sorted(names) and all(n.startswith("pkg/") for n in names)
    with opened_bag(z1) as root:
        bagit.Bag(str(root)).validate()
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["pkg.zip"]


def test_existing_target_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "bag").mkdir()
    (tmp_path / "bag" / "mine.txt").write_text("keep")
    with pytest.raises(ExportError):
        _write(tmp_path / "bag")
    assert (tmp_path / "bag" / "mine.txt").read_text() == "keep"


def test_an_error_midway_leaves_nothing(tmp_path: Path) -> None:
    class Boom(io.RawIOBase):
        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            raise OSError("disk image unreadable")

    with pytest.raises((OSError, ArchiveError)), BagWriter(tmp_path / "bag") as bag:
        bag.add_bytes("data/a", b"a")
        bag.add_stream("data/b", Boom())  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rel", ["", "/abs", "data/../x", "data//x", "data/a\nb", "data/100%", "data\\x"])
def test_bad_paths_are_refused(tmp_path: Path, rel: str) -> None:
    with BagWriter(tmp_path / "bag") as bag, pytest.raises(ValueError):
        bag.add_bytes(rel, b"x")


@pytest.mark.parametrize("member", ["../evil", "/abs", "a/../../x"])
def test_unsafe_zip_members_are_refused(tmp_path: Path, member: str) -> None:
    z = tmp_path / "x.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(member, b"x")
    with pytest.raises(ExportError), opened_bag(z):
        pass
