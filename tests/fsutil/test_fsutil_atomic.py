"""The one atomic-write helper: complete or absent, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from witnessbox._fsutil import atomic_write, atomic_write_bytes
from witnessbox.errors import ArchiveError


def test_write_is_complete_and_leaves_no_temporary(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a", b"hello", file_mode=0o444)
    assert (tmp_path / "a").read_bytes() == b"hello"
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o444
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_error_inside_the_block_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_missing_folder_is_an_archive_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="cannot write"):
        atomic_write_bytes(tmp_path / "missing" / "a", b"x")


def test_no_overwrite_refuses_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        with atomic_write(tmp_path / "a", overwrite=False) as f:
            f.write(b"new")
    assert (tmp_path / "a").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]
